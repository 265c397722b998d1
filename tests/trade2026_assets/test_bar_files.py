"""Reading a user's bar files: layouts, formats, column matching, and errors that name the
file, the row and the setting to change."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from trade2026_assets.bar_files import BarFileLayout, BarsFileError, load_bar_files
from trade2026_assets.bars import BAR_COLUMNS, BARS_SCHEMA

HEADER = "timestamp,open,high,low,close,volume\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def assert_schema(bars: pl.DataFrame) -> None:
    assert bars.schema == pl.Schema(BARS_SCHEMA)
    assert bars.columns == ["symbol", "seq", "ts", *BAR_COLUMNS]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# Files: layouts and formats


def test_per_symbol_csv(tmp_path: Path) -> None:
    write(
        tmp_path / "AAPL.csv",
        HEADER + "2024-03-01T09:30:00Z,10,11,9,10.5,100\n2024-03-01T09:31:00Z,10.5,12,10,11,200\n",
    )
    write(tmp_path / "MSFT.csv", HEADER + "2024-03-01 09:30,20,21,19,20.5,300\n")
    bars = load_bar_files(tmp_path, ["MSFT", "AAPL"])
    assert_schema(bars)
    assert bars.select("symbol", "seq").rows() == [("AAPL", 0), ("AAPL", 1), ("MSFT", 0)]
    assert bars["ts"].to_list() == [
        utc(2024, 3, 1, 9, 30),
        utc(2024, 3, 1, 9, 31),
        utc(2024, 3, 1, 9, 30),
    ]
    assert bars.row(1)[3:] == (10.5, 12.0, 10.0, 11.0, 200.0)


def test_per_symbol_parquet_with_typed_columns(tmp_path: Path) -> None:
    pl.DataFrame(
        {
            "timestamp": [datetime(2024, 3, 1, 9, 30), datetime(2024, 3, 1, 9, 31)],
            "open": [10, 11],
            "high": [11.5, 12.5],
            "low": [9.5, 10.5],
            "close": [11.0, 12.0],
            "volume": [100, 200],
        }
    ).write_parquet(tmp_path / "AAPL.parquet")
    pl.DataFrame(
        {
            "timestamp": ["2024-03-01T09:30:00+01:00"],
            "open": ["20"],
            "high": ["21"],
            "low": ["19"],
            "close": ["20.5"],
            "volume": ["300"],
        }
    ).write_parquet(tmp_path / "MSFT.parquet")
    bars = load_bar_files(tmp_path, ["AAPL", "MSFT"], BarFileLayout(timezone="Europe/Berlin"))
    assert_schema(bars)
    # Naive parquet datetimes are local times in `timezone` (CET is UTC+1 in March).
    assert bars["ts"].to_list() == [
        utc(2024, 3, 1, 8, 30),
        utc(2024, 3, 1, 8, 31),
        utc(2024, 3, 1, 8, 30),
    ]
    assert bars["open"].to_list() == [10.0, 11.0, 20.0]
    assert bars["volume"].to_list() == [100.0, 200.0, 300.0]


def test_parquet_aware_and_date_timestamps(tmp_path: Path) -> None:
    pl.DataFrame(
        {
            "timestamp": [utc(2024, 3, 1, 14, 30)],
            "open": [1.0],
            "high": [1.0],
            "low": [1.0],
            "close": [1.0],
            "volume": [1.0],
        }
    ).with_columns(pl.col("timestamp").dt.convert_time_zone("Asia/Tokyo")).write_parquet(
        tmp_path / "AAPL.parquet"
    )
    pl.DataFrame(
        {
            "timestamp": [date(2024, 3, 1)],
            "open": [1.0],
            "high": [1.0],
            "low": [1.0],
            "close": [1.0],
            "volume": [1.0],
        }
    ).write_parquet(tmp_path / "MSFT.parquet")
    bars = load_bar_files(tmp_path, ["AAPL", "MSFT"], BarFileLayout(timezone="America/New_York"))
    assert bars["ts"].to_list() == [utc(2024, 3, 1, 14, 30), utc(2024, 3, 1, 5, 0)]


def test_long_csv_with_symbol_column(tmp_path: Path) -> None:
    write(
        tmp_path / "bars.csv",
        "symbol,timestamp,open,high,low,close,volume\n"
        "AAPL,2024-03-01 09:30,1,2,0.5,1.5,10\n"
        "MSFT,2024-03-01 09:30,5,6,4,5.5,50\n"
        "GOOG,2024-03-01 09:30,7,8,6,7.5,70\n"
        "AAPL,2024-03-01 09:31,1.5,2,1,1.8,11\n",
    )
    bars = load_bar_files(tmp_path, ["AAPL", "MSFT"])
    assert_schema(bars)
    assert bars.select("symbol", "seq", "close").rows() == [
        ("AAPL", 0, 1.5),
        ("AAPL", 1, 1.8),
        ("MSFT", 0, 5.5),
    ]


def test_long_files_are_read_in_name_order(tmp_path: Path) -> None:
    header = "symbol,timestamp,open,high,low,close,volume\n"
    write(tmp_path / "2024-02.csv", header + "AAPL,2024-02-01,2,2,2,2,1\n")
    write(tmp_path / "2024-01.csv", header + "AAPL,2024-01-01,1,1,1,1,1\n")
    pl.DataFrame(
        {
            "symbol": ["AAPL"],
            "timestamp": ["2024-03-01"],
            "open": [3.0],
            "high": [3.0],
            "low": [3.0],
            "close": [3.0],
            "volume": [1.0],
        }
    ).write_parquet(tmp_path / "2024-03.parquet")
    bars = load_bar_files(tmp_path, ["AAPL"])
    assert bars["close"].to_list() == [1.0, 2.0, 3.0]
    assert bars["seq"].to_list() == [0, 1, 2]
    assert load_bar_files(tmp_path, ["AAPL"], BarFileLayout(file_format="csv"))[
        "close"
    ].to_list() == [1.0, 2.0]
    only_parquet = load_bar_files(tmp_path, ["AAPL"], BarFileLayout(file_format="parquet"))
    assert only_parquet["close"].to_list() == [3.0]


def test_custom_column_names(tmp_path: Path) -> None:
    write(
        tmp_path / "prices.csv",
        "Ticker,Time,O,H,L,C,V\n" + "ES,2024-03-01 09:30:00,1,2,0.5,1.5,10\n",
    )
    bars = load_bar_files(
        tmp_path,
        ["ES"],
        BarFileLayout(
            columns={
                "symbol": "Ticker",
                "timestamp": "Time",
                "open": "O",
                "high": "H",
                "low": "L",
                "close": "C",
                "volume": "V",
            }
        ),
    )
    assert bars.row(0) == ("ES", 0, utc(2024, 3, 1, 9, 30), 1.0, 2.0, 0.5, 1.5, 10.0)


def test_timestamp_format(tmp_path: Path) -> None:
    write(
        tmp_path / "AAPL.csv", HEADER + "01/03/2024 09:30,1,1,1,1,1\n13/03/2024 16:00,1,1,1,1,1\n"
    )
    bars = load_bar_files(tmp_path, ["AAPL"], BarFileLayout(timestamp_format="%d/%m/%Y %H:%M"))
    assert bars["ts"].to_list() == [utc(2024, 3, 1, 9, 30), utc(2024, 3, 13, 16, 0)]


def test_timestamp_format_with_offset(tmp_path: Path) -> None:
    write(tmp_path / "AAPL.csv", HEADER + "01/03/2024 09:30 -0500,1,1,1,1,1\n")
    bars = load_bar_files(
        tmp_path,
        ["AAPL"],
        BarFileLayout(timestamp_format="%d/%m/%Y %H:%M %z", timezone="Asia/Tokyo"),
    )
    assert bars["ts"].to_list() == [utc(2024, 3, 1, 14, 30)]


def test_naive_timestamps_are_local_to_the_timezone(tmp_path: Path) -> None:
    write(
        tmp_path / "AAPL.csv",
        HEADER
        + "2024-03-01 09:30,1,1,1,1,1\n2024-07-01T09:30:00,1,1,1,1,1\n2024-03-02,1,1,1,1,1\n",
    )
    bars = load_bar_files(tmp_path, ["AAPL"], BarFileLayout(timezone="America/New_York"))
    assert bars["ts"].dtype == pl.Datetime("ms", "UTC")
    # EST (UTC-5) in March, EDT (UTC-4) in July.
    assert bars["ts"].to_list() == [
        utc(2024, 3, 1, 14, 30),
        utc(2024, 7, 1, 13, 30),
        utc(2024, 3, 2, 5, 0),
    ]


def test_offsets_in_the_data_win_over_the_timezone(tmp_path: Path) -> None:
    write(
        tmp_path / "AAPL.csv",
        HEADER + "2024-03-01T09:30:00+05:00,1,1,1,1,1\n"
        "2024-03-01T09:30:00.250Z,1,1,1,1,1\n"
        "2024-03-01 09:30-0130,1,1,1,1,1\n"
        "2024-03-01 09:30,1,1,1,1,1\n",
    )
    bars = load_bar_files(tmp_path, ["AAPL"], BarFileLayout(timezone="America/New_York"))
    assert bars["ts"].to_list() == [
        utc(2024, 3, 1, 4, 30),
        utc(2024, 3, 1, 9, 30) + timedelta(milliseconds=250),
        utc(2024, 3, 1, 11, 0),
        utc(2024, 3, 1, 14, 30),
    ]


def test_source_order_and_every_row_are_kept(tmp_path: Path) -> None:
    write(
        tmp_path / "AAPL.csv",
        HEADER + "2024-03-01 09:32,3,3,3,3,3\n"
        "2024-03-01 09:30,1,1,1,1,1\n"
        "2024-03-01 09:30,1,1,1,1,1\n"
        "2024-03-01 09:31,2,2,2,2,2\n",
    )
    bars = load_bar_files(tmp_path, ["AAPL"])
    assert bars["seq"].to_list() == [0, 1, 2, 3]
    assert bars["close"].to_list() == [3.0, 1.0, 1.0, 2.0]
    assert [t.minute for t in bars["ts"].to_list()] == [32, 30, 30, 31]


def test_empty_cells_are_nulls_and_bad_values_pass_through(tmp_path: Path) -> None:
    write(
        tmp_path / "AAPL.csv",
        HEADER + "2024-03-01 09:30,,1,1,1,1\n,1,1,1, ,1\n2024-03-01 09:32,-1,0.5,2,1,-7\n\n",
    )
    bars = load_bar_files(tmp_path, ["AAPL"])
    # The blank last line is not a bar; every other row is kept for the checks to judge.
    assert bars.height == 3
    assert bars["open"].to_list() == [None, 1.0, -1.0]
    assert bars["close"].to_list() == [1.0, None, 1.0]
    assert bars["ts"][1] is None
    assert bars.row(2)[3:] == (-1.0, 0.5, 2.0, 1.0, -7.0)


def test_per_symbol_file_may_repeat_its_symbol(tmp_path: Path) -> None:
    write(
        tmp_path / "AAPL.csv",
        "symbol," + HEADER + "AAPL,2024-03-01,1,1,1,1,1\n,2024-03-02,1,1,1,1,1\n",
    )
    assert load_bar_files(tmp_path, ["AAPL"])["symbol"].to_list() == ["AAPL", "AAPL"]


def test_no_symbols_gives_an_empty_frame(tmp_path: Path) -> None:
    bars = load_bar_files(tmp_path, [])
    assert_schema(bars)
    assert bars.height == 0


# --------------------------------------------------------------------------------------------
# Files: errors


def test_missing_columns(tmp_path: Path) -> None:
    file = write(tmp_path / "AAPL.csv", "timestamp,open,close\n2024-03-01,1,1\n")
    with pytest.raises(BarsFileError) as caught:
        load_bar_files(tmp_path, ["AAPL"])
    err = caught.value
    assert err.file == str(file)
    assert err.row is None
    assert "'high', 'low', 'volume'" in err.problem
    assert "found columns: 'timestamp', 'open', 'close'" in err.problem
    assert str(err).startswith(f"{file}: missing column(s)")


def test_long_file_needs_the_symbol_column(tmp_path: Path) -> None:
    file = write(tmp_path / "bars.csv", HEADER + "2024-03-01,1,1,1,1,1\n")
    with pytest.raises(BarsFileError, match="has no symbol column, and no file is named") as caught:
        load_bar_files(tmp_path, ["AAPL"])
    assert caught.value.file == str(file)
    assert caught.value.row is None


def test_unparsable_timestamp(tmp_path: Path) -> None:
    file = write(
        tmp_path / "AAPL.csv",
        HEADER + "2024-03-01 09:30,1,1,1,1,1\n2024-03-01 09:31,1,1,1,1,1\n"
        "2024-13-01 09:32,1,1,1,1,1\nyesterday,1,1,1,1,1\n",
    )
    with pytest.raises(BarsFileError) as caught:
        load_bar_files(tmp_path, ["AAPL"])
    err = caught.value
    assert (err.file, err.row) == (str(file), 3)
    assert "column 'timestamp' value '2024-13-01 09:32' is not a timestamp" in err.problem
    assert str(err).startswith(f"{file}, row 3: column 'timestamp'")


def test_timestamp_not_matching_the_format(tmp_path: Path) -> None:
    file = write(tmp_path / "AAPL.csv", HEADER + "01/03/2024,1,1,1,1,1\n2024-03-02,1,1,1,1,1\n")
    with pytest.raises(BarsFileError) as caught:
        load_bar_files(tmp_path, ["AAPL"], BarFileLayout(timestamp_format="%d/%m/%Y"))
    err = caught.value
    assert (err.file, err.row) == (str(file), 2)
    assert "value '2024-03-02' does not match timestamp_format '%d/%m/%Y'" in err.problem


def test_non_numeric_price(tmp_path: Path) -> None:
    rows = "".join(f"2024-03-01 09:{m:02d},1,1,1,1,1\n" for m in range(16))
    file = write(tmp_path / "bars.csv", HEADER + rows + "2024-03-01 09:16,1,1,1,abc,1\n")
    with pytest.raises(BarsFileError) as caught:
        load_bar_files(tmp_path, ["bars"])
    err = caught.value
    assert (err.file, err.row) == (str(file), 17)
    assert str(err) == f"{file}, row 17: column 'close' value 'abc' is not a number"


def test_non_numeric_volume_in_a_long_file_reports_the_file_row(tmp_path: Path) -> None:
    file = write(
        tmp_path / "bars.csv",
        "symbol,timestamp,open,high,low,close,volume\n"
        "MSFT,2024-03-01,1,1,1,1,oops\n"  # not requested: not judged
        "AAPL,2024-03-01,1,1,1,1,1\n"
        "AAPL,2024-03-02,1,1,1,1,1 000\n",
    )
    with pytest.raises(BarsFileError) as caught:
        load_bar_files(tmp_path, ["AAPL"])
    assert (caught.value.file, caught.value.row) == (str(file), 3)
    assert "column 'volume' value '1 000' is not a number" in caught.value.problem


@pytest.mark.parametrize("content", ["", HEADER])
def test_empty_file(tmp_path: Path, content: str) -> None:
    file = write(tmp_path / "AAPL.csv", content)
    with pytest.raises(BarsFileError, match="is empty") as caught:
        load_bar_files(tmp_path, ["AAPL"])
    assert caught.value.file == str(file)
    assert caught.value.row is None


def test_unreadable_parquet(tmp_path: Path) -> None:
    file = tmp_path / "AAPL.parquet"
    file.write_bytes(b"not a parquet file")
    with pytest.raises(BarsFileError, match="cannot be read as Parquet") as caught:
        load_bar_files(tmp_path, ["AAPL"])
    assert caught.value.file == str(file)


def test_ragged_csv(tmp_path: Path) -> None:
    file = write(tmp_path / "AAPL.csv", HEADER + "2024-03-01,1,1,1,1,1,1\n")
    with pytest.raises(BarsFileError, match="cannot be read as CSV") as caught:
        load_bar_files(tmp_path, ["AAPL"])
    assert caught.value.file == str(file)


def test_missing_symbol_per_symbol_layout(tmp_path: Path) -> None:
    write(tmp_path / "AAPL.csv", HEADER + "2024-03-01,1,1,1,1,1\n")
    with pytest.raises(BarsFileError) as caught:
        load_bar_files(tmp_path, ["AAPL", "MSFT"])
    err = caught.value
    assert (err.file, err.row) == (str(tmp_path), None)
    assert err.problem.startswith("no bars for symbol 'MSFT'")


def test_missing_symbol_long_layout(tmp_path: Path) -> None:
    write(tmp_path / "bars.csv", "symbol," + HEADER + "AAPL,2024-03-01,1,1,1,1,1\n")
    with pytest.raises(BarsFileError) as caught:
        load_bar_files(tmp_path, ["AAPL", "MSFT"])
    err = caught.value
    assert (err.file, err.row) == (str(tmp_path), None)
    assert err.problem.startswith("no bars for symbol 'MSFT'")
    assert "bars.csv" in err.problem


def test_missing_symbol_in_an_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(BarsFileError, match="no bars for symbol 'AAPL'"):
        load_bar_files(tmp_path, ["AAPL"])


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(BarsFileError, match="is not a directory") as caught:
        load_bar_files(tmp_path / "nowhere", ["AAPL"])
    assert caught.value.file == str(tmp_path / "nowhere")


def test_symbol_with_two_files(tmp_path: Path) -> None:
    write(tmp_path / "AAPL.csv", HEADER + "2024-03-01,1,1,1,1,1\n")
    pl.read_csv(tmp_path / "AAPL.csv").write_parquet(tmp_path / "AAPL.parquet")
    with pytest.raises(BarsFileError, match="more than one file"):
        load_bar_files(tmp_path, ["AAPL"])
    assert load_bar_files(tmp_path, ["AAPL"], BarFileLayout(file_format="parquet")).height == 1


def test_per_symbol_file_with_another_symbol(tmp_path: Path) -> None:
    file = write(
        tmp_path / "AAPL.csv",
        "symbol," + HEADER + "AAPL,2024-03-01,1,1,1,1,1\nMSFT,2024-03-02,1,1,1,1,1\n",
    )
    with pytest.raises(BarsFileError, match="value 'MSFT' is not the file name's symbol") as caught:
        load_bar_files(tmp_path, ["AAPL"])
    assert (caught.value.file, caught.value.row) == (str(file), 2)


@pytest.mark.parametrize(
    ("value", "what"),
    [("2024-03-10 02:30", "does not exist"), ("2024-11-03 01:30", "is ambiguous")],
)
def test_local_times_without_a_utc_instant(tmp_path: Path, value: str, what: str) -> None:
    file = write(tmp_path / "AAPL.csv", HEADER + f"2024-03-01,1,1,1,1,1\n{value},1,1,1,1,1\n")
    with pytest.raises(BarsFileError, match=what) as caught:
        load_bar_files(tmp_path, ["AAPL"], BarFileLayout(timezone="America/New_York"))
    assert (caught.value.file, caught.value.row) == (str(file), 2)
    assert repr(value) in caught.value.problem


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", ""])
def test_invalid_timezone(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        load_bar_files(tmp_path, ["AAPL"], BarFileLayout(timezone=name))


def test_invalid_file_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file_format"):
        load_bar_files(tmp_path, ["AAPL"], BarFileLayout(file_format="xlsx"))  # type: ignore[arg-type]


def test_error_message_layout() -> None:
    err = BarsFileError(file="bars.csv", row=17, problem="column 'close' value 'abc' is bad")
    assert str(err) == "bars.csv, row 17: column 'close' value 'abc' is bad"
    assert str(BarsFileError(file="bars.csv", row=None, problem="is empty")) == (
        "bars.csv: is empty"
    )
    assert isinstance(err, ValueError)


def test_separate_date_and_time_columns_make_the_timestamp(tmp_path: Path) -> None:
    write(
        tmp_path / "EURUSD.csv",
        "Date,Time,Open,High,Low,Close,Volume\n"
        "2024.01.02,13:00,1.1,1.2,1.0,1.15,10\n2024.01.02,14:00,1.1,1.2,1.0,1.15,10\n",
    )
    bars = load_bar_files(tmp_path, ["EURUSD"], BarFileLayout(timestamp_format="%Y.%m.%d %H:%M"))
    assert bars["ts"].to_list() == [utc(2024, 1, 2, 13), utc(2024, 1, 2, 14)]


def test_columns_match_in_any_case_and_adj_close_only_when_named(tmp_path: Path) -> None:
    write(
        tmp_path / "SPY.csv",
        "DATE,OPEN,HIGH,LOW,CLOSE,ADJ CLOSE,VOLUME,OpenInt\n2024-01-02,1,2,0.5,1.5,1.4,10,0\n",
    )
    assert load_bar_files(tmp_path, ["SPY"])["close"].to_list() == [1.5]
    adjusted = load_bar_files(tmp_path, ["SPY"], BarFileLayout(columns={"close": "adj close"}))
    assert adjusted["close"].to_list() == [1.4]
