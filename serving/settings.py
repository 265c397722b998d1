"""Serving's one settings object: environment variables, read when the service starts.
Which strategies are served, and each one's registry slot, come from the strategy
declarations (`TRADE2026_STRATEGIES_DIR`, see `AssetsSettings`)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from trade2026_assets.settings import AssetsSettings

# What a serving API key may grant: the APIs (/strategies/*, /predict, /signal, /v1/*),
# /metrics.
API_SCOPES = frozenset({"predict", "metrics"})
# The service's worker processes (its `@bentoml.service`): each follows the registry on its
# own and acknowledges every swap.
WORKERS = 2


# Variables of earlier versions that serving no longer reads, and what took their place.
RETIRED = {
    "SERVING_SLOT": "serving follows one slot per declared strategy (its name)",
}


def retired_variables(environ: Mapping[str, str]) -> list[str]:
    """A line per retired variable set in `environ` (logged at start: it is ignored)."""
    return [
        f"{name} is set but no longer read: {instead}; unset it"
        for name, instead in RETIRED.items()
        if name in environ
    ]


class ServingSettings(BaseSettings):
    """Every field is an environment variable `SERVING_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="SERVING_", extra="ignore")

    registry_url: str = Field(
        default="http://127.0.0.1:8350", description="The registry service's base URL."
    )
    registry_api_key: SecretStr | None = Field(
        default=None, description="API key with the 'deploy' scope (acknowledgements)."
    )
    registry_timeout_s: float = Field(default=5.0, gt=0, le=60)
    environment: str = Field(default="production", description="Registry environment served.")
    poll_interval_s: float = Field(
        default=1.0, gt=0, le=300, description="How often the registry is asked what is live."
    )
    nats_url: str = Field(
        default="", description="NATS of the registry's events: a swap wakes the follower."
    )
    nats_subject_prefix: str = "trade2026.registry"
    mlflow_tracking_uri: str = Field(
        default="",
        description="Empty: MLFLOW_TRACKING_URI, else the embedded store under TRADE2026_HOME.",
    )
    mlflow_timeout_s: int = Field(
        default=10,
        ge=1,
        le=600,
        description="Budget of one request to an MLflow tracking server (loading a model).",
    )
    mlflow_retries: int = Field(
        default=2, ge=0, le=10, description="Retries of an MLflow request that failed."
    )
    max_batch_rows: int = Field(
        default=10_000, ge=1, le=100_000, description="Rows per /predict; bounds its body too."
    )
    require_api_key: bool = Field(
        default=False,
        description="Every route but the probes and the API page needs a key (production).",
    )
    api_keys: SecretStr = Field(
        default=SecretStr(""),
        description="Comma-separated '<sha256 of a key>:<scope>+<scope>' (predict, metrics).",
    )
    store_timeout_s: float = Field(
        default=0.25, gt=0, le=10, description="Budget of one online-store call (/signal)."
    )
    consumer: str = Field(
        default="", description="Name in acknowledgements; empty: serving@<host>:<pid>."
    )

    @model_validator(mode="after")
    def _keys_when_required(self) -> ServingSettings:
        keys = self.key_scopes()
        if self.require_api_key and not keys:
            raise ValueError("SERVING_REQUIRE_API_KEY is set but SERVING_API_KEYS names no key")
        return self

    def key_scopes(self) -> dict[str, frozenset[str]]:
        """SHA-256 of each API key → its scopes."""
        keys: dict[str, frozenset[str]] = {}
        for entry in self.api_keys.get_secret_value().split(","):
            if not entry.strip():
                continue
            digest, _, raw_scopes = entry.strip().partition(":")
            scopes = frozenset(s.strip() for s in raw_scopes.split("+") if s.strip())
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()):
                raise ValueError("SERVING_API_KEYS: each entry starts with a key's SHA-256 (hex)")
            if not scopes or not scopes <= API_SCOPES:
                raise ValueError(
                    f"SERVING_API_KEYS: scopes {sorted(scopes)}; use {sorted(API_SCOPES)}"
                )
            keys[digest.lower()] = scopes
        return keys

    def consumer_name(self) -> str:
        return self.consumer or f"serving@{socket.gethostname()}:{os.getpid()}"

    def tracking_uri(self, assets: AssetsSettings) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        if os.environ.get("MLFLOW_TRACKING_URI"):
            return os.environ["MLFLOW_TRACKING_URI"]
        return f"sqlite:///{(assets.mlflow_dir / 'mlflow.db').resolve()}"
