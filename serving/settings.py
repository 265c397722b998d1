"""Serving's one settings object: environment variables, read when the service starts."""

from __future__ import annotations

import os
import socket

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from trade2026_assets.settings import AssetsSettings


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
    slot: str = Field(default="default_ml_strategy", description="Registry slot served.")
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
    max_batch_rows: int = Field(default=10_000, ge=1, le=1_000_000)
    workers: int = Field(default=2, ge=1, le=64)
    consumer: str = Field(
        default="", description="Name in acknowledgements; empty: serving@<host>:<pid>."
    )

    def consumer_name(self) -> str:
        return self.consumer or f"serving@{socket.gethostname()}:{os.getpid()}"

    def tracking_uri(self, assets: AssetsSettings) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        if os.environ.get("MLFLOW_TRACKING_URI"):
            return os.environ["MLFLOW_TRACKING_URI"]
        return f"sqlite:///{(assets.mlflow_dir / 'mlflow.db').resolve()}"
