"""Feature definitions for the `feast` CLI run from this directory (`feast apply`, …).

The objects come from `trade2026_assets.feature_store.definitions`, which the Dagster
`online_features` asset uses too, so the CLI and the pipeline register the same view.
TRADE2026_FEATURE_PROFILE picks the offline source: `embedded` (default; the Parquet files
under the default state directory) or `production` (the ClickHouse table).
"""

import os

from trade2026_assets.feature_store.definitions import (
    clickhouse_source,
    parquet_source,
    repo_objects,
)

_profile = os.environ.get("TRADE2026_FEATURE_PROFILE", "embedded")
if _profile not in ("embedded", "production"):
    raise ValueError(f"TRADE2026_FEATURE_PROFILE must be embedded or production, not {_profile!r}")

_objects = repo_objects(
    clickhouse_source()
    if _profile == "production"
    else parquet_source("../.trade2026/feature_store/offline/technical_indicators")
)
symbol = _objects.symbol
serving_features_source = _objects.source
technical_indicators = _objects.technical_indicators
default_ml_strategy_v1 = _objects.service
