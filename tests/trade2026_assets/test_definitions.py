"""The code location loads the way `dagster dev` loads it, and materializes end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from tests.trade2026_assets.dagster_runs import ALL_ASSETS, run_market_data_job
from trade2026_assets.definitions import MARKET_DATA_JOB, TRAINING_JOB, build_definitions, defs
from trade2026_assets.indicators import IndicatorParams, warmup_bars
from trade2026_assets.settings import AssetsSettings
from trade2026_assets.warehouse import WarehouseResource

REPO = Path(__file__).resolve().parents[2]


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
    # Lineage: the backtest leads back to the bars.
    assert graph.get(dg.AssetKey("xgb_model")).parent_keys == {dg.AssetKey("training_set")}
    assert graph.get(dg.AssetKey("training_set")).parent_keys == {dg.AssetKey("indicators")}
    assert graph.get(dg.AssetKey("online_features")).parent_keys == {dg.AssetKey("indicators")}
    assert graph.get(dg.AssetKey("deployed_strategy")).parent_keys == {
        dg.AssetKey("xgb_model"),
        dg.AssetKey("online_features"),
    }
    # The auto-swap sensor runs by default; the refresh schedules wait to be turned on.
    sensor = loaded.resolve_sensor_def("auto_swap_sensor")
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
    } <= checks


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
    assert len(outcome.checks) == 11

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


def test_indicator_parameters_come_from_run_config(tmp_path: Path) -> None:
    settings = AssetsSettings(home=tmp_path, symbols="AAA", synthetic_bars=300)
    outcome = run_market_data_job(
        build_definitions(settings),
        ["AAA"],
        run_config={"ops": {"indicators": {"config": {"rsi_period": 7, "bb_dev_up": 3.0}}}},
    )
    assert outcome.success, outcome.failures
    stored = WarehouseResource(chdb_path=str(tmp_path / "warehouse")).query_arrow(
        "SELECT DISTINCT indicator_set FROM features"
    )
    assert stored["indicator_set"].to_pylist()[0].startswith("rsi7-macd12.26.9-bb20.3.2-")

    bad = run_market_data_job(
        build_definitions(settings),
        ["AAA"],
        run_config={"ops": {"indicators": {"config": {"macd_fast": 40}}}},
    )
    assert not bad.success
    assert any("macd_fast" in message for message in bad.failures)
