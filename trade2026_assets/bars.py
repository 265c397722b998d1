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


def short_series_problem(symbol: str, bars: int, warmup: int, rows_needed: int = 1) -> str:
    """Why `symbol`'s `bars` bars give fewer than `rows_needed` indicator rows, or "" when
    they give enough.

    The indicators drop each symbol's first `warmup` bars (their longest lookback), so a
    symbol needs `warmup + rows_needed` bars.
    """
    if bars >= warmup + rows_needed:
        return ""
    wanted = "one indicator row" if rows_needed == 1 else f"{rows_needed} indicator rows"
    return (
        f"{symbol}: {bars} bar(s), but the indicators' warm-up takes the first {warmup}: "
        f"at least {warmup + rows_needed} bars are needed for {wanted}"
    )
