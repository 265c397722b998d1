"""HTTP layer of the registry: dependencies, routes, error mapping."""
