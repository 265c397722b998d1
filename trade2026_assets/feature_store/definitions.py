"""The feature repository's objects: the entities (symbol, indicator set), the offline
source, one feature view over every catalog feature and one feature service per strategy.
`feature_repo/features.py` (the `feast` CLI) and `FeatureStoreConfig` (Dagster, serving) both
build them here, so the two cannot drift. Imports Feast: import this lazily."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.data_source import DataSource
from feast.infra.offline_stores.contrib.clickhouse_offline_store.clickhouse_source import (
    ClickhouseSource,
)
from feast.types import Float32

from trade2026_assets.feature_catalog import unknown_features
from trade2026_assets.feature_store.frame import (
    CREATED_COLUMN,
    ENTITY,
    FEATURE_TTL,
    FEATURE_VIEW,
    INDICATOR_SET_ENTITY,
    TIMESTAMP_COLUMN,
    VIEW_FIELDS,
)

SOURCE_NAME = "serving_features"


@dataclass(frozen=True)
class RepoObjects:
    symbol: Entity
    indicator_set: Entity
    source: DataSource
    technical_indicators: FeatureView
    # One per strategy, by name: its model's features in the model's column order.
    services: Mapping[str, FeatureService]

    def all(self) -> list[Any]:
        """Everything `feast apply` registers."""
        return [
            self.symbol,
            self.indicator_set,
            self.source,
            self.technical_indicators,
            *self.services.values(),
        ]


def parquet_source(path: str) -> FileSource:
    """Embedded profile: the directory of Parquet files (one per symbol) that the
    `indicators` asset exports. A relative path is resolved against the repo directory."""
    return FileSource(
        name=SOURCE_NAME,
        path=path,
        timestamp_field=TIMESTAMP_COLUMN,
        created_timestamp_column=CREATED_COLUMN,
        description="Catalog and indicator features per symbol, indicator set and bar "
        "(Parquet export).",
    )


def clickhouse_source(table: str = "serving_features") -> ClickhouseSource:
    """Production profile: the warehouse's `serving_features` table on the ClickHouse server."""
    return ClickhouseSource(
        name=SOURCE_NAME,
        table=table,
        timestamp_field=TIMESTAMP_COLUMN,
        created_timestamp_column=CREATED_COLUMN,
        description="Catalog and indicator features per symbol, indicator set and bar "
        "(warehouse table).",
    )


def repo_objects(source: DataSource, services: Mapping[str, Sequence[str]]) -> RepoObjects:
    """The entities, the one feature view over every catalog feature and one feature
    service per strategy (`services`: service name → the model's feature list, in order;
    see `StrategyDeclaration.feature_service`)."""
    problems = [
        f"{name}: {problem}"
        for name, features in services.items()
        for problem in _service_problems(features)
    ]
    if problems:
        raise ValueError("feature services: " + "; ".join(problems))
    symbol = Entity(
        name=ENTITY,
        join_keys=[ENTITY],
        value_type=ValueType.STRING,
        description="A traded instrument, e.g. SYNA.",
    )
    indicator_set = Entity(
        name=INDICATOR_SET_ENTITY,
        join_keys=[INDICATOR_SET_ENTITY],
        value_type=ValueType.STRING,
        description="The indicator definition and parameters the features were computed "
        "with (IndicatorParams.indicator_set()).",
    )
    view = FeatureView(
        name=FEATURE_VIEW,
        entities=[symbol, indicator_set],
        ttl=FEATURE_TTL,
        # Float32: XGBoost reads its inputs as float32, so serving loses nothing training
        # had. Parity with the warehouse is checked at this precision.
        schema=[Field(name=name, dtype=Float32) for name in VIEW_FIELDS],
        source=source,
        online=True,
        description="Indicators (TA-Lib definitions) and every catalog feature at each bar; "
        "the online store holds the latest bar of each (symbol, indicator set).",
    )
    feature_services = {
        name: FeatureService(
            name=name,
            features=[view[list(features)]],
            description=f"Exactly the features the models of {name} take, in their order.",
            tags={"features": ",".join(features)},
        )
        for name, features in sorted(services.items())
    }
    return RepoObjects(
        symbol=symbol,
        indicator_set=indicator_set,
        source=source,
        technical_indicators=view,
        services=feature_services,
    )


def _service_problems(features: Sequence[str]) -> list[str]:
    if isinstance(features, str) or not features:
        return ["needs a list of feature names"]
    unknown = unknown_features(tuple(features))
    if unknown:
        return [f"not in the feature catalog: {', '.join(unknown)}"]
    if len(set(features)) != len(features):
        return ["a feature is listed twice"]
    return []
