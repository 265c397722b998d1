"""Trading calendars: which bars a symbol's calendar expects, and which of them are missing.

A bar interval is read from the bars themselves (the median step between consecutive bars):
intraday bars are expected at every multiple of that interval from each session's open until
its close (lunch breaks excluded); daily bars once per session; weekly, monthly, quarterly and
yearly bars once per period that holds a session. Weekends, holidays and the hours a market
is closed are therefore never gaps; a session (or an intraday slot) with no bar is.

The calendars are exchange-calendars' (`XNYS` for US equities, `24/5` for FX, `24/7` for
crypto and the synthetic bars, or any other exchange it knows).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import exchange_calendars as xcals
import pandas as pd
import polars as pl

ALWAYS_OPEN = "24/7"
# Spellings users write for the round-the-clock calendars.
_ALIASES = {"24x7": "24/7", "24x5": "24/5", "24*7": "24/7", "24*5": "24/5"}
_MS_PER_DAY = 86_400_000
# Median steps (in days) below which bars are taken for that period; above the last, yearly.
_PERIODS = ((0.8, "intraday"), (4.0, "1d"), (10.0, "1w"), (45.0, "1mo"), (120.0, "1q"))
# How a missing period is labelled in the evidence.
_LABEL_FORMAT = {"1d": "%Y-%m-%d", "1w": "%Y-%m-%d", "1mo": "%Y-%m", "1q": "%Y-%m", "1y": "%Y"}
SAMPLE_MISSING = 3
GAP_COLUMNS = ("symbol", "seq", "ts", "prev_ts", "missing", "first_missing")


def calendar_name(name: str) -> str:
    """The exchange-calendars name for `name` (an exchange code, an alias such as `NYSE`,
    `24x5` or `24x7`); ValueError naming the known ones otherwise."""
    wanted = _ALIASES.get(name.strip().lower(), name.strip().upper())
    if wanted in xcals.get_calendar_names(include_aliases=True):
        return wanted
    raise ValueError(
        f"unknown trading calendar {name!r}: use an exchange-calendars name such as 'XNYS' "
        f"(US equities), '24/5' (FX) or '24/7' (crypto)"
    )


@dataclass(frozen=True)
class BarCalendar:
    """A symbol's trading calendar and the zone its source writes dates in (daily and longer
    bars are assigned to sessions by their local date)."""

    calendar: str = ALWAYS_OPEN
    timezone: str = "UTC"

    def describe(self) -> str:
        return self.calendar if self.timezone == "UTC" else f"{self.calendar}, {self.timezone}"


def missing_bars(bars: pl.DataFrame, calendars: Mapping[str, BarCalendar]) -> pl.DataFrame:
    """The bars that follow expected bars that are missing, per symbol in `seq` order.

    `bars` has symbol, seq and ts (UTC); `calendars` maps each symbol to its calendar
    (default: 24/7). Returns GAP_COLUMNS: the bar after the hole, the bar before it, how many
    expected bars (sessions, periods or intraday slots) are missing between them, and the
    first few of those, labelled.
    """
    groups = [
        (str(symbol), rows)
        for (symbol,), rows in bars.select("symbol", "seq", "ts").group_by(
            "symbol", maintain_order=True
        )
    ]

    def gaps(group: tuple[str, pl.DataFrame]) -> pl.DataFrame:
        symbol, rows = group
        return _symbol_gaps(symbol, rows.sort("seq"), calendars.get(symbol, BarCalendar()))

    # Each symbol is a few small polars operations that release the GIL: spread over cores,
    # once the first has built (and cached) the calendar and its slots.
    frames = [gaps(group) for group in groups[:1]]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        frames += pool.map(gaps, groups[1:])
    schema = {
        "symbol": pl.String(),
        "seq": pl.UInt32(),
        "ts": pl.Datetime("ms", "UTC"),
        "prev_ts": pl.Datetime("ms", "UTC"),
        "missing": pl.Int64(),
        "first_missing": pl.String(),
    }
    found = [frame.cast(schema) for frame in frames if frame.height]  # type: ignore[arg-type]
    return pl.concat(found) if found else pl.DataFrame(schema=schema)


def bar_period(bars: pl.DataFrame) -> str | None:
    """'intraday', '1d', '1w', '1mo', '1q' or '1y' from the median step of `bars` (symbol's
    ts in seq order); None with fewer than two increasing steps."""
    median = _median_step_ms(bars["ts"])
    if median is None:
        return None
    days = median / _MS_PER_DAY
    return next((period for limit, period in _PERIODS if days < limit), "1y")


def _median_step_ms(ts: pl.Series) -> float | None:
    steps = ts.diff().dt.total_milliseconds().drop_nulls()
    steps = steps.filter(steps > 0)
    if steps.len() < 2:
        return None
    median = steps.median()
    assert isinstance(median, float | int)
    return float(median)


def _symbol_gaps(symbol: str, rows: pl.DataFrame, where: BarCalendar) -> pl.DataFrame:
    rows = rows.filter(pl.col("ts").is_not_null())
    period = bar_period(rows)
    if period is None:
        return pl.DataFrame()
    if period == "intraday":
        median = _median_step_ms(rows["ts"])
        assert median is not None
        starts = _intraday_slots(where.calendar, rows["ts"], int(median))
        ordinal = starts.search_sorted(rows["ts"], side="right").cast(pl.Int64) - 1
        labels = starts.dt.to_string("%Y-%m-%dT%H:%M:%S+00:00")
    else:
        local = rows["ts"].dt.convert_time_zone(where.timezone).dt.date()
        sessions = _sessions(where.calendar, _date(local.min()), _date(local.max()))
        starts = sessions.dt.truncate(period).unique(maintain_order=True)
        ordinal = starts.search_sorted(local.dt.truncate(period), side="right").cast(pl.Int64) - 1
        labels = starts.dt.to_string(_LABEL_FORMAT[period])
    frame = rows.with_columns(ordinal.alias("ordinal")).with_columns(
        pl.col("ts").shift(1).alias("prev_ts"),
        (pl.col("ordinal") - pl.col("ordinal").shift(1) - 1).clip(lower_bound=0).alias("missing"),
    )
    gaps = frame.filter(pl.col("missing") > 0)
    label_list = labels.to_list()
    return gaps.select(
        pl.lit(symbol).alias("symbol"),
        "seq",
        "ts",
        "prev_ts",
        "missing",
        pl.Series(
            "first_missing",
            [
                ", ".join(label_list[o - m : o - m + min(m, SAMPLE_MISSING)])
                for o, m in zip(gaps["ordinal"].to_list(), gaps["missing"].to_list(), strict=True)
            ],
            dtype=pl.String,
        ),
    )


def _date(value: object) -> date:
    assert isinstance(value, date)
    return value


def _intraday_slots(calendar: str, ts: pl.Series, step_ms: int) -> pl.Series:
    """Every step_ms from each session's open until its close, breaks excluded (UTC)."""
    first, last = ts.min(), ts.max()
    assert isinstance(first, datetime)
    assert isinstance(last, datetime)
    # Symbols of one source usually share their first and last bar: the slots once for all.
    return _slots(calendar, first, last, step_ms)


@functools.lru_cache(maxsize=64)
def _slots(calendar: str, first: datetime, last: datetime, step_ms: int) -> pl.Series:
    schedule = _schedule(calendar, first.date() - timedelta(days=7), last.date() + timedelta(1))
    sessions = (
        pl.from_pandas(schedule.reset_index(drop=True))
        .with_columns(pl.all().dt.cast_time_unit("ms").dt.convert_time_zone("UTC"))
        .filter((pl.col("close") > first) & (pl.col("open") <= last))
    )
    step = pl.duration(milliseconds=step_ms)
    slots = (
        sessions.with_columns(
            pl.int_ranges(
                0,
                ((pl.col("close") - pl.col("open")).dt.total_milliseconds() + step_ms - 1)
                // step_ms,
            ).alias("k")
        )
        .explode("k")
        .with_columns((pl.col("open") + step * pl.col("k")).alias("start"))
        .filter(
            pl.col("break_start").is_null()
            | (pl.col("start") < pl.col("break_start"))
            | (pl.col("start") >= pl.col("break_end"))
        )
    )
    return slots["start"].sort()


def _sessions(calendar: str, first: date, last: date) -> pl.Series:
    """The calendar's session dates from `first` to `last`."""
    schedule = _schedule(calendar, first, last)
    return pl.Series("session", [d.date() for d in schedule.index], dtype=pl.Date)


def _schedule(calendar: str, first: date, last: date) -> pd.DataFrame:
    cal = _calendar(calendar, first.year, last.year)
    start = max(pd.Timestamp(first), cal.first_session)
    end = min(pd.Timestamp(last), cal.last_session)
    return cal.schedule.loc[start:end]


@functools.lru_cache(maxsize=32)
def _calendar(name: str, first_year: int, last_year: int) -> xcals.ExchangeCalendar:
    """The calendar over whole years (cached: building one takes a moment)."""
    start = pd.Timestamp(date(first_year, 1, 1))
    end = pd.Timestamp(date(last_year, 12, 31))
    return xcals.get_calendar(name, start=start, end=end)
