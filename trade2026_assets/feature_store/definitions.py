"""The feature repository's objects: entity, offline source, feature view and feature
service. `feature_repo/features.py` (the `feast` CLI) and `FeatureStoreResource` (Dagster)
both build them here, so the two cannot drift. Imports Feast: import this lazily."""

from __future__ import annotations

from dataclasses import dataclass

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.data_source import DataSource
from feast.infra.offline_stores.contrib.clickhouse_offline_store.clickhouse_source import (
    ClickhouseSource,
)
from feast.types import Float32

from trade2026_assets.feature_store.frame import (
    CREATED_COLUMN,
    ENTITY,
    FEATURE_SERVICE,
    FEATURE_TTL,
    FEATURE_VIEW,
    SERVICE_FIELDS,
    TIMESTAMP_COLUMN,
    VIEW_FIELDS,
)

SOURCE_NAME = "serving_features"


@dataclass(frozen=True)
class RepoObjects:
    symbol: Entity
    source: DataSource
    technical_indicators: FeatureView
    service: FeatureService


def parquet_source(path: str) -> FileSource:
    """Embedded profile: the directory of Parquet files (one per symbol) that the
    `indicators` asset exports. A relative path is resolved against the repo directory."""
    return FileSource(
        name=SOURCE_NAME,
        path=path,
        timestamp_field=TIMESTAMP_COLUMN,
        created_timestamp_column=CREATED_COLUMN,
        description="Model and indicator features per symbol and bar (Parquet export).",
    )


def clickhouse_source(table: str = "serving_features") -> ClickhouseSource:
    """Production profile: the warehouse's `serving_features` table on the ClickHouse server."""
    return ClickhouseSource(
        name=SOURCE_NAME,
        table=table,
        timestamp_field=TIMESTAMP_COLUMN,
        created_timestamp_column=CREATED_COLUMN,
        description="Model and indicator features per symbol and bar (warehouse table).",
    )


def repo_objects(source: DataSource) -> RepoObjects:
    symbol = Entity(
        name=ENTITY,
        join_keys=[ENTITY],
        value_type=ValueType.STRING,
        description="A traded instrument, e.g. SYNA.",
    )
    view = FeatureView(
        name=FEATURE_VIEW,
        entities=[symbol],
        ttl=FEATURE_TTL,
        # Float32: XGBoost reads its inputs as float32, so serving loses nothing training
        # had. Parity with the warehouse is checked at this precision.
        schema=[Field(name=name, dtype=Float32) for name in VIEW_FIELDS],
        source=source,
        online=True,
        description="Indicators (TA-Lib definitions) and the model's scale-free features at "
        "each bar; the online store holds each symbol's latest bar.",
    )
    service = FeatureService(
        name=FEATURE_SERVICE,
        features=[view[list(SERVICE_FIELDS)]],
        description="Exactly the features default_ml_strategy models take, in their order.",
        tags={"model": "default_ml_strategy", "version": "1"},
    )
    return RepoObjects(symbol=symbol, source=source, technical_indicators=view, service=service)
