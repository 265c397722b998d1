"""The feature repository's contract: each strategy's service is its model's feature list,
the view is typed and keyed by symbol and indicator set, both profiles' configurations load,
and bad configuration is refused clearly."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

# Imported at collection, in one thread: typeguard compiles this module's postgres parent at
# import, and CPython 3.11.7's AST builder can fail spuriously ("AST constructor recursion
# depth mismatch", python/cpython#106905) when another thread compiles at the same time.
import feast.infra.offline_stores.contrib.clickhouse_offline_store.clickhouse  # noqa: F401
import pytest
from feast.types import Float32

from trade2026_assets.feature_catalog import DEFAULT_FEATURES, FEATURE_NAMES
from trade2026_assets.feature_store.definitions import (
    clickhouse_source,
    parquet_source,
    repo_objects,
)
from trade2026_assets.feature_store.frame import FEATURE_VIEW, feature_services
from trade2026_assets.feature_store.resource import FeatureStoreError, FeatureStoreResource
from trade2026_assets.settings import FEATURE_REPO
from trade2026_assets.strategy.declaration import StrategyDeclaration

# Two strategies: the seed's ten features, and another list in another order.
SEED = StrategyDeclaration(name="seed")
OTHER = StrategyDeclaration(name="other", features=("volume_z", "momentum_5", "rsi", "range_atr"))
SERVICES = feature_services([SEED, OTHER])

PRODUCTION_ENV = {
    "FEAST_REGISTRY_URL": "postgresql+psycopg://feast:secret@postgres:5432/feast",
    "CLICKHOUSE_HOST": "clickhouse",
    "CLICKHOUSE_PORT": "8123",
    "CLICKHOUSE_DATABASE": "default",
    "CLICKHOUSE_USER": "trade2026",
    "CLICKHOUSE_PASSWORD": "secret",
    "FEAST_REDIS_CONNECTION_STRING": "redis:6379",
}


def test_each_strategys_service_is_exactly_its_models_feature_list_in_order() -> None:
    objects = repo_objects(parquet_source("offline"), SERVICES)
    assert sorted(objects.services) == sorted([SEED.feature_service, OTHER.feature_service])
    for declaration in (SEED, OTHER):
        service = objects.services[declaration.feature_service]
        assert service.name == declaration.feature_service
        (projection,) = service.feature_view_projections
        assert projection.name == FEATURE_VIEW
        assert [feature.name for feature in projection.features] == list(declaration.features)
    assert SEED.features == DEFAULT_FEATURES


def test_the_view_holds_every_catalog_feature_keyed_by_symbol_and_indicator_set() -> None:
    view = repo_objects(parquet_source("offline"), SERVICES).technical_indicators
    keys = {"symbol", "indicator_set"}
    fields = {field.name: field.dtype for field in view.schema if field.name not in keys}
    required = {"rsi", "macd", "macd_signal", "macd_histogram", "bb_upper", "bb_middle", "atr"}
    assert required | {"bb_lower", "close"} | set(FEATURE_NAMES) <= set(fields)
    assert set(fields.values()) == {Float32}
    assert sorted(view.entities) == ["indicator_set", "symbol"]
    assert view.ttl == timedelta(days=1)


@pytest.mark.parametrize(
    ("features", "problem"),
    [
        (("rsi", "nope"), "not in the feature catalog: nope"),
        ((), "needs a list of feature names"),
        ("rsi", "needs a list of feature names"),
        (("rsi", "rsi"), "a feature is listed twice"),
    ],
)
def test_a_bad_service_is_refused_by_name(features: tuple[str, ...], problem: str) -> None:
    with pytest.raises(ValueError, match=f"broken: {problem}"):
        repo_objects(parquet_source("offline"), {"broken": features})


def test_the_embedded_config_puts_state_under_the_state_dir(tmp_path: Path) -> None:
    resource = FeatureStoreResource(repo_path=str(FEATURE_REPO), state_dir=str(tmp_path))
    config = resource.repo_config()
    assert config.project == "trade2026"
    assert config.offline_store.type == "file"
    assert config.online_store.type == "sqlite"
    assert Path(config.online_store.path) == tmp_path / "online.db"
    assert Path(config.registry.path) == tmp_path / "registry.db"
    assert isinstance(resource.repo_objects(SERVICES).source, type(parquet_source("x")))


def test_the_production_config_reads_its_servers_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in PRODUCTION_ENV.items():
        monkeypatch.setenv(name, value)
    resource = FeatureStoreResource(
        repo_path=str(FEATURE_REPO), state_dir=str(tmp_path), offline="clickhouse"
    )
    config = resource.repo_config()
    assert config.offline_store.type == "clickhouse"
    assert config.offline_store.host == "clickhouse"
    assert config.offline_store.port == 8123
    assert config.offline_store.password == "secret"
    assert config.online_store.type == "redis"
    assert config.online_store.connection_string == "redis:6379"
    assert config.online_store.skip_dedup  # a rewritten latest bar must be written again
    assert config.registry.registry_type == "sql"
    assert config.registry.path == PRODUCTION_ENV["FEAST_REGISTRY_URL"]
    source = resource.repo_objects(SERVICES).source
    assert source == clickhouse_source()


def test_an_unset_production_variable_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in PRODUCTION_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CLICKHOUSE_PASSWORD")
    resource = FeatureStoreResource(
        repo_path=str(FEATURE_REPO), state_dir=str(tmp_path), offline="clickhouse"
    )
    with pytest.raises(FeatureStoreError, match=r"\['CLICKHOUSE_PASSWORD'\]"):
        resource.repo_config()


def test_a_bad_project_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Feast project names"):
        FeatureStoreResource(repo_path=str(FEATURE_REPO), state_dir=str(tmp_path), project="a-b")


def test_a_missing_repo_is_a_clear_error(tmp_path: Path) -> None:
    resource = FeatureStoreResource(repo_path=str(tmp_path / "nowhere"), state_dir=str(tmp_path))
    with pytest.raises(FeatureStoreError, match="cannot read the feature store config"):
        resource.repo_config()
