"""The registry's one settings object. Built by the CLI or the app factory, never at import."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict


class RegistrySettings(BaseSettings):
    """Every registry setting, read from the environment (names in the README)."""

    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="ignore", frozen=True)

    home: Path = Field(
        default=Path(".trade2026"),
        validation_alias=AliasChoices("TRADE2026_HOME"),
        description="State directory shared by every Trade2026 component.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; unset means the embedded SQLite file under the state dir.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8350, ge=1, le=65535)
    workers: PositiveInt = 1
    reads_require_key: bool = Field(
        default=False,
        description="When true, GET routes need a key with the read scope.",
    )
    max_body_bytes: PositiveInt = 1_048_576
    access_log: bool = False
    log_level: str = "info"
    nats_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("NATS_URL"),
        description="When set, the outbox relay publishes events to this NATS JetStream.",
    )
    nats_stream: str = "TRADE2026_REGISTRY"
    nats_subject_prefix: str = "trade2026.registry"
    relay_interval_seconds: float = Field(default=0.5, gt=0)
    relay_in_process: bool = Field(
        default=True,
        description="Run the outbox relay inside `serve` (else run `relay` as its own process).",
    )

    def resolved_database_url(self) -> str:
        """The URL to connect to, normalised so `postgresql://` uses psycopg 3."""
        if self.database_url is None:
            return f"sqlite:///{(self.home / 'registry.db').resolve()}"
        url = self.database_url
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url
