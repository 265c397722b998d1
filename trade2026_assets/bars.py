"""The bars frame every source returns, and what a series too short to use is told."""

from __future__ import annotations

import polars as pl

BAR_COLUMNS = ("open", "high", "low", "close", "volume")
# The columns in this order, sorted by (symbol, seq), where `seq` is the 0-based position of
# the bar within its symbol's source (after a newest-first source is turned around).
BARS_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "seq": pl.UInt32(),
    "ts": pl.Datetime("ms", "UTC"),
    **{column: pl.Float64() for column in BAR_COLUMNS},
}


def short_series_problem(symbol: str, bars: int, warmup: int) -> str:
    """Why `symbol`'s `bars` bars give no indicator row, or "" when they give some.

    The indicators drop each symbol's first `warmup` bars (their longest lookback), so a
    symbol needs more than `warmup` bars for a single row.
    """
    if bars > warmup:
        return ""
    return (
        f"{symbol}: {bars} bar(s), but the indicators' warm-up takes the first {warmup}: "
        f"at least {warmup + 1} bars are needed for one indicator row"
    )
