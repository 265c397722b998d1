"""Sources of bars as users have them: several layouts in one universe through a sources file,
file names matched to symbols, newest-first files, Yahoo symbols, and one-line errors."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from trade2026_assets.bar_files import BarsFileError
from trade2026_assets.calendars import BarCalendar
from trade2026_assets.defs.market_data.resource import MarketDataResource
from trade2026_assets.settings import AssetsSettings, SettingsError, load_settings
from trade2026_assets.sources import Sources, SourcesError

YAHOO_HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def yahoo_rows(days: list[str], adjust: float = 0.5) -> str:
    return "".join(
        f"{day},{10 + i},{11 + i},{9 + i},{10.5 + i},{10.5 + i - adjust},{1000 + i}\n"
        for i, day in enumerate(days)
    )


def sources_file(tmp_path: Path, text: str) -> Path:
    return write(tmp_path / "sources.yaml", text)


def one_line(err: BaseException) -> str:
    message = str(err)
    assert "\n" not in message, message
    assert "validation error" not in message.lower()
    return message


def test_a_yahoo_file_and_a_us_dated_adj_close_file_in_one_universe(tmp_path: Path) -> None:
    write(
        tmp_path / "yahoo" / "^GSPC.csv",
        YAHOO_HEADER + yahoo_rows(["2024-01-02", "2024-01-03", "2024-01-04"]),
    )
    write(
        tmp_path / "exports" / "msft.csv",
        "date,open,high,low,close,adj close,volume\n"
        + yahoo_rows(["1/4/1999", "1/5/1999"], adjust=0.25),
    )
    file = sources_file(
        tmp_path,
        """
sources:
  indices:
    path: yahoo
    symbols: {SP500: "^GSPC"}
    calendar: XNYS
    timezone: America/New_York
  stocks:
    path: exports
    timestamp_format: "%m/%d/%Y"
    columns: {close: Adj Close}
    calendar: NYSE
    timezone: America/New_York
""",
    )
    settings = AssetsSettings(home=tmp_path / "home", sources_file=file)
    assert settings.market_source == "files"
    # No TRADE2026_SYMBOLS: the universe is what the sources name or hold.
    assert settings.universe == ["SP500", "MSFT"]

    resource = MarketDataResource(source="files", sources_file=str(file))
    bars = resource.bars(["SP500", "MSFT"])
    assert bars.select("symbol", "seq").rows() == [
        ("MSFT", 0),
        ("MSFT", 1),
        ("SP500", 0),
        ("SP500", 1),
        ("SP500", 2),
    ]
    msft = bars.filter(pl.col("symbol") == "MSFT")
    # Midnight in New York in January is 05:00 UTC; `Adj Close` was chosen as the close.
    assert msft["ts"].to_list() == [
        datetime(1999, 1, 4, 5, tzinfo=UTC),
        datetime(1999, 1, 5, 5, tzinfo=UTC),
    ]
    assert msft["close"].to_list() == [10.25, 11.25]
    # Yahoo's own Close is the close unless the source names another column.
    assert bars.filter(pl.col("symbol") == "SP500")["close"].to_list() == [10.5, 11.5, 12.5]
    assert resource.calendars(["SP500", "MSFT"]) == {
        "SP500": BarCalendar("XNYS", "America/New_York"),
        "MSFT": BarCalendar("NYSE", "America/New_York"),
    }


def test_a_yahoo_file_loads_with_the_default_environment(tmp_path: Path) -> None:
    write(tmp_path / "SPY.csv", YAHOO_HEADER + yahoo_rows(["2024-01-02", "2024-01-03"]))
    bars = MarketDataResource(source="files", path=str(tmp_path)).bars(["SPY"])
    assert bars["ts"].to_list() == [
        datetime(2024, 1, 2, tzinfo=UTC),
        datetime(2024, 1, 3, tzinfo=UTC),
    ]
    assert bars["close"].to_list() == [10.5, 11.5]


def test_us_dates_with_the_source_format(tmp_path: Path) -> None:
    write(tmp_path / "SPX.csv", YAHOO_HEADER + yahoo_rows(["1/4/1999", "12/31/1999"]))
    resource = MarketDataResource(source="files", path=str(tmp_path), timestamp_format="%m/%d/%Y")
    assert resource.bars(["SPX"])["ts"].to_list() == [
        datetime(1999, 1, 4, tzinfo=UTC),
        datetime(1999, 12, 31, tzinfo=UTC),
    ]


def test_the_timestamp_error_names_the_environment_setting(tmp_path: Path) -> None:
    file = write(tmp_path / "SPX.csv", YAHOO_HEADER + yahoo_rows(["1/4/1999"]))
    with pytest.raises(BarsFileError) as caught:
        MarketDataResource(source="files", path=str(tmp_path)).bars(["SPX"])
    assert one_line(caught.value) == (
        f"{file}, row 1: column 'Date' value '1/4/1999' is not a timestamp in ISO-8601 or "
        "'YYYY-MM-DD[ HH:MM[:SS]]'; set TRADE2026_BARS_TIMESTAMP_FORMAT to '%m/%d/%Y' if "
        "that is how the file writes them"
    )


def test_the_wrong_format_error_names_the_source_setting(tmp_path: Path) -> None:
    write(tmp_path / "data" / "SPX.csv", YAHOO_HEADER + yahoo_rows(["1/4/1999", "1/13/1999"]))
    file = sources_file(
        tmp_path, 'sources:\n  idx:\n    path: data\n    timestamp_format: "%d/%m/%Y"\n'
    )
    with pytest.raises(BarsFileError) as caught:
        Sources.from_file(file).load(["SPX"])
    message = one_line(caught.value)
    assert "row 2: column 'Date' value '1/13/1999' does not match" in message
    assert f"timestamp_format of source 'idx' in {file} '%d/%m/%Y'" in message
    assert "set timestamp_format of source 'idx'" in message
    assert "to '%m/%d/%Y'" in message


def test_a_file_stem_matches_its_symbol_in_any_case(tmp_path: Path) -> None:
    write(tmp_path / "sp500.csv", YAHOO_HEADER + yahoo_rows(["2024-01-02"]))
    write(tmp_path / "Nasdaq100.CSV", YAHOO_HEADER + yahoo_rows(["2024-01-02", "2024-01-03"]))
    bars = MarketDataResource(source="files", path=str(tmp_path)).bars(["SP500", "NASDAQ100"])
    assert bars.group_by("symbol").len().sort("symbol").rows() == [("NASDAQ100", 2), ("SP500", 1)]


def test_a_missing_symbol_names_the_files_it_looked_for(tmp_path: Path) -> None:
    write(tmp_path / "sp500.csv", YAHOO_HEADER + yahoo_rows(["2024-01-02"]))
    with pytest.raises(BarsFileError) as caught:
        MarketDataResource(source="files", path=str(tmp_path)).bars(["NDX"])
    message = one_line(caught.value)
    assert "has no symbol column, and no file is named after a requested symbol (NDX.csv" in (
        message
    )
    assert "TRADE2026_BARS_SYMBOL_COLUMN" in message


NEWEST_FIRST = YAHOO_HEADER + yahoo_rows(["2024-01-04", "2024-01-03", "2024-01-02"])


def test_a_newest_first_source_is_turned_around(tmp_path: Path) -> None:
    write(tmp_path / "data" / "SPX.csv", NEWEST_FIRST)
    file = sources_file(tmp_path, "sources:\n  idx:\n    path: data\n    row_order: newest_first\n")
    bars = Sources.from_file(file).load(["SPX"])
    assert bars["seq"].to_list() == [0, 1, 2]
    assert [ts.day for ts in bars["ts"].to_list()] == [2, 3, 4]
    assert bars["open"].to_list() == [12.0, 11.0, 10.0]
    # Without the setting the file keeps its order, for the checks to report.
    as_is = MarketDataResource(source="files", path=str(tmp_path / "data")).bars(["SPX"])
    assert [ts.day for ts in as_is["ts"].to_list()] == [4, 3, 2]


def test_yahoo_index_symbols(tmp_path: Path) -> None:
    write(tmp_path / "data" / "^GSPC.csv", YAHOO_HEADER + yahoo_rows(["2024-01-02"]))
    # Every file of the directory: the caret is dropped.
    file = sources_file(tmp_path, "sources:\n  idx:\n    path: data\n")
    assert Sources.from_file(file).symbols() == ["GSPC"]
    assert Sources.from_file(file).load(["GSPC"])["close"].to_list() == [10.5]

    # As a universe symbol: refused in one line, with what to write instead.
    with pytest.raises(SettingsError) as caught:
        load_settings(symbols="^GSPC,SPY")
    assert one_line(caught.value) == (
        "TRADE2026_SYMBOLS: '^GSPC' is not a usable symbol (A-Z, 0-9, '.', '-', '_'; at most "
        "32): call it 'GSPC' and map it to its files' name in a sources file "
        "(symbols: {GSPC: '^GSPC'})"
    )
    # Listed as a source's symbol: refused in one line naming the file, source and field.
    listed = sources_file(tmp_path, "sources:\n  idx:\n    path: data\n    symbols: ['^GSPC']\n")
    with pytest.raises(SourcesError) as refused:
        Sources.from_file(listed)
    assert one_line(refused.value).startswith(
        f"{listed}: source 'idx', field 'symbols': '^GSPC' is not a usable symbol"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "sources:\n  idx:\n    path: d\n    calendar: NYSX\n",
            "source 'idx', field 'calendar': unknown trading calendar 'NYSX'",
        ),
        (
            "sources:\n  idx:\n    path: d\n    timezone: Mars/Base\n",
            "source 'idx', field 'timezone': timezone: unknown time zone 'Mars/Base'",
        ),
        (
            "sources:\n  idx:\n    path: d\n    colums: {}\n",
            "source 'idx', field 'colums': unknown field",
        ),
        ("sources:\n  idx:\n    symbols: [SPY]\n", "source 'idx', field 'path': is required"),
        (
            "sources:\n  idx:\n    path: d\n    row_order: newest\n",
            "source 'idx', field 'row_order': Input should be 'oldest_first' or 'newest_first'",
        ),
        ("sources: [\n", "is not valid YAML"),
        ("sources: {}\n", "field 'sources': Dictionary should have at least 1 item"),
        ("sources:\n  idx:\n    path: missing\n", "source 'idx', path"),
    ],
)
def test_sources_file_errors_are_one_line(tmp_path: Path, text: str, problem: str) -> None:
    file = sources_file(tmp_path, text)
    with pytest.raises(SourcesError) as caught:
        Sources.from_file(file)
    message = one_line(caught.value)
    assert message.startswith(f"{file}: ")
    assert problem in message


def test_settings_with_a_bad_sources_file_fail_in_one_line(tmp_path: Path) -> None:
    file = sources_file(tmp_path, "sources:\n  idx:\n    path: d\n    calendar: NYSX\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(sources_file=file)
    assert one_line(caught.value).startswith(f"{file}: source 'idx', field 'calendar'")


def test_explicit_symbols_must_belong_to_a_source(tmp_path: Path) -> None:
    write(tmp_path / "data" / "SPY.csv", YAHOO_HEADER + yahoo_rows(["2024-01-02"]))
    file = sources_file(tmp_path, "sources:\n  etf:\n    path: data\n")
    assert load_settings(sources_file=file, symbols="SPY").universe == ["SPY"]
    with pytest.raises(SettingsError, match="no source has symbol 'QQQ' \\(symbols: SPY\\)"):
        load_settings(sources_file=file, symbols="SPY,QQQ")
    with pytest.raises(SettingsError, match="TRADE2026_MARKET_SOURCE is 'synthetic'"):
        load_settings(sources_file=file, market_source="synthetic")


def test_a_symbol_in_two_sources_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "a" / "SPY.csv", YAHOO_HEADER + yahoo_rows(["2024-01-02"]))
    write(tmp_path / "b" / "spy.csv", YAHOO_HEADER + yahoo_rows(["2024-01-02"]))
    file = sources_file(tmp_path, "sources:\n  one:\n    path: a\n  two:\n    path: b\n")
    with pytest.raises(SourcesError, match="symbol 'SPY' is in source 'one' and in source 'two'"):
        Sources.from_file(file).symbols()


def test_pandas_index_columns_are_the_timestamp(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "Open": [1.0, 2.0],
            "High": [2.0, 3.0],
            "Low": [0.5, 1.5],
            "Close": [1.5, 2.5],
            "Volume": [10, 20],
        },
        index=pd.to_datetime(["2024-01-02", "2024-01-03"]),
    )
    frame.to_parquet(tmp_path / "AAA.parquet")  # the index becomes __index_level_0__
    frame.to_csv(tmp_path / "BBB.csv")  # an unnamed first column
    bars = MarketDataResource(source="files", path=str(tmp_path)).bars(["AAA", "BBB"])
    days = [date(2024, 1, 2), date(2024, 1, 3)]
    for symbol in ("AAA", "BBB"):
        mine = bars.filter(pl.col("symbol") == symbol)
        assert [ts.date() for ts in mine["ts"].to_list()] == days
        assert mine["close"].to_list() == [1.5, 2.5]


def test_two_columns_matching_one_field_are_refused(tmp_path: Path) -> None:
    file = write(
        tmp_path / "X.csv",
        "date,Date,open,high,low,close,volume\n2024-01-02,2024-01-02,1,1,1,1,1\n",
    )
    with pytest.raises(BarsFileError) as caught:
        MarketDataResource(source="files", path=str(tmp_path)).bars(["X"])
    assert one_line(caught.value) == (
        f"{file}: columns 'date', 'Date' both match timestamp; name the one to use with "
        "TRADE2026_BARS_TIMESTAMP_COLUMN"
    )
