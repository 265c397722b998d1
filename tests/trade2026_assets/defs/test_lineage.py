"""Downstream knows what it was derived from: a step refuses when its input changed since
(features computed from bars that are no longer the published ones; a training set built
from features that were replaced), naming both versions. And the data a universe of users'
files can hold: too few rows to judge a model, symbols of different calendars or
frequencies."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from scripts.harness.dagster_runs import RunOutcome, run_job, run_market_data_job
from tests.trade2026_assets.declarations import DEFAULT, default_with, write_strategies
from trade2026_assets.definitions import TRAINING_JOB, build_definitions
from trade2026_assets.settings import AssetsSettings
from trade2026_assets.synthetic import synthetic_bars

TRAINING_SET = f"{DEFAULT}/training_set"
MODEL = f"{DEFAULT}/model"
BACKTEST = f"{DEFAULT}/backtest"


def write_bars(
    directory: Path,
    symbol: str,
    *,
    n_bars: int,
    bar_minutes: int = 60,
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC),
    seed: int = 7,
) -> None:
    bars = synthetic_bars(
        symbol,
        seed=seed,
        n_bars=n_bars,
        bar_minutes=bar_minutes,
        start=start,
        predictability=0.2,
    )
    bars.select(
        pl.col("ts").alias("timestamp"), "open", "high", "low", "close", "volume"
    ).write_csv(directory / f"{symbol}.csv")


def files_defs(tmp_path: Path, symbols: str, **strategy: Any) -> dg.Definitions:
    """The default strategy over the symbols' files, with `strategy`'s declared changes."""
    files = tmp_path / "files"
    files.mkdir(exist_ok=True)
    strategies = write_strategies(tmp_path / "strategies", {DEFAULT: default_with(**strategy)})
    return build_definitions(
        AssetsSettings(
            home=tmp_path / "home",
            symbols=symbols,
            market_source="files",
            bars_path=str(files),
            strategies_dir=strategies,
        )
    )


def run_assets(
    defs: dg.Definitions, instance: dg.DagsterInstance, selection: list[str], symbols: list[str]
) -> RunOutcome:
    """A run of the assets named (`"market_bars"`, `"<strategy>/model"`) alone."""
    name = "only_" + "_".join(key.replace("/", "_") for key in selection)
    keys = [dg.AssetKey(key.split("/")) for key in selection]
    merged = dg.Definitions.merge(
        defs,
        dg.Definitions(jobs=[dg.define_asset_job(name, selection=keys)]),
    )
    tags = (
        {
            "dagster/asset_partition_range_start": symbols[0],
            "dagster/asset_partition_range_end": symbols[-1],
        }
        if symbols
        else {}
    )
    return run_job(merged, name, instance=instance, tags=tags)


def test_training_refuses_features_of_bars_that_are_no_longer_published(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    defs = files_defs(tmp_path, "AAA,BBB")
    files = tmp_path / "files"
    for seed, symbol in enumerate(("AAA", "BBB")):
        write_bars(files, symbol, n_bars=1500, seed=seed)
    assert run_market_data_job(defs, ["AAA", "BBB"], instance=instance).success

    # New bars for AAA pass their checks and are published; its features are not redone.
    write_bars(files, "AAA", n_bars=1500, seed=99)
    bars_only = run_assets(defs, instance, ["market_bars"], ["AAA", "BBB"])
    assert bars_only.success, bars_only.failures

    refused = run_job(defs, TRAINING_JOB, instance=instance)
    assert not refused.success
    (message,) = [m for m in refused.failures if "features do not match" in m]
    assert "AAA: indicators was derived from market_bars version" in message
    assert "BBB" not in message
    assert TRAINING_SET not in refused.materialized

    # Features redone: the set is built; then they are replaced once more and the model
    # refuses the set that was built from the old ones.
    assert run_market_data_job(defs, ["AAA", "BBB"], instance=instance).success
    assert run_assets(defs, instance, [TRAINING_SET], []).success
    write_bars(files, "BBB", n_bars=1500, seed=98)
    assert run_market_data_job(defs, ["AAA", "BBB"], instance=instance).success
    model = run_assets(defs, instance, [MODEL], [])
    assert not model.success
    (message,) = [m for m in model.failures if "replaced since" in m]
    assert "BBB: built from indicators version" in message
    assert "AAA" not in message
    assert MODEL not in model.materialized


def test_a_model_tested_on_a_handful_of_rows_does_not_pass_its_gates(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    defs = files_defs(tmp_path, "TINY")
    write_bars(tmp_path / "files", "TINY", n_bars=120)
    assert run_market_data_job(defs, ["TINY"], instance=instance).success

    outcome = run_job(defs, TRAINING_JOB, instance=instance)

    auc = outcome.metadata(MODEL, "auc_above_chance")
    assert auc["fewest_fold_test_rows"] < auc["min_test_rows"] == 200
    assert not outcome.check(MODEL, "auc_above_chance").passed
    assert not outcome.check(MODEL, "beats_majority_baseline").passed
    assert BACKTEST not in outcome.materialized


def test_a_symbol_left_out_of_a_split_is_refused_with_the_reason(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    defs = files_defs(tmp_path, "DAILY,HOURLY")
    files = tmp_path / "files"
    # Daily bars for 2020-2023, hourly ones for 2024: a split by time puts every daily row
    # in training.
    write_bars(
        files, "DAILY", n_bars=1400, bar_minutes=1440, start=datetime(2020, 1, 1, tzinfo=UTC)
    )
    write_bars(files, "HOURLY", n_bars=3000)
    assert run_market_data_job(defs, ["DAILY", "HOURLY"], instance=instance).success

    outcome = run_job(defs, TRAINING_JOB, instance=instance)

    assert not outcome.success
    (message,) = [m for m in outcome.failures if "does not represent every symbol" in m]
    assert "DAILY has no validation rows" in message
    assert "DAILY has no test rows" in message
    assert TRAINING_SET not in outcome.materialized


def test_a_backtest_over_mixed_frequencies_is_refused(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    # The gates are not what this test is about.
    defs = files_defs(
        tmp_path,
        "DAILY,HOURLY",
        gates={"auc_margin": -1.0, "baseline_margin": -1.0, "min_test_rows": 1},
    )
    files = tmp_path / "files"
    # Both span the same months, one bar a day against one an hour.
    write_bars(files, "DAILY", n_bars=300, bar_minutes=1440)
    write_bars(files, "HOURLY", n_bars=300 * 24)
    assert run_market_data_job(defs, ["DAILY", "HOURLY"], instance=instance).success

    outcome = run_job(defs, TRAINING_JOB, instance=instance)

    # The walk-forward Sharpe annualizes too: the model refuses before anything is judged.
    assert MODEL not in outcome.materialized
    assert not outcome.success
    (message,) = [m for m in outcome.failures if "mixes bar frequencies" in m]
    assert "the train and validation rows mix" in message
    assert "DAILY ~36" in message
    assert "HOURLY ~8,7" in message
    assert BACKTEST not in outcome.materialized


def test_too_few_bars_for_the_indicators_say_so(tmp_path: Path) -> None:
    defs = files_defs(tmp_path, "SHORT")
    write_bars(tmp_path / "files", "SHORT", n_bars=30)

    outcome = run_market_data_job(defs, ["SHORT"])

    assert not outcome.success
    (message,) = [m for m in outcome.failures if "too few bars" in m]
    assert (
        "SHORT: 30 bar(s), but the indicators' warm-up takes the first 33: at least 54 bars "
        "are needed for 21 indicator rows" in message
    )
    assert "indicators" not in outcome.materialized


def test_online_features_of_a_symbol_whose_indicators_changed_are_unsynced(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """Per partition, as the asset's partition page asks: the symbol whose indicators were
    recomputed from new bars has stale online features, the other symbol's are in sync.
    (Asked without a partition, Dagster 1.13 calls any partitioned asset fresh; the graph's
    badge therefore cannot show it.)"""
    from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView
    from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
    from dagster._core.definitions.temporal_context import TemporalContext
    from dagster._time import get_current_datetime

    defs = files_defs(tmp_path, "AAA,BBB")
    files = tmp_path / "files"
    for seed, symbol in enumerate(("AAA", "BBB")):
        write_bars(files, symbol, n_bars=1500, seed=seed)
    assert run_market_data_job(defs, ["AAA", "BBB"], instance=instance).success

    def status(partition: str) -> StaleStatus:
        graph = defs.resolve_asset_graph()
        view = AssetGraphView(
            temporal_context=TemporalContext(
                effective_dt=get_current_datetime(), last_event_id=None
            ),
            instance=instance,
            asset_graph=graph,
        )
        resolver = CachingStaleStatusResolver(instance, graph, view)
        return resolver.get_status(dg.AssetKey("online_features"), partition)

    assert (status("AAA"), status("BBB")) == (StaleStatus.FRESH, StaleStatus.FRESH)
    write_bars(files, "AAA", n_bars=1500, seed=99)
    outcome = run_assets(defs, instance, ["market_bars", "indicators"], ["AAA", "AAA"])
    assert outcome.success, outcome.failures
    assert (status("AAA"), status("BBB")) == (StaleStatus.STALE, StaleStatus.FRESH)
    # The online features written again from the new indicators are in sync once more.
    assert run_market_data_job(defs, ["AAA", "BBB"], instance=instance).success
    assert status("AAA") == StaleStatus.FRESH
