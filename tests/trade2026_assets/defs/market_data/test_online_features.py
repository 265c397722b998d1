"""`online_features` on real stores: SQLite (embedded), and Redis with the registry in
PostgreSQL (production's online store and registry). Apply, materialize, retrieve; the
parity gate passes after a normal run and fails after one online value is corrupted."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest
import redis
from feast import FeatureStore

from scripts.harness.dagster_runs import QUIET, resource_of, run_job, run_market_data_job
from scripts.harness.services import REDIS_TEST_CONNECTION
from trade2026_assets.definitions import MARKET_DATA_JOB, build_definitions, partition_range_tags
from trade2026_assets.defs.market_data.indicators import build_indicators
from trade2026_assets.defs.market_data.market_bars import build_market_bars
from trade2026_assets.defs.market_data.online_features import (
    PARITY_CHECK,
    build_online_features,
    latest_serving_rows,
    parity_result,
    read_online,
)
from trade2026_assets.feature_catalog import DEFAULT_FEATURES
from trade2026_assets.feature_store.frame import (
    FEATURE_VIEW,
    VIEW_FIELDS,
    feature_services,
    serving_frame,
)
from trade2026_assets.feature_store.resource import FeatureStoreResource
from trade2026_assets.feature_store.retrieval import FeatureRetrievalError, OnlineFeatureReader
from trade2026_assets.settings import FEATURE_REPO, AssetsSettings
from trade2026_assets.strategy.declaration import DEFAULT_STRATEGY, StrategyDeclaration
from trade2026_assets.technical_indicators import IndicatorParams
from trade2026_assets.warehouse import WarehouseResource

SYMBOLS = ["SYNA", "SYNB", "SYNC"]
# What the definitions declare today: the default strategy's set and feature service.
DEFAULT = StrategyDeclaration(name=DEFAULT_STRATEGY)
SET = DEFAULT.indicator_set
FEATURES = DEFAULT_FEATURES


def keys(symbols: list[str], indicator_set: str = SET) -> list[tuple[str, str]]:
    return [(symbol, indicator_set) for symbol in symbols]


@dataclass
class Platform:
    settings: AssetsSettings
    defs: dg.Definitions

    @cached_property
    def feature_store(self) -> FeatureStoreResource:
        return resource_of(self.defs, "feature_store", FeatureStoreResource)

    def latest(self, symbols: list[str]) -> pl.DataFrame:
        warehouse = resource_of(self.defs, "warehouse", WarehouseResource)
        return latest_serving_rows(warehouse, symbols)


def redis_keys(project: str) -> list[bytes]:
    host, port = REDIS_TEST_CONNECTION.split(",")[0].split(":")
    client = redis.Redis(host=host, port=int(port), socket_timeout=5)
    return list(client.scan_iter(b"*" + project.encode()))


def fresh_start(*, bars: int) -> str:
    """The first of `bars` hourly bars ending at the last whole hour, pinned: two runs of
    one test see the same bars even when an hour ends between them."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return (hour - timedelta(hours=bars)).isoformat()


@pytest.fixture(params=["sqlite", "redis"])
def platform(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Platform]:
    """Definitions on a fresh state dir; with `redis`, the online store is the real Redis
    under a project of the test's own and the registry a PostgreSQL database of its own."""
    project = f"t26_{tmp_path.name.replace('-', '_')[-40:]}"
    if request.param == "redis":
        postgres_url: str = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("FEAST_REDIS_CONNECTION_STRING", REDIS_TEST_CONNECTION)
        monkeypatch.setenv(
            "FEAST_REGISTRY_URL", postgres_url.replace("postgresql://", "postgresql+psycopg://")
        )
    settings = AssetsSettings(
        home=tmp_path,
        symbols=",".join(SYMBOLS),
        synthetic_bars=300,
        synthetic_start=fresh_start(bars=300),
        feast_project=project,
    )
    platform = Platform(settings, build_definitions(settings))
    assert platform.feature_store.online_kind == request.param
    yield platform
    platform.feature_store.teardown()
    if request.param == "redis":
        assert redis_keys(project) == []


def test_online_features_match_the_warehouse_and_a_corruption_fails_parity(
    platform: Platform,
) -> None:
    outcome = run_market_data_job(platform.defs, SYMBOLS)
    assert outcome.success, outcome.failures
    assert outcome.check("online_features", PARITY_CHECK).passed
    assert outcome.check("online_features", "point_in_time").passed
    point_in_time = outcome.metadata("online_features", "point_in_time")
    assert point_in_time["rows_checked"] == 3
    assert point_in_time["worst_relative_difference"] <= 1e-12
    parity = outcome.metadata("online_features", PARITY_CHECK)
    assert parity["mismatches"] == 0
    assert parity["values_compared"] == 3 * len(VIEW_FIELDS)
    assert parity["indicator_sets"] == [SET]
    latest = platform.latest(SYMBOLS)
    # Each symbol's materialization carries its own row, read back from the store.
    for row in latest.iter_rows(named=True):
        written = outcome.partition_metadata[("online_features", row["symbol"])]
        assert written["rows_written"] == 1
        assert written["indicator_sets"] == [SET]
        assert written["latest_timestamp_by_row"] == {
            f"{row['symbol']}/{SET}": row["ts"].isoformat()
        }

    # Serving's reader: the service's columns, float32 values equal to the warehouse's.
    store = platform.feature_store.store()
    reader = OnlineFeatureReader(store)
    assert reader.service_features(DEFAULT.feature_service) == FEATURES
    answer = reader.get(["SYNC", "SYNA"], indicator_set=SET, features=FEATURES)
    assert answer.columns == FEATURES
    assert list(answer.found) == ["SYNC", "SYNA"]
    assert answer.problems == {}
    expected = [
        latest.filter(pl.col("symbol") == symbol).select(FEATURES).row(0)
        for symbol in ("SYNC", "SYNA")
    ]
    assert np.array_equal(answer.matrix(), np.array(expected, dtype=np.float32))
    assert answer.found["SYNA"].as_of == latest.filter(pl.col("symbol") == "SYNA")["ts"][0]

    # One corrupted online value: the gate fails and shows it.
    syna = latest.filter(pl.col("symbol") == "SYNA").to_pandas()
    syna["rsi"] = syna["rsi"] + 1.0
    syna["created_at"] = datetime.now(UTC)
    store.write_to_online_store(FEATURE_VIEW, syna)
    failed = parity_result(read_online(store, keys(SYMBOLS)), latest, keys(SYMBOLS))
    assert not failed.passed
    assert failed.metadata["mismatches"].value == 1
    assert failed.metadata["failing_rows"].value == [f"SYNA/{SET}"]
    evidence = failed.metadata["first_mismatches"].value
    assert f"| SYNA | {SET} | rsi |" in str(evidence)


def test_stored_offline_rows_one_bar_in_the_future_are_never_put_online(
    platform: Platform,
) -> None:
    assert run_market_data_job(platform.defs, SYMBOLS).success
    before = read_online(platform.feature_store.store(), keys(SYMBOLS))
    # The stored offline rows end one bar early and their rsi is the next bar's: the row
    # that would go online carries a value from a bar after its own.
    for symbol in SYMBOLS:
        path = platform.feature_store.offline_dir / f"{symbol}.parquet"
        rows = pl.read_parquet(path).sort("indicator_set", "ts")
        rows = rows.with_columns(pl.col("rsi").shift(-1).over("indicator_set")).filter(
            pl.col("rsi").is_not_null()
        )
        rows.write_parquet(path)
    online_only = dg.Definitions.merge(
        platform.defs,
        dg.Definitions(
            jobs=[dg.define_asset_job("online_only", selection=[dg.AssetKey("online_features")])]
        ),
    )
    outcome = run_job(
        online_only, "online_only", tags=partition_range_tags(SYMBOLS[0], SYMBOLS[-1])
    )
    assert not outcome.check("online_features", "point_in_time").passed
    evidence = outcome.metadata("online_features", "point_in_time")
    assert evidence["rows_checked"] == 3
    assert evidence["failing_values"] == 3
    assert "| rsi |" in evidence["first_failing_rows"]
    assert "online_features" not in outcome.materialized
    assert read_online(platform.feature_store.store(), keys(SYMBOLS)) == before


def test_a_rewritten_latest_bar_is_materialized_again(platform: Platform) -> None:
    assert run_market_data_job(platform.defs, SYMBOLS).success
    store = platform.feature_store.store()
    before = OnlineFeatureReader(store).get(SYMBOLS, indicator_set=SET, features=FEATURES)

    # Other bars (another seed) at the same times rewrite every row of the same indicator
    # set, the latest included: the same online keys get new values.
    other_bars = platform.settings.model_copy(update={"synthetic_seed": 99})
    outcome = run_market_data_job(build_definitions(other_bars), SYMBOLS)
    assert outcome.success, outcome.failures
    assert outcome.check("online_features", PARITY_CHECK).passed
    after = OnlineFeatureReader(platform.feature_store.store()).get(
        SYMBOLS, indicator_set=SET, features=FEATURES
    )
    assert [row.as_of for row in after.found.values()] == [
        row.as_of for row in before.found.values()
    ]
    rsi = FEATURES.index("rsi")
    assert not np.array_equal(before.matrix()[:, rsi], after.matrix()[:, rsi])


def test_a_reader_on_a_store_opened_before_the_apply_reads_the_applied_service(
    platform: Platform,
) -> None:
    # Serving (another process) opened its store when the registry held only part of the
    # definitions (here: the entity); Feast caches the registry it saw for its TTL.
    resource = platform.feature_store
    early = FeatureStore(config=resource.repo_config(), repo_path=resource.repo_path)
    early.apply([resource.repo_objects(feature_services([DEFAULT])).symbol])
    assert early.registry.list_feature_services(early.project, allow_cache=True) == []
    assert run_market_data_job(platform.defs, SYMBOLS).success
    reader = OnlineFeatureReader(early)
    features = reader.service_features(DEFAULT.feature_service)
    answer = reader.get(SYMBOLS, indicator_set=SET, features=features)
    assert list(answer.found) == SYMBOLS, answer.problems


def test_unknown_and_stale_symbols_are_named(tmp_path: Path) -> None:
    settings = AssetsSettings(
        home=tmp_path,
        symbols="SYNA",
        synthetic_bars=200,
        synthetic_start="2024-01-02T00:00:00+00:00",
    )
    defs = build_definitions(settings)
    assert run_market_data_job(defs, ["SYNA"]).success
    store = resource_of(defs, "feature_store", FeatureStoreResource).store()
    reader = OnlineFeatureReader(store)
    answer = reader.get(["SYNA", "NOPE", "SYNA"], indicator_set=SET, features=FEATURES)
    assert answer.found == {}
    assert answer.problems["NOPE"] == f"unknown symbol: no online features for indicator set {SET}"
    assert answer.problems["SYNA"].startswith("stale features: computed at 2024-01-10T")
    with pytest.raises(FeatureRetrievalError, match="NOPE: unknown symbol") as raised:
        reader.require(["SYNA", "NOPE"], indicator_set=SET, features=FEATURES)
    assert set(raised.value.problems) == {"SYNA", "NOPE"}
    # A set nobody computed is unknown for every symbol.
    other = reader.get(["SYNA"], indicator_set="rsi5-other", features=FEATURES)
    assert other.problems == {
        "SYNA": "unknown symbol: no online features for indicator set rsi5-other"
    }

    # At the time of the data, the same features are fresh.
    then = datetime(2024, 1, 10, 12, tzinfo=UTC)
    fresh = OnlineFeatureReader(store, clock=lambda: then).require(
        ["SYNA"], indicator_set=SET, features=("volume_z", "rsi")
    )
    assert fresh.shape == (1, 2)
    assert fresh.dtype == np.float32
    with pytest.raises(ValueError, match="at least one symbol"):
        reader.get([], indicator_set=SET, features=FEATURES)
    with pytest.raises(ValueError, match="non-empty strings"):
        reader.get(["SYNA", ""], indicator_set=SET, features=FEATURES)
    with pytest.raises(ValueError, match=r"not in the view 'technical_indicators': \['nope'\]"):
        reader.get(["SYNA"], indicator_set=SET, features=("rsi", "nope"))
    with pytest.raises(ValueError, match="a list of feature names"):
        reader.get(["SYNA"], indicator_set=SET, features="rsi")
    with pytest.raises(ValueError, match="indicator_set must be a non-empty string"):
        reader.get(["SYNA"], indicator_set="", features=FEATURES)
    assert (
        OnlineFeatureReader(store, max_age=timedelta(days=3650))
        .get(["SYNA"], indicator_set=SET, features=FEATURES)
        .found
    )


def test_online_features_without_indicators_fails_clearly(tmp_path: Path) -> None:
    defs = build_definitions(AssetsSettings(home=tmp_path, symbols="SYNA", synthetic_bars=200))
    job = defs.resolve_job_def(MARKET_DATA_JOB)
    result = job.execute_in_process(
        tags=partition_range_tags("SYNA", "SYNA"),
        asset_selection=[dg.AssetKey("online_features")],
        run_config=QUIET,
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [event for event in result.all_events if event.is_step_failure]
    user = failure.step_failure_data.user_failure_data
    assert user is not None
    assert user.description is not None
    assert "no serving features in the warehouse for SYNA" in user.description
    assert "SYNA: 0 bars, 0 indicator rows" in user.description


def test_the_seed_commands_work_from_the_feature_repo(tmp_path: Path) -> None:
    # The committed yaml points at `../.trade2026`: a copy of the repo next to its own
    # state dir is the repository layout, without touching the checkout's state.
    repo = tmp_path / "feature_repo"
    shutil.copytree(FEATURE_REPO, repo, ignore=shutil.ignore_patterns("__pycache__"))
    # The CLI registers one feature service per declared strategy.
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    (strategies / "default.yaml").write_text(f"name: {DEFAULT_STRATEGY}\n")
    (strategies / "other.yaml").write_text("name: other\nfeatures: [volume_z, rsi]\n")
    settings = AssetsSettings(
        home=tmp_path / ".trade2026", symbols="SYNA,SYNB", synthetic_bars=200, feature_repo=repo
    )
    assert run_market_data_job(build_definitions(settings), ["SYNA", "SYNB"]).success
    feast = Path(sys.executable).parent / "feast"

    environment = {
        **os.environ,
        "TRADE2026_STRATEGIES_DIR": str(strategies),
        "TRADE2026_SYMBOLS": "SYNA,SYNB",
    }

    def run(*args: str) -> str:
        result = subprocess.run(
            args,
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            env=environment,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    run(str(feast), "apply")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    run(str(feast), "materialize-incremental", now)
    printed = run(
        sys.executable,
        "-c",
        "from feast import FeatureStore\n"
        "store = FeatureStore(repo_path='.')\n"
        "features = store.get_online_features(\n"
        "    features=['technical_indicators:rsi', 'technical_indicators:macd'],\n"
        f"    entity_rows=[{{'symbol': 'SYNA', 'indicator_set': '{SET}'}}],\n"
        ").to_dict()\n"
        "print(features['rsi'][0], features['macd'][0])\n"
        "print(sorted(service.name for service in store.list_feature_services()))\n",
    )
    values, services = printed.splitlines()
    other = StrategyDeclaration(name="other", features=("volume_z", "rsi"))
    assert services == str(sorted([DEFAULT.feature_service, other.feature_service]))
    rsi, macd = (float(value) for value in values.split())
    warehouse = resource_of(build_definitions(settings), "warehouse", WarehouseResource)
    latest = latest_serving_rows(warehouse, ["SYNA"])
    assert rsi == pytest.approx(latest["rsi"][0], rel=1e-6)
    assert macd == pytest.approx(latest["macd"][0], rel=1e-6)


def test_in_the_production_profile_indicators_fill_the_serving_table(tmp_path: Path) -> None:
    # Production's Feast reads `serving_features` on the ClickHouse server; the same write
    # runs here on chDB (no ClickHouse server on this machine, same SQL).
    settings = AssetsSettings(home=tmp_path, symbols="SYNA,SYNB", synthetic_bars=200)
    defs = build_definitions(settings)
    production = FeatureStoreResource(
        repo_path=str(FEATURE_REPO), state_dir=str(tmp_path / "fs"), offline="clickhouse"
    )
    partitions = dg.StaticPartitionsDefinition(settings.universe)
    market_bars = build_market_bars(partitions)
    result = dg.materialize(
        [
            market_bars,
            build_indicators(
                partitions, market_bars, {s: [IndicatorParams()] for s in settings.universe}
            ),
        ],
        resources={**(defs.resources or {}), "feature_store": production},
        tags=partition_range_tags("SYNA", "SYNB"),
        run_config=QUIET,
    )
    assert result.success
    warehouse = resource_of(defs, "warehouse", WarehouseResource)
    stored = warehouse.query_frame("SELECT * FROM serving_features ORDER BY symbol, ts")
    features = warehouse.query_frame("SELECT * FROM features ORDER BY symbol, ts")
    expected = serving_frame(features, created_at=datetime.now(UTC))
    assert stored.height == expected.height == 2 * (200 - 33 - 20)
    assert stored.drop("created_at").equals(expected.drop("created_at"))
    assert not production.offline_dir.exists()  # no Parquet export in this profile


def test_two_indicator_sets_of_one_symbol_are_online_side_by_side(tmp_path: Path) -> None:
    # Two strategies trade SYNA with different indicator parameters, one of them SYNB too:
    # each (symbol, indicator set) has its own latest row online.
    settings = AssetsSettings(home=tmp_path, symbols="SYNA,SYNB", synthetic_bars=200)
    defs = build_definitions(settings)
    seed = StrategyDeclaration(name="seed")
    fast = StrategyDeclaration(
        name="fast",
        universe={"symbols": ["SYNA"]},
        indicators=IndicatorParams(rsi_period=5, atr_period=7),
        features=("rsi", "range_atr", "volume_z", "momentum_5"),
    )
    sets = {"SYNA": [seed.indicators, fast.indicators], "SYNB": [seed.indicators]}
    partitions = dg.StaticPartitionsDefinition(settings.universe)
    market_bars = build_market_bars(partitions)
    indicators = build_indicators(partitions, market_bars, sets)
    online = build_online_features(partitions, indicators, sets, feature_services([seed, fast]))
    result = dg.materialize(
        [market_bars, indicators, online],
        resources=defs.resources,
        tags=partition_range_tags("SYNA", "SYNB"),
        run_config=QUIET,
    )
    assert result.success
    materialized = {
        (materialization.asset_key.path[-1], materialization.partition): materialization
        for materialization in (
            event.step_materialization_data.materialization
            for event in result.get_asset_materialization_events()
        )
    }
    syna = materialized[("indicators", "SYNA")].metadata["indicator_sets"].value
    assert syna == sorted([seed.indicator_set, fast.indicator_set])
    assert materialized[("indicators", "SYNB")].metadata["indicator_sets"].value == [
        seed.indicator_set
    ]
    assert materialized[("online_features", "SYNA")].metadata["indicator_sets"].value == syna
    checks = {check.check_name: check for check in result.get_asset_check_evaluations()}
    assert all(check.passed for check in checks.values()), checks
    parity = checks[PARITY_CHECK]
    # The TA-Lib reference check compared every set of the symbols it picked.
    assert checks["matches_talib_reference"].metadata["rows_compared"].value == 3 * (200 - 33)
    assert parity.metadata["rows_compared"].value == [f"SYNA/{name}" for name in syna] + [
        f"SYNB/{seed.indicator_set}"
    ]

    warehouse = resource_of(defs, "warehouse", WarehouseResource)
    stored = warehouse.query_frame(
        "SELECT symbol, indicator_set, count() AS n FROM features"
        " GROUP BY symbol, indicator_set ORDER BY symbol, indicator_set"
    )
    assert stored.height == 3
    latest = latest_serving_rows(warehouse, ["SYNA", "SYNB"])
    reader = OnlineFeatureReader(resource_of(defs, "feature_store", FeatureStoreResource).store())
    for declaration in (seed, fast):
        features = reader.service_features(declaration.feature_service)
        assert features == declaration.features
        answer = reader.get(["SYNA"], indicator_set=declaration.indicator_set, features=features)
        row = latest.filter(
            (pl.col("symbol") == "SYNA") & (pl.col("indicator_set") == declaration.indicator_set)
        ).select(features)
        assert np.array_equal(answer.matrix(), row.to_numpy().astype(np.float32))
    rsi_seed = reader.require(["SYNA"], indicator_set=seed.indicator_set, features=("rsi",))
    rsi_fast = reader.require(["SYNA"], indicator_set=fast.indicator_set, features=("rsi",))
    assert rsi_seed[0, 0] != rsi_fast[0, 0]
    # SYNB trades only the seed's set.
    assert reader.get(["SYNB"], indicator_set=fast.indicator_set, features=("rsi",)).problems
    resource_of(defs, "feature_store", FeatureStoreResource).teardown()
