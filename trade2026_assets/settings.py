"""The code location's one settings object: environment variables, read when Dagster loads
the definitions (never at import)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The Feast repository next to the package (the repository root's `feature_repo/`).
FEATURE_REPO = Path(__file__).resolve().parents[1] / "feature_repo"
_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,31}")
DEMO_SYMBOLS = ("SYNA", "SYNB", "SYNC", "SYND", "SYNE")
# Variables that point a component at a server of the production profile; the embedded
# demo and `make up` drop them.
SERVER_VARIABLES = (
    "CLICKHOUSE_URL",
    "MLFLOW_TRACKING_URI",
    "REGISTRY_DATABASE_URL",
    "FEAST_REDIS_CONNECTION_STRING",
    "FEAST_REGISTRY_URL",
)


class AssetsSettings(BaseSettings):
    """Configuration of `trade2026_assets`; every field is an environment variable."""

    model_config = SettingsConfigDict(env_prefix="TRADE2026_", extra="ignore")

    home: Path = Field(default=Path(".trade2026"), description="State directory.")
    symbols: str = Field(
        default=",".join(DEMO_SYMBOLS),
        description="The universe: comma-separated symbols, one `market_bars` partition each.",
    )
    market_source: Literal["synthetic", "files"] = "synthetic"
    # Synthetic bars.
    synthetic_seed: int = 7
    synthetic_bars: int = Field(default=5000, ge=1)
    synthetic_bar_minutes: int = Field(default=60, ge=1)
    # ISO-8601 time of the first bar; empty ends the bars at the last whole bar before now,
    # so that the online features are fresh.
    synthetic_start: str = ""
    # Lag-1 autocorrelation of bar returns: a small, honest edge for the ML steps to find.
    # 0 makes the bars a pure random walk.
    synthetic_predictability: float = Field(default=0.1, gt=-1, lt=1)
    # Bars files.
    bars_path: str = ""
    bars_format: Literal["auto", "csv", "parquet"] = "auto"
    bars_timezone: str = "UTC"
    bars_timestamp_format: str = ""
    bars_symbol_column: str = "symbol"
    bars_timestamp_column: str = "timestamp"
    bars_open_column: str = "open"
    bars_high_column: str = "high"
    bars_low_column: str = "low"
    bars_close_column: str = "close"
    bars_volume_column: str = "volume"
    # The gap check flags consecutive bars further apart than this many bar intervals.
    max_gap_bars: float = Field(default=1.0, gt=0)

    # Feature store: the Feast repository and the project that namespaces its registry and
    # online keys.
    feature_repo: Path = FEATURE_REPO
    feast_project: str = "trade2026"

    mlflow_ui_url: str = Field(
        default="http://127.0.0.1:5000", description="MLflow UI base URL for metadata links."
    )

    # The registry the auto-swap sensor deploys through (its API key: the environment
    # variable TRADE2026_REGISTRY_API_KEY, read by Dagster at tick time).
    registry_url: str = Field(
        default="http://127.0.0.1:8350", description="The registry service's base URL."
    )
    registry_timeout_s: float = Field(default=10.0, gt=0, le=60)
    strategy_slot: str = Field(
        default="default_ml_strategy", description="Registry slot the models are swapped into."
    )
    # Auto-swap: how often the sensor ticks, how long serving has to acknowledge a swap
    # before it is rolled back, how long one tick waits for that, and how many serving
    # workers must acknowledge.
    auto_swap_sensor: Literal["running", "stopped"] = "running"
    auto_swap_interval_s: int = Field(default=30, ge=1, le=3600)
    auto_swap_ack_deadline_s: float = Field(default=60.0, gt=0, le=3600)
    auto_swap_ack_wait_s: float = Field(default=10.0, ge=0, le=45)
    auto_swap_min_acks: int = Field(default=1, ge=1, le=64)
    # Daily market data and weekly retraining: off unless asked for.
    schedules: Literal["running", "stopped"] = "stopped"

    @field_validator("symbols")
    @classmethod
    def _symbols_listed(cls, value: str) -> str:
        symbols = symbol_list(value)
        if not symbols:
            raise ValueError("TRADE2026_SYMBOLS names no symbol")
        bad = [symbol for symbol in symbols if not _SYMBOL.fullmatch(symbol)]
        if bad:
            raise ValueError(f"symbols may use A-Z, 0-9, '.', '-' and '_' only: {bad}")
        return value

    @property
    def universe(self) -> list[str]:
        return symbol_list(self.symbols)

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def feature_store_dir(self) -> Path:
        return self.home / "feature_store"


def symbol_list(value: str) -> list[str]:
    """Symbols from a comma-separated list: trimmed, upper-cased, de-duplicated, in order."""
    seen: dict[str, None] = {}
    for raw in value.split(","):
        symbol = raw.strip().upper()
        if symbol:
            seen.setdefault(symbol, None)
    return list(seen)
