"""The feature catalog: named, point-in-time model features computed from the rows of the
`features` table (indicators next to the bar they were computed on).

Every feature at bar t reads bars up to t only. All are scale-free, so one model serves
every symbol. Training (the training sets), the warehouse (`serving_features`), the
feature store (its view) and serving all compute or read features through this module;
a strategy declaration picks its model's features from `CATALOG` by name.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

# Columns of the `features` table the catalog reads.
SOURCE_COLUMNS = (
    "close",
    "high",
    "low",
    "volume",
    "ret_1",
    "volatility",
    "rsi",
    "macd",
    "macd_signal",
    "macd_hist",
    "bb_upper",
    "bb_middle",
    "bb_lower",
    "atr",
)
MOMENTUM_SHORT_BARS = 5
MOMENTUM_LONG_BARS = 20
VOLUME_WINDOW_BARS = 20


@dataclass(frozen=True)
class CatalogFeature:
    name: str
    description: str
    # Feature rows this feature reads: its own bar's and the ones before it.
    lookback_rows: int


CATALOG: dict[str, CatalogFeature] = {
    feature.name: feature
    for feature in (
        CatalogFeature("ret_1", "close / previous close - 1", 1),
        CatalogFeature("ret_1_lag1", "ret_1 one bar earlier", 2),
        CatalogFeature("ret_1_lag2", "ret_1 two bars earlier", 3),
        CatalogFeature("volatility", "population std of log returns (indicator set)", 1),
        CatalogFeature("rsi", "Wilder RSI (indicator set)", 1),
        CatalogFeature("macd_norm", "MACD line / close", 1),
        CatalogFeature("macd_signal_norm", "MACD signal line / close", 1),
        CatalogFeature("macd_hist_norm", "MACD histogram / close", 1),
        CatalogFeature("bb_pctb", "Bollinger %B: (close - lower) / (upper - lower)", 1),
        CatalogFeature("bb_width", "Bollinger width: (upper - lower) / middle", 1),
        CatalogFeature(
            f"momentum_{MOMENTUM_SHORT_BARS}",
            f"close / close {MOMENTUM_SHORT_BARS} bars earlier - 1",
            MOMENTUM_SHORT_BARS + 1,
        ),
        CatalogFeature(
            f"momentum_{MOMENTUM_LONG_BARS}",
            f"close / close {MOMENTUM_LONG_BARS} bars earlier - 1",
            MOMENTUM_LONG_BARS + 1,
        ),
        CatalogFeature("range_atr", "bar range (high - low) / ATR (indicator set)", 1),
        CatalogFeature(
            "volume_z",
            f"z-score of volume over the last {VOLUME_WINDOW_BARS} bars (0 when volume is flat)",
            VOLUME_WINDOW_BARS,
        ),
    )
}
FEATURE_NAMES = tuple(CATALOG)
# The default strategy's ten features, in its models' column order.
DEFAULT_FEATURES = FEATURE_NAMES[:10]
# Feature rows that define every catalog feature of a bar.
LOOKBACK_ROWS = max(feature.lookback_rows for feature in CATALOG.values())


def unknown_features(names: list[str] | tuple[str, ...]) -> list[str]:
    return [name for name in names if name not in CATALOG]


def catalog_features(features: pl.DataFrame) -> pl.DataFrame:
    """Every catalog feature per (symbol, ts) from the `features` table's rows, next to the
    columns they came from, plus `bar` (the bar's position in its symbol's own sequence:
    embargo and leakage are counted in a symbol's bars, whatever the calendar). Rows whose
    lookback is not yet covered carry nulls."""
    by_symbol = pl.col("symbol")
    close = pl.col("close")
    band = pl.col("bb_upper") - pl.col("bb_lower")
    volume = pl.col("volume").cast(pl.Float64)
    volume_mean = volume.rolling_mean(VOLUME_WINDOW_BARS).over(by_symbol)
    volume_std = volume.rolling_std(VOLUME_WINDOW_BARS, ddof=0).over(by_symbol)
    return features.sort("symbol", "ts").with_columns(
        pl.int_range(pl.len()).over(by_symbol).alias("bar"),
        pl.col("ret_1").shift(1).over(by_symbol).alias("ret_1_lag1"),
        pl.col("ret_1").shift(2).over(by_symbol).alias("ret_1_lag2"),
        (pl.col("macd") / close).alias("macd_norm"),
        (pl.col("macd_signal") / close).alias("macd_signal_norm"),
        (pl.col("macd_hist") / close).alias("macd_hist_norm"),
        # A flat band (zero width) puts the close in the middle.
        pl.when(band > 0).then((close - pl.col("bb_lower")) / band).otherwise(0.5).alias("bb_pctb"),
        (band / pl.col("bb_middle")).alias("bb_width"),
        (close / close.shift(MOMENTUM_SHORT_BARS).over(by_symbol) - 1).alias(
            f"momentum_{MOMENTUM_SHORT_BARS}"
        ),
        (close / close.shift(MOMENTUM_LONG_BARS).over(by_symbol) - 1).alias(
            f"momentum_{MOMENTUM_LONG_BARS}"
        ),
        # A bar-less market (ATR 0) has no range to scale.
        pl.when(pl.col("atr") > 0)
        .then((pl.col("high") - pl.col("low")) / pl.col("atr"))
        .otherwise(0.0)
        .alias("range_atr"),
        pl.when(volume_std.is_null())
        .then(None)
        .when(volume_std > 0)
        .then((volume - volume_mean) / volume_std)
        .otherwise(0.0)
        .alias("volume_z"),
    )


def complete(names: tuple[str, ...] | list[str] = FEATURE_NAMES) -> pl.Expr:
    """True where every named feature is defined."""
    return pl.all_horizontal(pl.col(name).is_not_null() for name in names)
