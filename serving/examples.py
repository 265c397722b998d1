"""Request examples for the API page: bodies a person can send as they are. A strategy's
signal example names a symbol it trades; its predict example is one row of its features as
the pipeline computes them (from the synthetic bars of that symbol), in its order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trade2026_assets.strategy.declaration import StrategyDeclaration, strategy_symbols

# Bars beyond the indicators' warm-up and the features' lookback: enough for a complete row.
SPARE_BARS = 50
SIGNIFICANT_DIGITS = 6


def request_examples(
    declaration: StrategyDeclaration,
    universe: Sequence[str],
    sources: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, dict[str, Any]]:
    """The `predict` and `signal` bodies of `declaration`'s routes."""
    symbols = strategy_symbols(declaration, universe, sources) or list(universe)
    symbol = symbols[0]
    return {
        "predict": {"features": [feature_row(declaration, symbol)]},
        "signal": {"symbols": [symbol]},
    }


def feature_row(declaration: StrategyDeclaration, symbol: str) -> list[float]:
    """The strategy's features on the last complete bar of `symbol`'s synthetic bars."""
    # Imported here: the page's examples are built once, on the first request for them.
    import polars as pl

    from trade2026_assets.feature_catalog import LOOKBACK_ROWS
    from trade2026_assets.ml.training_set import feature_frame
    from trade2026_assets.synthetic import synthetic_bars
    from trade2026_assets.technical_indicators import compute_indicators, warmup_bars

    horizon = declaration.label.horizon
    bars = synthetic_bars(
        symbol,
        n_bars=warmup_bars(declaration.indicators) + LOOKBACK_ROWS + horizon + SPARE_BARS,
        predictability=0.1,
    )
    indicators = compute_indicators(
        bars.select("symbol", "ts", "close", "high", "low", "volume"), declaration.indicators
    ).with_columns(pl.col("symbol").cast(pl.String))
    rows = feature_frame(indicators, horizon, declaration.features)
    last = rows.select(declaration.features).row(-1)
    return [float(f"{value:.{SIGNIFICANT_DIGITS}g}") for value in last]
