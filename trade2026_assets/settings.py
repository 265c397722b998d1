"""The code location's one settings object: environment variables, read when Dagster loads
the definitions (never at import)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from trade2026_assets.sources import Sources, symbol_problem
from trade2026_assets.strategy.declaration import Strategies, load_strategies

# The Feast repository next to the package (the repository root's `feature_repo/`).
FEATURE_REPO = Path(__file__).resolve().parents[1] / "feature_repo"
# The strategy declarations shipped with the repository (the demo's two).
STRATEGIES_DIR = Path(__file__).resolve().parents[1] / "strategies"
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
    synthetic_bars: int = Field(default=15_000, ge=1)
    synthetic_bar_minutes: int = Field(default=60, ge=1)
    # ISO-8601 time of the first bar; empty ends the bars at the last whole bar before now,
    # so that the online features are fresh.
    synthetic_start: str = ""
    # Lag-1 autocorrelation of bar returns: a small, honest edge for the ML steps to find.
    # 0 makes the bars a pure random walk.
    synthetic_predictability: float = Field(default=0.1, gt=-1, lt=1)
    # Bars files: a YAML file of sources (each with its own layout, zone and calendar), or
    # the one directory the TRADE2026_BARS_* variables describe.
    sources_file: Path | None = None
    bars_path: str = ""
    bars_format: Literal["auto", "csv", "parquet"] = "auto"
    bars_timezone: str = "UTC"
    bars_timestamp_format: str = ""
    bars_calendar: str = "24/7"
    bars_row_order: Literal["oldest_first", "newest_first"] = "oldest_first"
    # Column names; empty matches the usual names case-insensitively (Date, Open, ...).
    bars_symbol_column: str = ""
    bars_timestamp_column: str = ""
    bars_open_column: str = ""
    bars_high_column: str = ""
    bars_low_column: str = ""
    bars_close_column: str = ""
    bars_volume_column: str = ""

    strategies_dir: Path = Field(
        default=STRATEGIES_DIR,
        description="Directory of strategy declarations (*.yaml), one strategy per file.",
    )

    # Feature store: the Feast repository and the project that namespaces its registry and
    # online keys.
    feature_repo: Path = FEATURE_REPO
    feast_project: str = "trade2026"

    # Empty: the MLflow UI of the local stack, on MLFLOW_PORT as `make up` starts it.
    mlflow_ui_url: str = Field(
        default="", validate_default=True, description="MLflow UI base URL for metadata links."
    )

    # The registry the auto-swap sensor deploys through (its API key: the environment
    # variable TRADE2026_REGISTRY_API_KEY, read by Dagster at tick time).
    registry_url: str = Field(
        default="http://127.0.0.1:8350", description="The registry service's base URL."
    )
    registry_timeout_s: float = Field(default=10.0, gt=0, le=60)
    # The auto-swap sensors (one per strategy): on or off, and how often they tick. What
    # a swap waits for is each strategy's own (its declaration's `swap`).
    auto_swap_sensor: Literal["running", "stopped"] = "running"
    auto_swap_interval_s: int = Field(default=30, ge=1, le=3600)
    # Daily market data and weekly retraining: off unless asked for.
    schedules: Literal["running", "stopped"] = "stopped"

    # The symbols of the sources file, when it decides the universe.
    _source_symbols: list[str] = PrivateAttr(default_factory=list)
    # The sources file as read when the settings were validated (read once).
    _sources: Sources | None = PrivateAttr(default=None)

    @field_validator("mlflow_ui_url")
    @classmethod
    def _mlflow_ui_on_its_port(cls, value: str) -> str:
        if value:
            return value
        port = os.environ.get("MLFLOW_PORT", "5000").strip()
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f"unset, so the links follow MLFLOW_PORT, which is not a port number: {port!r}"
            )
        return f"http://127.0.0.1:{int(port)}"

    @field_validator("symbols")
    @classmethod
    def _symbols_listed(cls, value: str) -> str:
        symbols = symbol_list(value)
        if not symbols:
            raise ValueError("names no symbol")
        for symbol in symbols:
            problem = symbol_problem(symbol)
            if problem:
                raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _sources_read(self) -> AssetsSettings:
        if self.sources_file is None:
            return self
        if "market_source" in self.model_fields_set and self.market_source != "files":
            raise ValueError(
                "TRADE2026_SOURCES_FILE is set, but TRADE2026_MARKET_SOURCE is "
                f"{self.market_source!r}: unset one of them"
            )
        self.market_source = "files"
        sources = Sources.from_file(self.sources_file)
        self._sources = sources
        if "symbols" in self.model_fields_set:
            for symbol in symbol_list(self.symbols):
                sources.source_of(symbol)
        else:
            self._source_symbols = sources.symbols()
        return self

    @property
    def universe(self) -> list[str]:
        """TRADE2026_SYMBOLS; with a sources file and no TRADE2026_SYMBOLS, its symbols."""
        return self._source_symbols or symbol_list(self.symbols)

    def source_symbols(self) -> dict[str, list[str]]:
        """Each named market-data source and the universe's symbols it serves."""
        if self.sources_file is None:
            return {self.market_source: self.universe}
        sources = self._sources or Sources.from_file(self.sources_file)
        named: dict[str, list[str]] = {}
        for symbol in self.universe:
            named.setdefault(sources.source_of(symbol).name, []).append(symbol)
        return named

    def strategies(self) -> Strategies:
        """The declared strategies, checked against this universe; StrategiesError names
        every problem of every file."""
        return load_strategies(
            self.strategies_dir, symbols=self.universe, sources=self.source_symbols()
        )

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def feature_store_dir(self) -> Path:
        return self.home / "feature_store"


# Variables of earlier versions whose values now live in each strategy's declaration.
MOVED_TO_DECLARATIONS = {
    "TRADE2026_STRATEGY_SLOT": "the strategy's name (its file's `name`)",
    "TRADE2026_AUTO_SWAP_ACK_DEADLINE_S": "`swap.ack_deadline_s`",
    "TRADE2026_AUTO_SWAP_MIN_ACKS": "`swap.min_acks`",
}


class SettingsError(ValueError):
    """The environment's settings are invalid: one line per problem, naming the variable."""


def load_settings(**overrides: Any) -> AssetsSettings:
    """The settings from the environment (and `overrides`); SettingsError, worded for the
    user who set the variables, instead of pydantic's report."""
    moved = [
        f"{name}: no longer read; set {where} in the strategy declaration instead"
        for name, where in MOVED_TO_DECLARATIONS.items()
        if name in os.environ
    ]
    if "TRADE2026_AUTO_SWAP_ACK_WAIT_S" in os.environ:
        moved.append(
            "TRADE2026_AUTO_SWAP_ACK_WAIT_S: no longer read; a sensor tick no longer waits for "
            "acknowledgements (later ticks follow a swap up): unset it"
        )
    if moved:
        raise SettingsError("; ".join(moved))
    try:
        return AssetsSettings(**overrides)
    except ValidationError as err:
        problems = []
        for error in err.errors():
            variable = "".join(f"TRADE2026_{part}".upper() for part in error["loc"][:1])
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{variable}: {message}" if variable else message)
        raise SettingsError("; ".join(problems)) from None


def symbol_list(value: str) -> list[str]:
    """Symbols from a comma-separated list: trimmed, upper-cased, de-duplicated, in order."""
    seen: dict[str, None] = {}
    for raw in value.split(","):
        symbol = raw.strip().upper()
        if symbol:
            seen.setdefault(symbol, None)
    return list(seen)
