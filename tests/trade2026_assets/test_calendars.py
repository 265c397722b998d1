"""Missing bars per trading calendar: weekends, holidays and closed hours are no gaps; a
missing session, period or intraday slot is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import polars as pl
import pytest

from trade2026_assets.bars import short_series_problem
from trade2026_assets.calendars import BarCalendar, bar_period, calendar_name, missing_bars

NEW_YORK = ZoneInfo("America/New_York")


def frame(symbol: str, stamps: list[datetime]) -> pl.DataFrame:
    return pl.DataFrame(
        {"symbol": [symbol] * len(stamps), "seq": range(len(stamps)), "ts": stamps},
        schema={"symbol": pl.String, "seq": pl.UInt32, "ts": pl.Datetime("ms", "UTC")},
    )


def xnys_days(start: str, end: str) -> list[datetime]:
    """Midnight New York time of each XNYS session, as a daily file dated locally has them."""
    sessions = xcals.get_calendar("XNYS", start=start, end=end).sessions
    return [datetime(d.year, d.month, d.day, tzinfo=NEW_YORK).astimezone(UTC) for d in sessions]


XNYS = BarCalendar("XNYS", "America/New_York")


def test_daily_bars_over_a_holiday_and_weekends_have_no_gap() -> None:
    # Independence Day (Thu 2024-07-04) and four weekends.
    days = xnys_days("2024-06-24", "2024-07-26")
    assert datetime(2024, 7, 4, 4, tzinfo=UTC) not in days
    assert missing_bars(frame("SP500", days), {"SP500": XNYS}).height == 0


def test_a_removed_session_is_a_gap() -> None:
    days = xnys_days("2024-06-24", "2024-07-26")
    removed = datetime(2024, 7, 10, 4, tzinfo=UTC)
    gaps = missing_bars(frame("SP500", [d for d in days if d != removed]), {"SP500": XNYS})
    assert gaps.select("symbol", "missing", "first_missing").rows() == [("SP500", 1, "2024-07-10")]
    assert gaps["ts"][0] == datetime(2024, 7, 11, 4, tzinfo=UTC)
    assert gaps["prev_ts"][0] == datetime(2024, 7, 9, 4, tzinfo=UTC)


def test_without_the_exchange_calendar_weekends_are_gaps() -> None:
    days = xnys_days("2024-06-24", "2024-07-26")
    gaps = missing_bars(frame("SP500", days), {"SP500": BarCalendar("24/7", "America/New_York")})
    assert gaps.height == 5  # four weekends and the holiday
    assert gaps["missing"].to_list() == [2, 1, 2, 2, 2]


def test_hourly_fx_over_a_weekend_has_no_gap_but_a_missing_hour_is_one() -> None:
    start = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
    hours = [start + timedelta(hours=i) for i in range(24 * 14)]
    trading = [h for h in hours if h.weekday() < 5]
    fx = {"EURUSD": BarCalendar(calendar_name("24x5"))}
    assert missing_bars(frame("EURUSD", trading), fx).height == 0
    holed = [h for h in trading if h != datetime(2024, 3, 12, 9, tzinfo=UTC)]
    gaps = missing_bars(frame("EURUSD", holed), fx)
    assert gaps.select("missing", "first_missing").rows() == [(1, "2024-03-12T09:00:00+00:00")]


def test_intraday_equity_bars_skip_nights_and_weekends() -> None:
    schedule = xcals.get_calendar("XNYS", start="2024-03-04", end="2024-03-15").schedule
    bars = [
        open_.to_pydatetime() + timedelta(hours=k)
        for open_ in schedule["open"]
        for k in range(7)  # 09:30 ... 15:30
    ]
    xnys = {"AAPL": BarCalendar("XNYS")}
    assert bar_period(frame("AAPL", bars)) == "intraday"
    assert missing_bars(frame("AAPL", bars), xnys).height == 0
    gaps = missing_bars(frame("AAPL", bars[:10] + bars[12:]), xnys)
    # Two hourly slots of the second session (12:30 and 13:30 in New York, Tue 2024-03-05).
    assert gaps.select("missing", "first_missing").rows() == [
        (2, "2024-03-05T17:30:00+00:00, 2024-03-05T18:30:00+00:00")
    ]


def test_monthly_crypto_misses_a_month() -> None:
    months = [datetime(2023 + m // 12, m % 12 + 1, 1, tzinfo=UTC) for m in range(24)]
    crypto = {"BTC": BarCalendar("24/7")}
    assert bar_period(frame("BTC", months)) == "1mo"
    assert missing_bars(frame("BTC", months), crypto).height == 0
    gaps = missing_bars(frame("BTC", months[:5] + months[8:]), crypto)
    assert gaps.select("missing", "first_missing").rows() == [(3, "2023-06, 2023-07, 2023-08")]


def test_too_few_bars_have_no_interval_to_judge() -> None:
    one = frame("X", [datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 9, tzinfo=UTC)])
    assert bar_period(one) is None
    assert missing_bars(one, {"X": XNYS}).height == 0


def test_calendar_names() -> None:
    assert calendar_name("24x7") == "24/7"
    assert calendar_name("24X5") == "24/5"
    assert calendar_name("xnys") == "XNYS"
    with pytest.raises(ValueError, match="unknown trading calendar 'NYSX'"):
        calendar_name("NYSX")


def test_short_series_problem() -> None:
    assert short_series_problem("SPX", 40, 33) == ""
    assert short_series_problem("SPX", 33, 33) == (
        "SPX: 33 bar(s), but the indicators' warm-up takes the first 33: at least 34 bars "
        "are needed for one indicator row"
    )
