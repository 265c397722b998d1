"""The registry service as a Dagster resource: where the auto-swap sensor deploys."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from registry_service.client import RegistryClient


class RegistryResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The registry's HTTP API, with a timeout on every call and a key from the environment."""

    url: str = Field(default="http://127.0.0.1:8350", description="The registry's base URL.")
    api_key: str = Field(
        default="",
        description="API key with the 'write' and 'deploy' scopes (TRADE2026_REGISTRY_API_KEY, "
        "read at run time).",
    )
    timeout_s: float = Field(default=10.0, gt=0, description="Timeout of each HTTP call.")
    environment: str = Field(default="production", description="Environment swapped in.")

    def client(self) -> RegistryClient:
        return RegistryClient(self.url, api_key=self.api_key or None, timeout=self.timeout_s)
