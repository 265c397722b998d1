"""Trade2026 registry service: entities (with optional config schemas), deployments,
hot swaps, events and API keys over HTTP."""

__version__ = "0.1.0"
