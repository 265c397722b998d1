"""The code location loads the way `dagster dev` loads it, and materializes end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from scripts.harness.dagster_runs import QUIET, run_job, run_market_data_job
from tests.trade2026_assets.declarations import default_with, write_strategies
from trade2026_assets.definitions import (
    MARKET_DATA_JOB,
    TRAINING_JOB,
    build_definitions,
    defs,
    partition_range_tags,
)
from trade2026_assets.defs.market_data.indicators import build_indicators
from trade2026_assets.defs.market_data.market_bars import build_market_bars
from trade2026_assets.settings import AssetsSettings
from trade2026_assets.technical_indicators import IndicatorParams, warmup_bars
from trade2026_assets.warehouse import WarehouseResource

REPO = Path(__file__).resolve().parents[2]
DEFAULT = "default_ml_strategy"
# Every asset of the code location with the default strategy alone, by key.
ALL_ASSETS = {
    "market_bars",
    "indicators",
    "online_features",
    f"{DEFAULT}/training_set",
    f"{DEFAULT}/model",
    f"{DEFAULT}/backtest",
    f"{DEFAULT}/deployed_strategy",
}


def key(asset: str) -> dg.AssetKey:
    return dg.AssetKey.from_user_string(asset)


def test_workspace_definitions_load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRADE2026_HOME", str(tmp_path))
    monkeypatch.setenv("TRADE2026_SYMBOLS", "aaa, BBB,aaa")
    loaded = defs()
    assert isinstance(loaded, dg.Definitions)
    graph = loaded.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == ALL_ASSETS
    assert loaded.resolve_job_def(MARKET_DATA_JOB) is not None
    assert loaded.resolve_job_def(TRAINING_JOB) is not None
    assert loaded.resolve_job_def(f"{DEFAULT}_training") is not None
    # Lineage: the live strategy leads back to the bars.
    assert graph.get(key(f"{DEFAULT}/model")).parent_keys == {key(f"{DEFAULT}/training_set")}
    assert graph.get(key(f"{DEFAULT}/training_set")).parent_keys == {key("indicators")}
    assert graph.get(key("online_features")).parent_keys == {key("indicators")}
    assert graph.get(key("indicators")).parent_keys == {key("market_bars")}
    assert graph.get(key(f"{DEFAULT}/deployed_strategy")).parent_keys == {
        key(f"{DEFAULT}/model"),
        key("online_features"),
    }
    # The strategy's trained assets are its own group; what is live is in the deployment group.
    groups = {a.key.to_user_string(): a.group_name for a in loaded.resolve_all_asset_specs()}
    assert {groups[f"{DEFAULT}/{a}"] for a in ("training_set", "model", "backtest")} == {DEFAULT}
    assert groups[f"{DEFAULT}/deployed_strategy"] == "deployment"
    # The auto-swap sensor runs by default; the refresh schedules wait to be turned on.
    sensor = loaded.resolve_sensor_def(f"{DEFAULT}_auto_swap")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 30
    for name in ("daily_market_data", "weekly_training"):
        schedule = loaded.resolve_schedule_def(name)
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assets = {a.key.to_user_string(): a for a in loaded.resolve_all_asset_specs()}
    assert assets["market_bars"].partitions_def.get_partition_keys() == ["AAA", "BBB"]  # type: ignore[union-attr]
    checks = {key.name for key in graph.asset_check_keys}
    assert {
        "no_missing_values",
        "timestamps_strictly_increasing",
        "matches_talib_reference",
        "online_offline_parity",
        "point_in_time",
    } <= checks
    # Every training set and the online features prove they are point in time, blocking.
    point_in_time = {
        key.asset_key.to_user_string()
        for key in graph.asset_check_keys
        if key.name == "point_in_time"
    }
    assert point_in_time == {"online_features", f"{DEFAULT}/training_set"}


def test_loading_the_definitions_does_not_import_feast(tmp_path: Path) -> None:
    # Feast takes seconds to import: the UI, the CLI and the registry must not pay for it.
    code = (
        "import sys; from trade2026_assets.definitions import defs; defs(); "
        "assert 'feast' not in sys.modules, sorted(m for m in sys.modules if 'feast' in m)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "TRADE2026_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_dagster_cli_loads_the_workspace(tmp_path: Path) -> None:
    # What `dagster dev` does first: import the location from workspace.yaml in a subprocess.
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env={
            "PATH": "/usr/bin:/bin",
            "TRADE2026_HOME": str(tmp_path),
            "DAGSTER_HOME": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_bad_settings_are_refused_with_a_message() -> None:
    with pytest.raises(ValueError, match="names no symbol"):
        AssetsSettings(symbols=" , ")
    with pytest.raises(ValueError, match="A-Z, 0-9"):
        AssetsSettings(symbols="GOOD,BAD SYMBOL")


def test_whole_group_materializes_for_a_few_symbols(tmp_path: Path) -> None:
    settings = AssetsSettings(home=tmp_path, symbols="AAA,BBB,CCC", synthetic_bars=600)
    outcome = run_market_data_job(build_definitions(settings), ["AAA", "CCC"])

    assert outcome.success, outcome.failures
    assert outcome.materialized == {
        "market_bars": {"AAA", "BBB", "CCC"},
        "indicators": {"AAA", "BBB", "CCC"},
        "online_features": {"AAA", "BBB", "CCC"},
    }
    assert all(evaluation.passed for evaluation in outcome.checks.values())
    assert len(outcome.checks) == 12

    warehouse = WarehouseResource(chdb_path=str(tmp_path / "warehouse"))
    features = pl.from_arrow(
        warehouse.query_arrow(
            "SELECT symbol, count() AS n, any(indicator_set) AS s FROM features"
            " GROUP BY symbol ORDER BY symbol"
        )
    )
    assert isinstance(features, pl.DataFrame)
    params = IndicatorParams()
    assert features["n"].to_list() == [600 - warmup_bars(params)] * 3
    assert features["s"].to_list() == [params.indicator_set()] * 3
    recorded = warehouse.query_arrow("SELECT indicator_set, definition FROM indicator_sets FINAL")
    assert recorded["indicator_set"].to_pylist() == [params.indicator_set()]
    assert '"timeperiod": 14' in recorded["definition"][0].as_py()
    reference = outcome.metadata("indicators", "matches_talib_reference")
    assert reference["max_abs_diff"] <= 1e-9
    assert reference["rows_compared"] == 3 * (600 - warmup_bars(params))


def test_indicator_parameters_come_from_the_declared_sets(tmp_path: Path) -> None:
    # No run config chooses parameters: `build_indicators` is given each symbol's sets.
    settings = AssetsSettings(home=tmp_path, symbols="AAA", synthetic_bars=300)
    resources = build_definitions(settings).resources
    partitions = dg.StaticPartitionsDefinition(["AAA"])
    market_bars = build_market_bars(partitions)
    custom = IndicatorParams(rsi_period=7, bb_dev_up=3.0)
    result = dg.materialize(
        [market_bars, build_indicators(partitions, market_bars, {"AAA": [custom]})],
        resources=resources,
        partition_key="AAA",
        run_config=QUIET,
    )
    assert result.success
    stored = WarehouseResource(chdb_path=str(tmp_path / "warehouse")).query_arrow(
        "SELECT DISTINCT indicator_set FROM features"
    )
    assert stored["indicator_set"].to_pylist() == [custom.indicator_set()]
    assert custom.indicator_set().startswith("rsi7-macd12.26.9-bb20.3.2-")


def test_symbols_without_an_indicator_set_are_refused() -> None:
    partitions = dg.StaticPartitionsDefinition(["AAA", "BBB"])
    market_bars = build_market_bars(partitions)
    with pytest.raises(ValueError, match=r"no indicator set for \['BBB'\]"):
        build_indicators(partitions, market_bars, {"AAA": [IndicatorParams()]})
    with pytest.raises(ValueError, match=r"outside the universe: \['ZZZ'\]"):
        build_indicators(
            partitions,
            market_bars,
            {s: [IndicatorParams()] for s in ("AAA", "BBB", "ZZZ")},
        )


def test_the_retrain_job_runs_indicators_to_backtest_in_one_run_on_its_defaults(
    tmp_path: Path,
) -> None:
    strategies = write_strategies(tmp_path / "strategies", {DEFAULT: default_with()})
    settings = AssetsSettings(
        home=tmp_path,
        symbols="AAA,BBB",
        synthetic_bars=3000,
        synthetic_predictability=0.2,
        strategies_dir=strategies,
    )
    loaded = build_definitions(settings)
    job = loaded.resolve_job_def(f"{DEFAULT}_retrain")
    # What the launchpad opens on for any partition: the config's defaults, nothing to type.
    assert job.partitioned_config is not None
    prefilled = job.partitioned_config.get_run_config_for_partition_key("AAA")
    assert prefilled["ops"] == {"online_features": {"config": {"parity_sample": 100}}}
    assert run_market_data_job(loaded, ["AAA", "BBB"]).success
    instance_dir = tmp_path / "dagster"
    instance_dir.mkdir()
    with dg.instance_for_test(temp_dir=str(instance_dir)) as instance:
        outcome = run_job(
            loaded,
            f"{DEFAULT}_retrain",
            instance=instance,
            tags=partition_range_tags("AAA", "BBB"),
        )
        assert outcome.success, outcome.failures
        # One run, every step of it (an unpartitioned asset's partition reads "None").
        assert outcome.materialized == {
            "indicators": {"AAA", "BBB"},
            "online_features": {"AAA", "BBB"},
            f"{DEFAULT}/training_set": {"None"},
            f"{DEFAULT}/model": {"None"},
            f"{DEFAULT}/backtest": {"None"},
        }
        assert len(instance.get_run_records()) == 1
