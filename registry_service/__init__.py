"""Trade2026 registry service: entities, deployments, events and API keys over HTTP."""

__version__ = "0.1.0"
