"""What the online feature store holds, and how its rows are derived from the `features`
table. No Feast import here: the Dagster definitions and the warehouse load this module."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from trade2026_assets.ml.training_set import FEATURES, features_complete, model_features

ENTITY = "symbol"
FEATURE_VIEW = "technical_indicators"
# Versioned: a model trained on another feature list gets a new service, not an edit.
FEATURE_SERVICE = "default_ml_strategy_v1"
# Features older than this are stale: neither materialized nor served.
FEATURE_TTL = timedelta(days=1)
TIMESTAMP_COLUMN = "ts"
CREATED_COLUMN = "created_at"

# The indicators as traders know them, then the model's own (scale-free) features.
INDICATOR_FIELDS = (
    "close",
    "rsi",
    "macd",
    "macd_signal",
    "macd_histogram",
    "bb_upper",
    "bb_middle",
    "bb_lower",
)
VIEW_FIELDS = INDICATOR_FIELDS + tuple(name for name in FEATURES if name not in INDICATOR_FIELDS)
# The FeatureService is exactly the model's feature list, in the model's column order.
SERVICE_FIELDS = FEATURES


def serving_frame(features: pl.DataFrame, *, created_at: datetime) -> pl.DataFrame:
    """Rows of the `serving_features` table (and of the embedded profile's Parquet export)
    from rows of the `features` table: the model's features computed by the same code as
    the training set, rows whose lags are not yet defined dropped."""
    return (
        model_features(features)
        .filter(features_complete())
        .rename({"macd_hist": "macd_histogram"})
        .select(
            "symbol",
            TIMESTAMP_COLUMN,
            *VIEW_FIELDS,
            "indicator_set",
            pl.lit(created_at).dt.cast_time_unit("ms").alias(CREATED_COLUMN),
        )
    )
