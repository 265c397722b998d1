"""`market_bars` and its checks, materialized in-process through the real definitions on a
real chDB warehouse. Each check fails on a file with its defect, for that symbol only, and
blocks `indicators`."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scripts.harness.dagster_runs import run_market_data_job
from trade2026_assets.definitions import build_definitions
from trade2026_assets.settings import AssetsSettings
from trade2026_assets.warehouse import WarehouseResource

HEADER = ["timestamp", "open", "high", "low", "close", "volume"]
N_BARS = 80


def clean_rows(n: int = N_BARS) -> list[list[str]]:
    start = datetime(2024, 3, 1, tzinfo=UTC)
    rows = []
    for i in range(n):
        close = 100 + (i % 7) - 3 + i * 0.1
        open_ = close - 0.5 if i % 2 else close + 0.5
        rows.append(
            [
                (start + timedelta(hours=i)).isoformat(),
                f"{open_:.2f}",
                f"{max(open_, close) + 1:.2f}",
                f"{min(open_, close) - 1:.2f}",
                f"{close:.2f}",
                "1000",
            ]
        )
    return rows


def write_csv(directory: Path, symbol: str, rows: list[list[str]]) -> None:
    with (directory / f"{symbol}.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)


def files_settings(tmp_path: Path, symbols: str) -> AssetsSettings:
    return AssetsSettings(
        home=tmp_path / "home", symbols=symbols, market_source="files", bars_path=str(tmp_path)
    )


def with_defect(defect: str) -> list[list[str]]:
    rows = clean_rows()
    row = rows[40]
    if defect == "no_missing_values":
        row[4] = ""
    elif defect == "prices_positive":
        row[1:5] = ["0", "1", "0", "0"]
    elif defect == "high_low_consistent":
        row[2] = str(float(row[4]) - 5)
    elif defect == "volume_non_negative":
        row[5] = "-3"
    elif defect == "timestamps_strictly_increasing":
        row[0] = rows[39][0]
    return rows


@pytest.mark.parametrize(
    "defect",
    [
        "no_missing_values",
        "prices_positive",
        "high_low_consistent",
        "volume_non_negative",
        "timestamps_strictly_increasing",
    ],
)
def test_each_bars_check_fails_on_its_defect_and_blocks_indicators(
    tmp_path: Path, defect: str
) -> None:
    write_csv(tmp_path, "GOOD", clean_rows())
    write_csv(tmp_path, "BAD", with_defect(defect))
    defs = build_definitions(files_settings(tmp_path, "BAD,GOOD"))

    outcome = run_market_data_job(defs, ["BAD", "GOOD"])

    check = outcome.check("market_bars", defect)
    assert not check.passed
    evidence = outcome.metadata("market_bars", defect)
    assert evidence["failing_rows"] == 1
    assert evidence["failing_rows_by_symbol"] == {"BAD": 1}
    # The first offending row is shown: source position 40 (seq is 0-based).
    assert "| BAD | 40 |" in evidence["first_failing_rows"]
    # Each symbol has its own outcome: GOOD's checks all passed.
    assert outcome.check("market_bars", defect, "GOOD").passed
    assert outcome.check("market_bars", defect, "BAD") == check
    passed = {
        name
        for (asset, name, partition), ev in outcome.partition_checks.items()
        if ev.passed and partition == "BAD"
    }
    if defect != "timestamps_strictly_increasing":  # a repeated hour leaves a 2 h step next
        assert "gaps_reported" in passed
    # Blocking: BAD was not published (no materialization), GOOD was; the step failed, so
    # indicators never ran.
    assert outcome.materialized == {"market_bars": {"GOOD"}}
    assert not outcome.success


def test_a_gap_is_reported_without_blocking(tmp_path: Path) -> None:
    rows = clean_rows()
    del rows[30:35]  # five hours missing
    write_csv(tmp_path, "GAPPY", rows)
    defs = build_definitions(files_settings(tmp_path, "GAPPY"))

    outcome = run_market_data_job(defs, ["GAPPY"])

    gap = outcome.check("market_bars", "gaps_reported")
    assert not gap.passed
    assert gap.severity.value == "WARN"
    evidence = outcome.metadata("market_bars", "gaps_reported")
    assert evidence["failing_rows"] == 1
    # Bar 30 is the one after the hole: 11:00 following 05:00, six hours instead of one.
    assert "| GAPPY | 30 | 2024-03-02T11:00:00+00:00 |" in evidence["first_failing_rows"]
    # The bar before it, the five hours the 24/7 calendar expected, the first three of them.
    assert (
        "| 2024-03-02T05:00:00+00:00 | 5 | 2024-03-02T06:00:00+00:00, "
        "2024-03-02T07:00:00+00:00, 2024-03-02T08:00:00+00:00 |"
    ) in evidence["first_failing_rows"]
    assert evidence["missing_bars_by_symbol"] == {"GAPPY": 5}
    assert outcome.success
    assert outcome.materialized["indicators"] == {"GAPPY"}


def test_a_bad_file_fails_the_run_naming_file_row_and_problem(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[6][4] = "abc"
    write_csv(tmp_path, "BROKEN", rows)
    defs = build_definitions(files_settings(tmp_path, "BROKEN"))

    outcome = run_market_data_job(defs, ["BROKEN"])

    assert not outcome.success
    message = "\n".join(outcome.failures)
    assert "BROKEN.csv" in message
    assert "row 7" in message
    assert "'abc'" in message
    assert "market_bars" not in outcome.materialized


def test_column_names_and_time_zone_come_from_settings(tmp_path: Path) -> None:
    (tmp_path / "quotes.csv").write_text(
        "ticker,when,o,h,l,c,v\n"
        + "".join(
            f"XYZ,2024-03-0{1 + i // 24} {i % 24:02d}:00,10,11,9,10.5,100\n" for i in range(60)
        )
    )
    settings = AssetsSettings(
        home=tmp_path / "home",
        symbols="XYZ",
        market_source="files",
        bars_path=str(tmp_path),
        bars_timezone="America/New_York",
        bars_symbol_column="ticker",
        bars_timestamp_column="when",
        bars_open_column="o",
        bars_high_column="h",
        bars_low_column="l",
        bars_close_column="c",
        bars_volume_column="v",
    )
    outcome = run_market_data_job(build_definitions(settings), ["XYZ"])
    assert outcome.success, outcome.failures
    first = WarehouseResource(chdb_path=str(tmp_path / "home" / "warehouse")).query_arrow(
        "SELECT min(ts) AS first, count() AS n FROM bars"
    )
    # Midnight in New York in March (EST) is 05:00 UTC.
    assert first.to_pylist() == [{"first": datetime(2024, 3, 1, 5, tzinfo=UTC), "n": 60}]


def test_rematerializing_replaces_and_a_failed_run_keeps_the_stored_bars(tmp_path: Path) -> None:
    write_csv(tmp_path, "AAA", clean_rows())
    defs = build_definitions(files_settings(tmp_path, "AAA"))
    warehouse = WarehouseResource(chdb_path=str(tmp_path / "home" / "warehouse"))

    assert run_market_data_job(defs, ["AAA"]).success
    assert run_market_data_job(defs, ["AAA"]).success
    stored = warehouse.query_arrow("SELECT count() AS n, uniqExact(ts) AS u FROM bars")
    assert stored.to_pylist() == [{"n": N_BARS, "u": N_BARS}]

    broken = clean_rows()
    broken[3][0] = "not a date"
    write_csv(tmp_path, "AAA", broken)
    assert not run_market_data_job(defs, ["AAA"]).success
    after = warehouse.query_arrow("SELECT count() AS n FROM bars")
    assert after.to_pylist() == [{"n": N_BARS}]
