"""The market-data resource: synthetic bars, or the user's files through their sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from scripts.harness.dagster_runs import resource_of
from trade2026_assets.bar_files import BarsFileError
from trade2026_assets.bars import BAR_COLUMNS, BARS_SCHEMA
from trade2026_assets.calendars import BarCalendar
from trade2026_assets.definitions import build_definitions
from trade2026_assets.defs.market_data.resource import MarketDataResource
from trade2026_assets.settings import AssetsSettings
from trade2026_assets.synthetic import synthetic_bars

HEADER = "timestamp,open,high,low,close,volume\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def assert_schema(bars: pl.DataFrame) -> None:
    assert bars.schema == pl.Schema(BARS_SCHEMA)
    assert bars.columns == ["symbol", "seq", "ts", *BAR_COLUMNS]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_resource_synthetic() -> None:
    resource = MarketDataResource(
        n_bars=300, seed=3, predictability=0.1, bar_minutes=5, start="2024-01-02T00:00:00Z"
    )
    bars = resource.bars(["MSFT", "AAPL", "MSFT"])
    assert_schema(bars)
    expected = pl.concat(
        [
            synthetic_bars(s, seed=3, n_bars=300, predictability=0.1, bar_minutes=5)
            for s in ("AAPL", "MSFT")
        ]
    )
    assert_frame_equal(bars, expected)
    assert bars["ts"][0] == utc(2024, 1, 2)


def test_resource_synthetic_bars_end_at_the_last_complete_interval() -> None:
    # Without a start, serving gets fresh bars: the last one opened one interval before
    # the current interval began, whatever the time now.
    before = datetime.now(UTC)
    bars = MarketDataResource(n_bars=50, bar_minutes=15).bars(["AAPL"])
    after = datetime.now(UTC)
    last = bars["ts"][-1]
    assert before - timedelta(minutes=30) <= last <= after - timedelta(minutes=15)
    assert last.minute % 15 == 0
    assert last.second == 0
    assert bars["ts"].diff().drop_nulls().unique().to_list() == [timedelta(minutes=15)]
    # The values are the seed's, wherever the bars start.
    pinned = MarketDataResource(n_bars=50, bar_minutes=15, start="2024-01-02T00:00:00Z")
    assert_frame_equal(bars.drop("ts"), pinned.bars(["AAPL"]).drop("ts"))


def test_resource_synthetic_start_must_be_iso_8601() -> None:
    with pytest.raises(ValueError, match="start: not an ISO-8601 time: 'yesterday'"):
        MarketDataResource(start="yesterday").bars(["AAPL"])


def test_resource_synthetic_start_must_have_an_offset() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        MarketDataResource(start="2024-01-02T00:00:00").bars(["AAPL"])


def test_resource_files(tmp_path: Path) -> None:
    write(
        tmp_path / "quotes.csv",
        "sym,time,o,h,l,c,v\nAAPL,01/03/2024 09:30,1,2,0.5,1.5,10\n",
    )
    resource = MarketDataResource(
        source="files",
        path=str(tmp_path),
        symbol_column="sym",
        timestamp_column="time",
        open_column="o",
        high_column="h",
        low_column="l",
        close_column="c",
        volume_column="v",
        timestamp_format="%d/%m/%Y %H:%M",
        timezone="America/New_York",
    )
    bars = resource.bars(["AAPL"])
    assert_schema(bars)
    assert bars.row(0) == ("AAPL", 0, utc(2024, 3, 1, 14, 30), 1.0, 2.0, 0.5, 1.5, 10.0)


def test_resource_files_defaults(tmp_path: Path) -> None:
    write(tmp_path / "AAPL.csv", HEADER + "2024-03-01T09:30:00Z,1,2,0.5,1.5,10\n")
    bars = MarketDataResource(source="files", path=str(tmp_path)).bars(["AAPL"])
    assert bars.row(0) == ("AAPL", 0, utc(2024, 3, 1, 9, 30), 1.0, 2.0, 0.5, 1.5, 10.0)


def test_resource_files_needs_a_path() -> None:
    with pytest.raises(ValueError, match="TRADE2026_BARS_PATH: source 'files' needs a directory"):
        MarketDataResource(source="files").bars(["AAPL"])


def test_resource_rejects_a_bad_file_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file_format"):
        MarketDataResource(source="files", path=str(tmp_path), file_format="xls").bars(["A"])


def test_resource_calendars() -> None:
    assert MarketDataResource().calendars(["SYNA"]) == {"SYNA": BarCalendar("24/7")}
    files = MarketDataResource(
        source="files", path="/data", calendar="xnys", timezone="America/New_York"
    )
    assert files.calendars(["SPX", "NDX"]) == {
        symbol: BarCalendar("XNYS", "America/New_York") for symbol in ("SPX", "NDX")
    }


def test_resource_rejects_an_unknown_calendar_naming_the_variable() -> None:
    with pytest.raises(
        BarsFileError, match=r"^/data: TRADE2026_BARS_CALENDAR: unknown trading calendar 'NYSX'"
    ):
        MarketDataResource(source="files", path="/data", calendar="NYSX").calendars(["SPX"])


def test_settings_configure_the_resource(tmp_path: Path) -> None:
    settings = AssetsSettings(
        home=tmp_path,
        symbols="SPX",
        market_source="files",
        bars_path=str(tmp_path),
        bars_calendar="XNYS",
        bars_row_order="newest_first",
        bars_close_column="Adj Close",
    )
    resource = resource_of(build_definitions(settings), "market_data", MarketDataResource)
    assert (resource.calendar, resource.row_order, resource.close_column) == (
        "XNYS",
        "newest_first",
        "Adj Close",
    )
