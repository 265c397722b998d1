"""`market_bars` on files as users have them, through a sources file: the gap report follows
each symbol's trading calendar, and a newest-first file is either turned around or reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import exchange_calendars as xcals

from scripts.harness.dagster_runs import run_market_data_job
from trade2026_assets.definitions import build_definitions
from trade2026_assets.settings import AssetsSettings

YAHOO_HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"
SOURCES = """
sources:
  indices:
    path: indices
    symbols: {SP500: "^GSPC"}
    calendar: XNYS
    timezone: America/New_York
    row_order: ROW_ORDER
  fx:
    path: fx
    calendar: 24x5
"""


def bar_line(stamp: str, i: int) -> str:
    close = 100 + (i % 7) - 3 + i * 0.1
    return (
        f"{stamp},{close - 0.5:.2f},{close + 1:.2f},{close - 1:.2f},{close:.2f},{close:.2f},1000\n"
    )


def daily_sessions(start: str, end: str) -> list[str]:
    sessions = xcals.get_calendar("XNYS", start=start, end=end).sessions
    return [day.strftime("%Y-%m-%d") for day in sessions]


def weekday_hours(start: datetime, days: int) -> list[str]:
    hours = (start + timedelta(hours=i) for i in range(24 * days))
    return [h.strftime("%Y-%m-%d %H:%M") for h in hours if h.weekday() < 5]


def write_universe(
    tmp_path: Path, days: list[str], *, row_order: str = "oldest_first", newest_first: bool = False
) -> AssetsSettings:
    (tmp_path / "indices").mkdir(parents=True)
    (tmp_path / "fx").mkdir()
    lines = [bar_line(day, i) for i, day in enumerate(days)]
    if newest_first:
        lines.reverse()
    (tmp_path / "indices" / "^GSPC.csv").write_text(YAHOO_HEADER + "".join(lines))
    hours = weekday_hours(datetime(2024, 3, 4, tzinfo=UTC), 14)
    (tmp_path / "fx" / "eurusd.csv").write_text(
        "Datetime,Open,High,Low,Close,Volume\n"
        + "".join(bar_line(h, i).rsplit(",", 2)[0] + ",1000\n" for i, h in enumerate(hours))
    )
    sources = tmp_path / "sources.yaml"
    sources.write_text(SOURCES.replace("ROW_ORDER", row_order))
    return AssetsSettings(home=tmp_path / "home", sources_file=sources)


def test_holidays_weekends_and_the_fx_weekend_are_no_gaps(tmp_path: Path) -> None:
    # Six months of XNYS sessions: Memorial Day, Juneteenth, Independence Day, Labor Day.
    settings = write_universe(tmp_path, daily_sessions("2024-05-01", "2024-10-31"))
    assert settings.universe == ["SP500", "EURUSD"]

    outcome = run_market_data_job(build_definitions(settings), ["SP500", "EURUSD"])

    assert outcome.success, outcome.failures
    # Each symbol's gap report follows its own calendar.
    for symbol, calendar in (("SP500", "XNYS, America/New_York"), ("EURUSD", "24/5")):
        gap = outcome.check("market_bars", "gaps_reported", symbol)
        evidence = outcome.metadata("market_bars", "gaps_reported", symbol)
        assert gap.passed, evidence
        assert evidence["failing_rows"] == 0
        assert f"calendars: {calendar}: {symbol}" in evidence["rule"]
    assert outcome.materialized["indicators"] == {"EURUSD", "SP500"}


def test_a_missing_session_is_reported_with_its_date(tmp_path: Path) -> None:
    days = daily_sessions("2024-05-01", "2024-10-31")
    days.remove("2024-07-10")
    settings = write_universe(tmp_path, days)

    outcome = run_market_data_job(build_definitions(settings), ["SP500", "EURUSD"])

    gap = outcome.check("market_bars", "gaps_reported")
    assert not gap.passed
    assert gap.severity.value == "WARN"
    evidence = outcome.metadata("market_bars", "gaps_reported")
    assert evidence["failing_rows"] == 1
    assert evidence["failing_rows_by_symbol"] == {"SP500": 1}
    assert evidence["missing_bars_by_symbol"] == {"SP500": 1}
    # The bar after the hole (midnight in New York is 04:00 UTC in July), the one before, the
    # missing session.
    assert (
        "| SP500 | 47 | 2024-07-11T04:00:00+00:00 | 2024-07-09T04:00:00+00:00 | 1 | 2024-07-10 |"
        in evidence["first_failing_rows"]
    )
    assert outcome.success


def test_a_newest_first_file_is_not_increasing_unless_the_source_says_so(tmp_path: Path) -> None:
    days = daily_sessions("2024-05-01", "2024-10-31")
    settings = write_universe(tmp_path / "as_is", days, newest_first=True)
    outcome = run_market_data_job(build_definitions(settings), ["SP500", "EURUSD"])
    evidence = outcome.metadata("market_bars", "timestamps_strictly_increasing")
    assert not outcome.check("market_bars", "timestamps_strictly_increasing").passed
    assert evidence["failing_rows_by_symbol"] == {"SP500": len(days) - 1}
    assert "indicators" not in outcome.materialized

    settings = write_universe(
        tmp_path / "sorted", days, row_order="newest_first", newest_first=True
    )
    outcome = run_market_data_job(build_definitions(settings), ["SP500", "EURUSD"])
    assert outcome.success, outcome.failures
    assert outcome.check("market_bars", "timestamps_strictly_increasing").passed
    assert outcome.check("market_bars", "gaps_reported").passed
