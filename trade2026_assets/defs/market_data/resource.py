"""The `market_data` resource: bars from the synthetic generator or from the user's files.

Both return the same frame (`bars.BARS_SCHEMA`, sorted by symbol then seq) and say which
trading calendar each symbol follows, for the gap check. The parsing, the sources file and
the calendars live in framework-free modules (`bar_files`, `sources`, `calendars`); this
module only turns the resource's configuration into them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field

from trade2026_assets.bar_files import check_file_format
from trade2026_assets.bars import BARS_SCHEMA
from trade2026_assets.calendars import ALWAYS_OPEN, BarCalendar
from trade2026_assets.sources import Sources, SourcesError
from trade2026_assets.synthetic import synthetic_bars

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class MarketDataResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where bars come from: the synthetic generator, a sources file, or one directory of
    CSV / Parquet files described by the fields below."""

    source: Literal["synthetic", "files"] = Field(
        default="synthetic",
        description="'synthetic': generated bars (deterministic per seed and symbol); "
        "'files': the sources file, or else the CSV / Parquet files under `path`.",
    )
    seed: int = Field(default=7, description="Synthetic: random seed (>= 0).")
    n_bars: int = Field(default=5000, description="Synthetic: bars per symbol.")
    start: str = Field(
        default="",
        description="Synthetic: ISO-8601 time of the first bar, with an offset; empty ends "
        "the bars at the last whole bar interval before now (fresh features for serving).",
    )
    bar_minutes: int = Field(default=60, description="Synthetic: minutes between bars.")
    start_price: float = Field(default=100.0, description="Synthetic: first open.")
    volatility: float = Field(
        default=0.004, description="Synthetic: per-bar sigma of log returns (normal regime)."
    )
    predictability: float = Field(
        default=0.0,
        description="Synthetic: lag-1 autocorrelation phi of returns, -1 < phi < 1; 0 is a "
        "random walk, small positive values give the ML steps a real signal to learn.",
    )
    sources_file: str = Field(
        default="",
        description="Files: YAML file declaring the sources (each with its own layout, zone "
        "and calendar); when set, the single-directory fields below are not used.",
    )
    path: str = Field(default="", description="Files: directory of the bars files.")
    file_format: str = Field(default="auto", description="Files: 'auto', 'csv' or 'parquet'.")
    symbol_column: str = Field(default="", description="Files: symbol column (long files).")
    timestamp_column: str = Field(default="", description="Files: timestamp column.")
    open_column: str = Field(default="", description="Files: open price column.")
    high_column: str = Field(default="", description="Files: high price column.")
    low_column: str = Field(default="", description="Files: low price column.")
    close_column: str = Field(default="", description="Files: close price column.")
    volume_column: str = Field(default="", description="Files: volume column.")
    timestamp_format: str = Field(
        default="",
        description="Files: strftime pattern of the timestamps; empty infers ISO-8601.",
    )
    timezone: str = Field(
        default="UTC", description="Files: IANA time zone of timestamps without an offset."
    )
    calendar: str = Field(
        default=ALWAYS_OPEN,
        description="Files: trading calendar of the gap check (XNYS, 24/5, 24/7, ...).",
    )
    row_order: str = Field(
        default="oldest_first", description="Files: 'oldest_first' or 'newest_first'."
    )

    def bars(self, symbols: Sequence[str]) -> pl.DataFrame:
        """Bars of `symbols` in BARS_SCHEMA, sorted by (symbol, seq)."""
        if self.source == "files":
            return self.file_sources().load(symbols)
        start = self._synthetic_start()
        frames = [
            synthetic_bars(
                symbol,
                seed=self.seed,
                n_bars=self.n_bars,
                start=start,
                bar_minutes=self.bar_minutes,
                start_price=self.start_price,
                volatility=self.volatility,
                predictability=self.predictability,
            )
            for symbol in sorted(set(symbols))
        ]
        if not frames:
            return pl.DataFrame(schema=BARS_SCHEMA)
        return pl.concat(frames, how="vertical")

    def calendars(self, symbols: Sequence[str]) -> dict[str, BarCalendar]:
        """Each symbol's trading calendar; the synthetic market trades around the clock."""
        if self.source == "files":
            return self.file_sources().calendars(symbols)
        return {symbol: BarCalendar(ALWAYS_OPEN) for symbol in symbols}

    def file_sources(self) -> Sources:
        """The sources file's sources, or the single source of the directory fields."""
        if self.sources_file:
            return Sources.from_file(self.sources_file)
        if self.row_order not in ("oldest_first", "newest_first"):
            raise SourcesError(
                file="TRADE2026_BARS_ROW_ORDER",
                problem=f"must be 'oldest_first' or 'newest_first', got {self.row_order!r}",
            )
        return Sources.single(
            self.path,
            file_format=check_file_format(self.file_format),
            columns={
                "symbol": self.symbol_column,
                "timestamp": self.timestamp_column,
                "open": self.open_column,
                "high": self.high_column,
                "low": self.low_column,
                "close": self.close_column,
                "volume": self.volume_column,
            },
            timestamp_format=self.timestamp_format or None,
            timezone=self.timezone,
            calendar=self.calendar,
            row_order="newest_first" if self.row_order == "newest_first" else "oldest_first",
        )

    def _synthetic_start(self) -> datetime:
        if self.start:
            try:
                return datetime.fromisoformat(self.start)
            except ValueError as exc:
                raise ValueError(f"start: not an ISO-8601 time: {self.start!r}") from exc
        if self.bar_minutes < 1 or self.n_bars < 1:
            raise ValueError("synthetic bars need bar_minutes >= 1 and n_bars >= 1")
        step = timedelta(minutes=self.bar_minutes)
        # Bars are stamped with their open time: the last complete one opened a step before
        # the current interval began.
        current = _EPOCH + ((datetime.now(UTC) - _EPOCH) // step) * step
        return current - self.n_bars * step
