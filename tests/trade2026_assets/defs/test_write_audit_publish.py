"""Write, audit, publish: a failing gate never replaces good data.

A universe of two symbols is published from clean files; then one symbol's file goes bad
(or an indicators check or the parity check fails) and the whole job runs again. Each case
proves that the last published bars, features, offline rows, online rows and versions are
still there, byte for byte, and that nothing downstream ran on the bad data."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

from scripts.harness.dagster_runs import RunOutcome, resource_of, run_market_data_job
from tests.trade2026_assets.defs.market_data.test_market_bars import HEADER, clean_rows
from trade2026_assets.definitions import build_definitions
from trade2026_assets.defs.market_data.online_features import (
    PARITY_CHECK,
    read_online,
    write_online,
)
from trade2026_assets.feature_catalog import LOOKBACK_ROWS
from trade2026_assets.feature_store.resource import FeatureStoreResource
from trade2026_assets.settings import AssetsSettings
from trade2026_assets.technical_indicators import IndicatorParams
from trade2026_assets.warehouse import (
    WarehouseError,
    WarehouseResource,
    _ChdbSession,
    read_versions,
)

SYMBOLS = ["GOOD", "VICTIM"]
# The one indicator set the definitions declare today.
SET = IndicatorParams().indicator_set()


def keys(symbols: list[str]) -> list[tuple[str, str]]:
    return [(symbol, SET) for symbol in symbols]


@dataclass
class Universe:
    files: Path
    defs: dg.Definitions
    instance: dg.DagsterInstance

    def write(self, symbol: str, rows: list[list[str]], header: list[str] = HEADER) -> None:
        with (self.files / f"{symbol}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)

    def run(self, **kwargs: Any) -> RunOutcome:
        return run_market_data_job(self.defs, SYMBOLS, instance=self.instance, **kwargs)

    @property
    def warehouse(self) -> WarehouseResource:
        return resource_of(self.defs, "warehouse", WarehouseResource)

    @property
    def feature_store(self) -> FeatureStoreResource:
        return resource_of(self.defs, "feature_store", FeatureStoreResource)

    def snapshot(self) -> dict[str, Any]:
        """Everything a downstream reader sees: tables, offline files, online rows."""
        tables = {
            name: self.warehouse.query_arrow(f"SELECT * FROM {name} ORDER BY {order}")  # noqa: S608
            for name, order in (("bars", "symbol, seq"), ("features", "symbol, ts"))
        }
        offline = {
            path.name: path.read_bytes()
            for path in sorted(self.feature_store.offline_dir.glob("*.parquet"))
        }
        with self.warehouse.session() as session:
            versions = {
                asset: read_versions(session, asset, SYMBOLS)
                for asset in ("market_bars", "indicators")
            }
        online = read_online(self.feature_store.store(), keys(SYMBOLS))
        return {"tables": tables, "offline": offline, "versions": versions, "online": online}


@pytest.fixture
def universe(tmp_path: Path, instance: dg.DagsterInstance) -> Universe:
    return published_universe(tmp_path, instance)


def published_universe(tmp_path: Path, instance: dg.DagsterInstance) -> Universe:
    """`SYMBOLS` published from clean files."""
    files = tmp_path / "files"
    files.mkdir()
    settings = AssetsSettings(
        home=tmp_path / "home",
        symbols=",".join(SYMBOLS),
        market_source="files",
        bars_path=str(files),
    )
    published = Universe(files, build_definitions(settings), instance)
    for symbol in SYMBOLS:
        published.write(symbol, clean_rows())
    first = published.run()
    assert first.success, first.failures
    return published


def shifted_rows() -> list[list[str]]:
    """Good bars whose closes differ from `clean_rows()`'s: new content that passes."""
    rows = clean_rows()
    for row in rows:
        row[4] = f"{float(row[4]) + 0.01:.2f}"
    return rows


def early_and_late(tmp_path: Path, instance: dg.DagsterInstance) -> Universe:
    """Two symbols whose histories end at different times, published together."""
    files = tmp_path / "files"
    files.mkdir()
    settings = AssetsSettings(
        home=tmp_path / "home", symbols="EARLY,LATE", market_source="files", bars_path=str(files)
    )
    universe = Universe(files, build_definitions(settings), instance)
    universe.write("EARLY", clean_rows(70))
    universe.write("LATE", clean_rows(80))
    assert run_market_data_job(universe.defs, ["EARLY", "LATE"], instance=universe.instance).success
    return universe


def assert_last_good_survived(universe: Universe, before: dict[str, Any]) -> None:
    after = universe.snapshot()
    for name, table in before["tables"].items():
        assert after["tables"][name].equals(table), f"{name} changed"
    assert after["offline"] == before["offline"]
    assert after["versions"] == before["versions"]
    assert after["online"] == before["online"]


def bad_file(case: str) -> tuple[list[list[str]], list[str]]:
    rows, header = clean_rows(), list(HEADER)
    if case == "empty close":
        rows[40][4] = ""
    elif case == "nan close":
        rows[40][4] = "NaN"
    elif case == "negative price":
        rows[40][3] = "-1"
    elif case == "duplicated timestamp":
        rows[41][0] = rows[40][0]
    elif case == "two rows swapped":
        rows[40], rows[41] = rows[41], rows[40]
    elif case == "newest first":
        rows.reverse()
    elif case == "non-numeric cell":
        rows[40][2] = "12,5"
    elif case == "missing column":
        header = [name for name in HEADER if name != "volume"]
        rows = [row[:5] for row in rows]
    elif case == "empty file":
        rows = []
    return rows, header


BAD_FILES = {
    "empty close": "no_missing_values",
    "nan close": "no_missing_values",
    "negative price": "prices_positive",
    "duplicated timestamp": "timestamps_strictly_increasing",
    "two rows swapped": "timestamps_strictly_increasing",
    "newest first": "timestamps_strictly_increasing",
    # Files the loader refuses before anything is staged.
    "non-numeric cell": "'12,5' is not a number",
    "missing column": "missing column(s) 'volume'",
    "empty file": "is empty",
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_bars_leave_the_published_data_and_stop_downstream(
    universe: Universe, case: str
) -> None:
    before = universe.snapshot()
    rows, header = bad_file(case)
    universe.write("VICTIM", rows, header)

    outcome = universe.run()

    assert not outcome.success
    expected = BAD_FILES[case]
    if " " in expected:
        # Refused before anything was staged: nothing is recorded as materialized.
        assert outcome.materialized == {}
        assert any(expected in failure for failure in outcome.failures), outcome.failures
    else:
        # VICTIM was not published, GOOD was (its bars are the same as before); the step
        # failed, so nothing downstream ran.
        assert outcome.materialized == {"market_bars": {"GOOD"}}
        assert outcome.check("market_bars", expected, "GOOD").passed
        check = outcome.check("market_bars", expected)
        assert not check.passed
        evidence = outcome.metadata("market_bars", expected)
        # The evidence names the staged rows that failed.
        assert evidence["failing_rows_by_symbol"].keys() == {"VICTIM"}
        assert "| VICTIM |" in evidence["first_failing_rows"]
        # The failure names the symbol, the check and why in a line (the evidence is in the
        # step's log).
        assert any(f"\n- VICTIM: {expected}: " in f for f in outcome.failures), outcome.failures
        assert any("not published: VICTIM" in f for f in outcome.failures)
    assert_last_good_survived(universe, before)


def test_a_failing_indicators_check_leaves_the_published_features(universe: Universe) -> None:
    before = universe.snapshot()
    # Valid bars (positive, finite, consistent) whose returns overflow: every indicator
    # after them is infinite or undefined.
    rows = clean_rows()
    for i, row in enumerate(rows[45:], start=45):
        price = "1e-300" if i % 2 else "1e300"
        row[1:5] = [price, price, price, price]
    universe.write("VICTIM", rows)

    outcome = universe.run()

    assert not outcome.success
    assert outcome.check("market_bars", "no_missing_values").passed
    check = outcome.check("indicators", "finite_after_warmup")
    assert not check.passed
    assert outcome.metadata("indicators", "finite_after_warmup")[
        "failing_rows_by_symbol"
    ].keys() == {"VICTIM"}
    # The new bars passed their checks and were published; the features computed from them
    # were not, and the online store was not touched.
    assert outcome.materialized == {"market_bars": {"GOOD", "VICTIM"}}
    after = universe.snapshot()
    assert after["tables"]["features"].equals(before["tables"]["features"])
    assert after["offline"] == before["offline"]
    assert after["online"] == before["online"]
    assert after["versions"]["indicators"] == before["versions"]["indicators"]
    # The features now lag the bars, and their record says so.
    assert (
        after["versions"]["indicators"]["VICTIM"].inputs["market_bars"]
        != after["versions"]["market_bars"]["VICTIM"].data_version
    )


def test_a_failing_parity_check_leaves_the_online_store(universe: Universe) -> None:
    before = universe.snapshot()
    # The offline rows Feast serves from disagree with the warehouse (a broken export).
    offline = universe.feature_store.offline_dir / "VICTIM.parquet"
    frame = pl.read_parquet(offline)
    frame.with_columns(pl.col("rsi") + 1.0).write_parquet(offline)
    before["offline"] = {
        path.name: path.read_bytes()
        for path in sorted(universe.feature_store.offline_dir.glob("*.parquet"))
    }
    job = universe.defs.resolve_job_def("market_data_job")
    result = job.execute_in_process(
        instance=universe.instance,
        tags={
            "dagster/asset_partition_range_start": "GOOD",
            "dagster/asset_partition_range_end": "VICTIM",
        },
        asset_selection=[dg.AssetKey("online_features")],
        raise_on_error=False,
    )
    assert not result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    # The broken rows are neither the warehouse's nor recomputable from the bars.
    assert set(evaluations) == {PARITY_CHECK, "point_in_time"}
    assert not any(evaluation.passed for evaluation in evaluations.values())
    assert evaluations[PARITY_CHECK].metadata["failing_symbols"].value == ["VICTIM"]
    assert "| VICTIM |" in str(evaluations["point_in_time"].metadata["first_failing_rows"].value)
    assert "| GOOD |" not in str(evaluations["point_in_time"].metadata["first_failing_rows"].value)
    assert not result.get_asset_materialization_events()
    assert universe.snapshot()["online"] == before["online"]


def test_a_run_for_some_symbols_writes_only_their_online_rows(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """Symbols whose histories end at different times: a run for the one that ends first
    must not rewind the others' online rows, and the parity gate compares them too."""
    universe = early_and_late(tmp_path, instance)
    store = universe.feature_store.store()
    before = read_online(store, keys(["EARLY", "LATE"]))

    outcome = run_market_data_job(universe.defs, ["EARLY"], instance=universe.instance)

    assert outcome.success, outcome.failures
    after = read_online(universe.feature_store.store(), keys(["EARLY", "LATE"]))
    assert after[("LATE", SET)] == before[("LATE", SET)]
    parity = outcome.metadata("online_features", PARITY_CHECK)
    assert parity["symbols_not_written_by_run"] == ["LATE"]
    assert parity["symbols_compared"] == ["EARLY", "LATE"]


def test_a_step_refuses_bars_another_run_published_after_this_runs(universe: Universe) -> None:
    """Two runs on one warehouse interleave: run B republishes the bars between run A's
    `market_bars` and its `indicators`. A's indicators must not compute from B's bars."""
    tags = {
        "dagster/asset_partition_range_start": SYMBOLS[0],
        "dagster/asset_partition_range_end": SYMBOLS[-1],
    }

    @dg.success_hook
    def another_run_publishes(context: dg.HookContext) -> None:
        if context.op.name != "market_bars":
            return
        universe.write("VICTIM", shifted_rows())
        bars_only = universe.defs.resolve_job_def("market_data_job").get_subset(
            asset_selection={dg.AssetKey("market_bars")}
        )
        other = bars_only.execute_in_process(instance=universe.instance, tags=tags)
        assert other.success

    job = dg.define_asset_job(
        "market_data_with_another_run",
        selection=["market_bars", "indicators", "online_features"],
        hooks={another_run_publishes},
    )
    defs = dg.Definitions.merge(universe.defs, dg.Definitions(jobs=[job]))
    result = defs.resolve_job_def(job.name).execute_in_process(
        instance=universe.instance, tags=tags, raise_on_error=False
    )

    assert not result.success
    failures = [
        event.step_failure_data.user_failure_data
        for event in result.all_events
        if event.is_step_failure and event.step_key == "indicators"
    ]
    (failure,) = failures
    assert failure is not None
    assert failure.description is not None
    assert "market_bars changed under this run: VICTIM: this run published" in failure.description
    assert "GOOD" not in failure.description


def test_a_publication_that_did_not_finish_is_refused_downstream(
    universe: Universe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer fails between recording the new bars and swapping them in: the bars stay
    as they were, and no later step takes the record for what is published."""
    bars_before = universe.snapshot()["tables"]["bars"]
    universe.write("VICTIM", shifted_rows())
    real_command = _ChdbSession.command

    def swap_fails(self: _ChdbSession, sql: str, params: Any = None) -> None:
        if "REPLACE PARTITION" in sql and "`bars`" in sql:
            raise WarehouseError("injected: the writer died mid-swap")
        real_command(self, sql, params)

    monkeypatch.setattr(_ChdbSession, "command", swap_fails)
    assert not universe.run().success
    monkeypatch.undo()

    after = universe.warehouse.query_arrow("SELECT * FROM bars ORDER BY symbol, seq")
    assert after.equals(bars_before)
    indicators_only = universe.defs.resolve_job_def("market_data_job").get_subset(
        asset_selection={dg.AssetKey("indicators")}
    )
    later = indicators_only.execute_in_process(
        instance=universe.instance,
        tags={
            "dagster/asset_partition_range_start": SYMBOLS[0],
            "dagster/asset_partition_range_end": SYMBOLS[-1],
        },
        raise_on_error=False,
    )
    assert not later.success
    (failure,) = [event for event in later.all_events if event.is_step_failure]
    assert "market_bars: the last publication of GOOD" in str(failure.step_failure_data.error)
    # Published again, it is trusted again.
    assert universe.run().success


def test_an_online_store_that_does_not_keep_the_rows_gets_the_previous_ones_back(
    universe: Universe, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trade2026_assets.defs.market_data import online_features

    before = universe.snapshot()["online"]
    # New bars for VICTIM: its online row changes, so a store that drops the write shows.
    universe.write("VICTIM", shifted_rows())
    reads = 0
    real_read = online_features.read_online

    def store_loses_the_write(store: Any, symbols: Any) -> dict[tuple[str, str], Any]:
        nonlocal reads
        reads += 1
        answer = real_read(store, symbols)
        if reads == 2:  # the read-back after the write
            return {key: before[key] for key in answer}
        return answer

    monkeypatch.setattr(online_features, "read_online", store_loses_the_write)
    outcome = universe.run()
    monkeypatch.undo()

    assert not outcome.success
    restored = f"previous rows restored for GOOD/{SET}, VICTIM/{SET}"
    assert any(restored in f for f in outcome.failures), outcome.failures
    assert "online_features" not in outcome.materialized
    assert read_online(universe.feature_store.store(), keys(SYMBOLS)) == before


def test_parity_fails_on_a_rewound_row_of_a_symbol_the_run_does_not_write(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    universe = early_and_late(tmp_path, instance)
    # LATE's online row rewound to EARLY's last bar (what Feast's materialize of EARLY's
    # window used to do).
    store = universe.feature_store.store()
    rewound = pl.read_parquet(universe.feature_store.offline_dir / "LATE.parquet").sort("ts")
    write_online(
        store,
        rewound.slice(69 - 33 - (LOOKBACK_ROWS - 1), 1).with_columns(
            pl.col("symbol").cast(pl.String)
        ),
    )
    stale = read_online(store, keys(["EARLY", "LATE"]))

    outcome = run_market_data_job(universe.defs, ["EARLY"], instance=universe.instance)

    assert not outcome.success
    parity = outcome.metadata("online_features", PARITY_CHECK)
    assert parity["failing_symbols"] == ["LATE"]
    assert parity["symbols_not_written_by_run"] == ["LATE"]
    # Nothing was written: EARLY's row too is as it was.
    assert read_online(universe.feature_store.store(), keys(["EARLY", "LATE"])) == stale
