"""Feature definitions for the `feast` CLI run from this directory (`feast apply`, …).

The objects come from `trade2026_assets.feature_store.definitions`, which the Dagster
`online_features` asset uses too, so the CLI and the pipeline register the same view and
the same feature services: one per strategy declared in the repository's `strategies/`
directory (TRADE2026_STRATEGIES_DIR overrides it), checked against the universe of the
code location's settings. TRADE2026_FEATURE_PROFILE picks the offline source: `embedded`
(default; the Parquet files under the default state directory) or `production` (the
ClickHouse table).
"""

import os
from pathlib import Path

from trade2026_assets.feature_store.definitions import (
    clickhouse_source,
    parquet_source,
    repo_objects,
)
from trade2026_assets.feature_store.frame import feature_services
from trade2026_assets.settings import load_settings
from trade2026_assets.strategy.declaration import load_strategies

_profile = os.environ.get("TRADE2026_FEATURE_PROFILE", "embedded")
if _profile not in ("embedded", "production"):
    raise ValueError(f"TRADE2026_FEATURE_PROFILE must be embedded or production, not {_profile!r}")

_strategies_dir = Path(
    os.environ.get("TRADE2026_STRATEGIES_DIR") or Path(__file__).resolve().parents[1] / "strategies"
)
_strategies = load_strategies(_strategies_dir, symbols=load_settings().universe)

_objects = repo_objects(
    clickhouse_source()
    if _profile == "production"
    else parquet_source("../.trade2026/feature_store/offline/technical_indicators"),
    feature_services(_strategies),
)
symbol = _objects.symbol
indicator_set = _objects.indicator_set
serving_features_source = _objects.source
technical_indicators = _objects.technical_indicators
# Feast collects the module's objects by value: each strategy's service is one of them.
globals().update({name: service for name, service in _objects.services.items()})
