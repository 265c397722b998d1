"""What the online feature store holds, and how its rows are derived from the `features`
table. No Feast import here: the Dagster definitions, the warehouse and serving load this
module."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import polars as pl

from trade2026_assets.feature_catalog import FEATURE_NAMES, catalog_features, complete
from trade2026_assets.strategy.declaration import StrategyDeclaration

# The view's entities, both join keys: one online row per (symbol, indicator set), so
# strategies with different indicator parameters read their own values for a symbol.
ENTITY = "symbol"
INDICATOR_SET_ENTITY = "indicator_set"
JOIN_KEYS = (ENTITY, INDICATOR_SET_ENTITY)
FEATURE_VIEW = "technical_indicators"
# Features older than this are stale: neither materialized nor served.
FEATURE_TTL = timedelta(days=1)
TIMESTAMP_COLUMN = "ts"
CREATED_COLUMN = "created_at"

# The indicators as traders know them, then every catalog feature (scale-free).
INDICATOR_FIELDS = (
    "close",
    "rsi",
    "macd",
    "macd_signal",
    "macd_histogram",
    "bb_upper",
    "bb_middle",
    "bb_lower",
    "atr",
)
VIEW_FIELDS = INDICATOR_FIELDS + tuple(
    name for name in FEATURE_NAMES if name not in INDICATOR_FIELDS
)


def feature_services(
    declarations: Iterable[StrategyDeclaration],
) -> dict[str, tuple[str, ...]]:
    """The feature service of each strategy (its name → the model's features, in order)."""
    return {declaration.feature_service: declaration.features for declaration in declarations}


def serving_frame(features: pl.DataFrame, *, created_at: datetime) -> pl.DataFrame:
    """Rows of the `serving_features` table (and of the embedded profile's Parquet export)
    from rows of the `features` table: every catalog feature, computed by the same code as
    the training sets, per (symbol, indicator set, bar); rows where some catalog feature's
    lookback is not yet covered are dropped."""
    parts = [
        catalog_features(rows)
        for rows in features.partition_by("indicator_set", maintain_order=True)
    ]
    if not parts:
        return pl.DataFrame(schema=serving_schema())
    return (
        pl.concat(parts, how="vertical_relaxed")
        .filter(complete(FEATURE_NAMES))
        .rename({"macd_hist": "macd_histogram"})
        .select(
            "symbol",
            TIMESTAMP_COLUMN,
            *VIEW_FIELDS,
            "indicator_set",
            pl.lit(created_at).dt.cast_time_unit("ms").alias(CREATED_COLUMN),
        )
    )


def serving_schema() -> dict[str, pl.DataType]:
    """The columns of `serving_frame`'s rows and their types."""
    schema: dict[str, pl.DataType] = {
        "symbol": pl.String(),
        TIMESTAMP_COLUMN: pl.Datetime("ms", "UTC"),
    }
    schema.update({name: pl.Float64() for name in VIEW_FIELDS})
    schema["indicator_set"] = pl.String()
    schema[CREATED_COLUMN] = pl.Datetime("ms", "UTC")
    return schema
