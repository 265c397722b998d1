"""`market_bars` per partition in one run of several symbols: each symbol carries its own
numbers and its own check outcome, and a symbol whose bars fail a blocking check neither
replaces its published bars nor keeps the good symbols from being published."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from scripts.harness.dagster_runs import run_market_data_job
from tests.trade2026_assets.defs.market_data.test_market_bars import clean_rows
from tests.trade2026_assets.defs.test_write_audit_publish import (
    SYMBOLS,
    Universe,
    bad_file,
    early_and_late,
    published_universe,
    shifted_rows,
)
from trade2026_assets.defs.market_data.market_bars import BARS_CHECK_SPECS
from trade2026_assets.warehouse import read_versions

# Figures of a whole run that used to repeat in every partition's materialization.
RUN_WIDE = {"rows_in_run", "symbols_in_run", "bars_read_in_run"}
BLOCKING = [spec.name for spec in BARS_CHECK_SPECS if spec.blocking]


@pytest.fixture
def universe(tmp_path: Path, instance: dg.DagsterInstance) -> Universe:
    return published_universe(tmp_path, instance)


def bars_of(universe: Universe, symbol: str) -> list[dict[str, object]]:
    rows = universe.warehouse.query_arrow(
        "SELECT seq, ts, open, high, low, close, volume FROM bars"
        " WHERE symbol = {s:String} ORDER BY seq",
        {"s": symbol},
    )
    bars: list[dict[str, object]] = rows.to_pylist()
    return bars


def test_each_partition_carries_its_own_numbers(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    # EARLY has 70 bars, LATE 80: a partition showing the other's figures shows.
    universe = early_and_late(tmp_path, instance)
    outcome = run_market_data_job(universe.defs, ["EARLY", "LATE"], instance=instance)
    assert outcome.success, outcome.failures

    for symbol, bars in (("EARLY", 70), ("LATE", 80)):
        other = "LATE" if symbol == "EARLY" else "EARLY"
        market = outcome.partition_metadata[("market_bars", symbol)]
        assert market["rows"] == bars
        features = outcome.partition_metadata[("indicators", symbol)]
        assert features["bars_read"] == bars
        online = outcome.partition_metadata[("online_features", symbol)]
        assert online["rows_written"] == 1
        assert all(key.startswith(f"{symbol}/") for key in online["latest_timestamp_by_row"])
        for asset, metadata in (
            ("market_bars", market),
            ("indicators", features),
            ("online_features", online),
        ):
            assert not RUN_WIDE & metadata.keys(), (asset, metadata)
            assert other not in str(metadata), (asset, metadata)
        # Each check's evidence is the symbol's own.
        evidence = outcome.metadata("market_bars", "no_missing_values", symbol)
        assert evidence["checked_rows"] == bars
    # Rows differ, so do the hashes: each partition's data version is its own.
    assert (
        outcome.partition_metadata[("market_bars", "EARLY")]["data_version"]
        != outcome.partition_metadata[("market_bars", "LATE")]["data_version"]
    )


def test_one_bad_symbol_fails_alone_and_the_good_one_is_published(universe: Universe) -> None:
    with universe.warehouse.session() as session:
        versions_before = read_versions(session, "market_bars", SYMBOLS)
    victim_before = bars_of(universe, "VICTIM")
    # New, good bars for GOOD; a negative price in VICTIM's.
    universe.write("GOOD", shifted_rows())
    rows, header = bad_file("negative price")
    universe.write("VICTIM", rows, header)

    outcome = universe.run()

    # The good symbol: published, materialized, every check passed.
    assert outcome.materialized == {"market_bars": {"GOOD"}}
    assert [row["close"] for row in bars_of(universe, "GOOD")] == [
        float(row[4]) for row in shifted_rows()
    ]
    for name in BLOCKING:
        assert outcome.check("market_bars", name, "GOOD").passed, name
    assert outcome.partition_metadata[("market_bars", "GOOD")]["rows"] == len(clean_rows())
    # The bad one: its check failed with its evidence, its published bars and version kept.
    failed = outcome.check("market_bars", "prices_positive", "VICTIM")
    assert not failed.passed
    assert failed.blocking
    evidence = outcome.metadata("market_bars", "prices_positive", "VICTIM")
    assert evidence["failing_rows"] == 1
    assert evidence["checked_rows"] == len(rows)
    assert "| VICTIM | 40 |" in evidence["first_failing_rows"]
    assert "GOOD" not in str(evidence)
    assert bars_of(universe, "VICTIM") == victim_before
    with universe.warehouse.session() as session:
        versions_after = read_versions(session, "market_bars", SYMBOLS)
    assert versions_after["VICTIM"] == versions_before["VICTIM"]
    assert versions_after["GOOD"].data_version != versions_before["GOOD"].data_version
    # The run fails naming the symbol and the check; nothing downstream ran on its bars.
    assert not outcome.success
    (failure,) = outcome.failures
    assert "VICTIM: prices_positive" in failure
    assert "published GOOD" in failure
    assert "not published: VICTIM" in failure
    assert "indicators" not in outcome.materialized
    # What the UI's partitions view shows: GOOD materialized, VICTIM failed.
    market_bars = universe.defs.resolve_assets_def("market_bars")
    assert market_bars.partitions_def is not None
    status = universe.instance.get_status_by_partition(
        dg.AssetKey("market_bars"), SYMBOLS, market_bars.partitions_def
    )
    assert status == {
        "GOOD": dg.AssetPartitionStatus.MATERIALIZED,
        "VICTIM": dg.AssetPartitionStatus.FAILED,
    }


def test_every_symbol_bad_publishes_nothing(universe: Universe) -> None:
    before = {symbol: bars_of(universe, symbol) for symbol in SYMBOLS}
    rows, header = bad_file("negative price")
    for symbol in SYMBOLS:
        universe.write(symbol, rows, header)

    outcome = universe.run()

    assert not outcome.success
    assert outcome.materialized == {}
    (failure,) = outcome.failures
    assert "nothing was published" in failure
    assert {symbol: bars_of(universe, symbol) for symbol in SYMBOLS} == before
