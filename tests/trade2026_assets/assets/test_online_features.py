"""`online_features` on real stores: SQLite (embedded), and Redis with the registry in
PostgreSQL (production's online store and registry). Apply, materialize, retrieve; the
parity gate passes after a normal run and fails after one online value is corrupted."""

from __future__ import annotations

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

from tests.conftest import REDIS_TEST_CONNECTION
from tests.trade2026_assets.dagster_runs import QUIET, resource_of, run_market_data_job
from trade2026_assets.assets.indicators import build_indicators
from trade2026_assets.assets.market_bars import build_market_bars
from trade2026_assets.assets.online_features import (
    PARITY_CHECK,
    latest_serving_rows,
    parity_result,
    read_online,
)
from trade2026_assets.definitions import MARKET_DATA_JOB, build_definitions, partition_range_tags
from trade2026_assets.feature_store.frame import FEATURE_VIEW, SERVICE_FIELDS, serving_frame
from trade2026_assets.feature_store.resource import FeatureStoreResource
from trade2026_assets.feature_store.retrieval import FeatureRetrievalError, OnlineFeatureReader
from trade2026_assets.settings import FEATURE_REPO, AssetsSettings
from trade2026_assets.warehouse import WarehouseResource

SYMBOLS = ["SYNA", "SYNB", "SYNC"]


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
        home=tmp_path, symbols=",".join(SYMBOLS), synthetic_bars=300, feast_project=project
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
    parity = outcome.metadata("online_features", PARITY_CHECK)
    assert parity["mismatches"] == 0
    assert parity["values_compared"] == 3 * 17
    latest = platform.latest(SYMBOLS)
    written = outcome.metadata_of["online_features"]
    assert written["rows_written"] == 3
    assert written["latest_timestamp_by_symbol"] == {
        row["symbol"]: row["ts"].isoformat() for row in latest.iter_rows(named=True)
    }

    # Serving's reader: the service's columns, float32 values equal to the warehouse's.
    store = platform.feature_store.store()
    reader = OnlineFeatureReader(store)
    assert reader.columns == SERVICE_FIELDS
    answer = reader.get(["SYNC", "SYNA"])
    assert list(answer.found) == ["SYNC", "SYNA"]
    assert answer.problems == {}
    expected = [
        latest.filter(pl.col("symbol") == symbol).select(SERVICE_FIELDS).row(0)
        for symbol in ("SYNC", "SYNA")
    ]
    assert np.array_equal(answer.matrix(), np.array(expected, dtype=np.float32))
    assert answer.found["SYNA"].as_of == latest.filter(pl.col("symbol") == "SYNA")["ts"][0]

    # One corrupted online value: the gate fails and shows it.
    syna = latest.filter(pl.col("symbol") == "SYNA").to_pandas()
    syna["rsi"] = syna["rsi"] + 1.0
    syna["created_at"] = datetime.now(UTC)
    store.write_to_online_store(FEATURE_VIEW, syna)
    failed = parity_result(read_online(store, SYMBOLS), latest, SYMBOLS)
    assert not failed.passed
    assert failed.metadata["mismatches"].value == 1
    evidence = failed.metadata["first_mismatches"].value
    assert "| SYNA | rsi |" in str(evidence)


def test_a_rewritten_latest_bar_is_materialized_again(platform: Platform) -> None:
    assert run_market_data_job(platform.defs, SYMBOLS).success
    store = platform.feature_store.store()
    before = OnlineFeatureReader(store).get(SYMBOLS).matrix()

    # New indicator parameters rewrite every bar, the latest included, at the same times.
    outcome = run_market_data_job(
        platform.defs, SYMBOLS, run_config={"ops": {"indicators": {"config": {"rsi_period": 5}}}}
    )
    assert outcome.success, outcome.failures
    assert outcome.check("online_features", PARITY_CHECK).passed
    after = OnlineFeatureReader(platform.feature_store.store()).get(SYMBOLS).matrix()
    rsi = SERVICE_FIELDS.index("rsi")
    assert not np.array_equal(before[:, rsi], after[:, rsi])


def test_a_reader_on_a_store_opened_before_the_apply_reads_the_applied_service(
    platform: Platform,
) -> None:
    # Serving (another process) opened its store when the registry held only part of the
    # definitions (here: the entity); Feast caches the registry it saw for its TTL.
    resource = platform.feature_store
    early = FeatureStore(config=resource.repo_config(), repo_path=resource.repo_path)
    early.apply([resource.repo_objects().symbol])
    assert early.registry.list_feature_services(early.project, allow_cache=True) == []
    assert run_market_data_job(platform.defs, SYMBOLS).success
    answer = OnlineFeatureReader(early).get(SYMBOLS)
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
    answer = OnlineFeatureReader(store).get(["SYNA", "NOPE", "SYNA"])
    assert answer.found == {}
    assert answer.problems["NOPE"] == "unknown symbol: no online features"
    assert answer.problems["SYNA"].startswith("stale features: computed at 2024-01-10T")
    with pytest.raises(FeatureRetrievalError, match="NOPE: unknown symbol") as raised:
        OnlineFeatureReader(store).require(["SYNA", "NOPE"])
    assert set(raised.value.problems) == {"SYNA", "NOPE"}

    # At the time of the data, the same features are fresh.
    then = datetime(2024, 1, 10, 12, tzinfo=UTC)
    fresh = OnlineFeatureReader(store, clock=lambda: then).require(["SYNA"])
    assert fresh.shape == (1, len(SERVICE_FIELDS))
    assert fresh.dtype == np.float32
    with pytest.raises(ValueError, match="at least one symbol"):
        OnlineFeatureReader(store).get([])
    with pytest.raises(ValueError, match="non-empty strings"):
        OnlineFeatureReader(store).get(["SYNA", ""])
    assert OnlineFeatureReader(store, max_age=timedelta(days=3650)).get(["SYNA"]).found


def test_online_features_without_indicators_fails_clearly(tmp_path: Path) -> None:
    defs = build_definitions(AssetsSettings(home=tmp_path, symbols="SYNA", synthetic_bars=200))
    job = defs.resolve_job_def(MARKET_DATA_JOB)
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
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
    settings = AssetsSettings(
        home=tmp_path / ".trade2026", symbols="SYNA,SYNB", synthetic_bars=200, feature_repo=repo
    )
    assert run_market_data_job(build_definitions(settings), ["SYNA", "SYNB"]).success
    feast = Path(sys.executable).parent / "feast"

    def run(*args: str) -> str:
        result = subprocess.run(
            args, cwd=repo, capture_output=True, text=True, timeout=180, check=False
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
        "    entity_rows=[{'symbol': 'SYNA'}],\n"
        ").to_dict()\n"
        "print(features['rsi'][0], features['macd'][0])\n",
    )
    rsi, macd = (float(value) for value in printed.split())
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
        [market_bars, build_indicators(partitions, market_bars)],
        resources={**(defs.resources or {}), "feature_store": production},
        tags=partition_range_tags("SYNA", "SYNB"),
        instance=dg.DagsterInstance.ephemeral(),
        run_config=QUIET,
    )
    assert result.success
    warehouse = resource_of(defs, "warehouse", WarehouseResource)
    stored = warehouse.query_frame("SELECT * FROM serving_features ORDER BY symbol, ts")
    features = warehouse.query_frame("SELECT * FROM features ORDER BY symbol, ts")
    expected = serving_frame(features, created_at=datetime.now(UTC))
    assert stored.height == expected.height == 2 * (200 - 33 - 2)
    assert stored.drop("created_at").equals(expected.drop("created_at"))
    assert not production.offline_dir.exists()  # no Parquet export in this profile
