"""Reading a user's OHLCV files (CSV / Parquet) into the bars frame.

Files keep every row, duplicates, out-of-order timestamps and bad values included, so that the
asset checks downstream can see and report them; only structural problems (unreadable file,
missing column, unparsable timestamp or number) raise `BarsFileError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import polars as pl

from trade2026_assets.bars import BAR_COLUMNS, BARS_SCHEMA

FileFormat = Literal["auto", "csv", "parquet"]
RowOrder = Literal["oldest_first", "newest_first"]
# Our fields, in the order the frame has them; `symbol` is only needed in long files.
FIELDS = ("symbol", "timestamp", *BAR_COLUMNS)
# Column names each field is recognised by when the source names none, compared
# case-insensitively and ignoring surrounding spaces; the first alias a file has wins.
# `Adj Close` is not an alias of close: name it as the close column to use it.
ALIASES: dict[str, tuple[str, ...]] = {
    "symbol": ("symbol", "ticker", "sym", "instrument"),
    "timestamp": ("timestamp", "datetime", "date", "time", "ts", "date_time", "gmt time"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c", "last", "price"),
    "volume": ("volume", "vol", "v"),
}
# The index pandas writes without a name: an empty CSV header, `Unnamed: 0` once read back by
# pandas, `__index_level_0__` in Parquet. It is the timestamp only when no column is named so.
INDEX_COLUMNS = ("", "unnamed: 0", "index", "__index_level_0__")
# Symbols are used as partition keys and table values; file stems are compared to them
# case-insensitively.
SYMBOL_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,31}")

_SUFFIXES: dict[FileFormat, tuple[str, ...]] = {
    "auto": (".csv", ".parquet"),
    "csv": (".csv",),
    "parquet": (".parquet",),
}
# Inference accepts ISO-8601 and "YYYY-MM-DD[ HH:MM[:SS[.fff]]]"; a "T" separator is first
# turned into a space, so one list of patterns covers both. Offsets: +05:00, +0500, +05, Z.
_NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d")
_AWARE_FORMATS = ("%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M%#z")
# Formats suggested when inference fails and one of them reads the value.
_SUGGESTED_FORMATS = (
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
    "%Y%m%d",
    "%Y/%m/%d",
)
_ROW = "__row"


class BarsFileError(ValueError):
    """A user's bars file is unusable.

    `row` is the 1-based data row (the header is not counted), None when the problem is not
    one row's.
    """

    def __init__(self, *, file: str, row: int | None, problem: str) -> None:
        self.file = file
        self.row = row
        self.problem = problem
        where = file if row is None else f"{file}, row {row}"
        super().__init__(f"{where}: {problem}")


def _default_setting(name: str) -> str:
    return name


@dataclass(frozen=True)
class BarFileLayout:
    """How one source's files are written.

    `columns` maps our fields (`symbol`, `timestamp`, `open` … `volume`) to the file's column
    names; a field left out is found by its aliases (ALIASES). `setting` names, for error
    messages, the setting a user changes for a field of this layout (`timestamp_format`,
    `timezone`, `file_format`, `row_order`, `columns.<field>`).
    """

    file_format: FileFormat = "auto"
    columns: Mapping[str, str] = field(default_factory=dict)
    timestamp_format: str | None = None
    timezone: str = "UTC"
    row_order: RowOrder = "oldest_first"
    setting: Callable[[str], str] = _default_setting

    def __post_init__(self) -> None:
        unknown = sorted(set(self.columns) - set(FIELDS))
        if unknown:
            raise ValueError(
                f"{self.setting('columns')}: unknown field(s) {unknown}; use {list(FIELDS)}"
            )
        check_file_format(self.file_format)
        check_timezone(self.timezone, self.setting("timezone"))


def load_bar_files(
    path: str | Path,
    symbols: Sequence[str],
    layout: BarFileLayout | None = None,
    *,
    names: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """Bars of `symbols` from the CSV / Parquet files in the directory `path`.

    `names` maps a symbol to the name the files use for it (a file stem or a value of the
    symbol column, e.g. ``{"GSPC": "^GSPC"}``); by default a symbol is its own name.

    Layout, detected from the file names:

    * One file per symbol: the directory holds a file whose stem is a requested symbol's
      name, compared case-insensitively (``sp500.csv`` is SP500's). Every requested symbol
      then needs its own file. A symbol column is not needed; if present, its values must be
      the file's symbol.
    * Long files: otherwise every ``*.csv`` / ``*.parquet`` file (in name order) must have a
      symbol column, and the rows of the requested symbols are selected.

    `layout.file_format` restricts which extensions are read ("auto": both). Each symbol's
    rows keep their source order (file name order, then row order; reversed when
    `layout.row_order` is "newest_first") and `seq` numbers them from 0. Nothing is sorted,
    deduplicated or dropped except lines with no value at all (blank lines); empty cells
    become nulls for the checks to report.

    Timestamps are parsed with `layout.timestamp_format` (a strftime/chrono pattern) when
    given, else as ISO-8601 or "YYYY-MM-DD[ HH:MM[:SS]]". Naive timestamps are local times in
    `layout.timezone` (an IANA name); timestamps with an offset are taken as they say. All are
    returned in UTC. Parquet datetime columns are used as they are (naive ones in the zone).

    Raises BarsFileError (naming the file, the 1-based data row when it is one row's problem,
    the problem and the setting to change) when the directory is missing, a requested symbol
    has no bars, a file is unreadable, empty or lacks a required column, or a timestamp or
    price/volume value cannot be parsed.
    """
    layout = layout or BarFileLayout()
    names = names or {}
    directory = Path(path)
    if not directory.is_dir():
        raise BarsFileError(file=str(directory), row=None, problem="is not a directory")
    wanted = list(dict.fromkeys(symbols))
    if not wanted:
        return pl.DataFrame(schema=BARS_SCHEMA)
    files = bar_files(directory, layout.file_format)
    parse = _Parser(layout)

    by_stem: dict[str, list[Path]] = {}
    for file in files:
        by_stem.setdefault(file.stem.strip().upper(), []).append(file)
    name_of = {symbol: names.get(symbol, symbol) for symbol in wanted}
    if any(name.upper() in by_stem for name in name_of.values()):
        frames = [
            _read_symbol_file(_symbol_file(directory, symbol, name, by_stem), symbol, name, parse)
            for symbol, name in name_of.items()
        ]
    else:
        frames = _read_long_files(directory, files, name_of, parse, layout)
    bars = pl.concat(frames, how="vertical")
    if layout.row_order == "newest_first":
        bars = bars.reverse()
    return (
        bars.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).over("symbol").alias("seq"))
        .select(pl.col(name).cast(dtype) for name, dtype in BARS_SCHEMA.items())
        .sort(["symbol", "seq"], maintain_order=True)
    )


def bar_files(directory: Path, file_format: FileFormat) -> list[Path]:
    """The directory's bars files of that format, in name order."""
    suffixes = _SUFFIXES[check_file_format(file_format)]
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in suffixes)


def safe_symbol(name: str) -> str | None:
    """Our symbol for a source's name (a file stem): upper-cased, a Yahoo index caret
    dropped (``^GSPC`` -> ``GSPC``), None when that is still not a usable symbol."""
    symbol = name.strip().upper().removeprefix("^")
    return symbol if SYMBOL_PATTERN.fullmatch(symbol) else None


def check_file_format(file_format: str) -> FileFormat:
    for fmt in _SUFFIXES:
        if file_format == fmt:
            return fmt
    raise ValueError(f"file_format must be one of {list(_SUFFIXES)}, got {file_format!r}")


def check_timezone(timezone: str, setting: str = "timezone") -> None:
    # Polars ships its own time-zone database, so ask it rather than the system's.
    probe = pl.Series([datetime(2024, 1, 1)])  # naive on purpose: it is what gets localized
    try:
        valid = bool(timezone) and probe.dt.replace_time_zone(timezone).dtype != probe.dtype
    except pl.exceptions.PolarsError:
        valid = False
    if not valid:
        raise ValueError(
            f"{setting}: unknown time zone {timezone!r}: use an IANA name such as 'UTC' or "
            f"'America/New_York'"
        )


def _symbol_file(directory: Path, symbol: str, name: str, by_stem: dict[str, list[Path]]) -> Path:
    candidates = by_stem.get(name.upper(), [])
    shown = repr(symbol) if name == symbol else f"{symbol!r} (named {name!r} in the files)"
    if not candidates:
        found = ", ".join(repr(p.stem) for files in by_stem.values() for p in files) or "none"
        raise BarsFileError(
            file=str(directory),
            row=None,
            problem=f"no bars for symbol {shown}: the directory holds one file per symbol "
            f"but none named {name}.csv or {name}.parquet, in any case (files for: {found})",
        )
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise BarsFileError(
            file=str(directory),
            row=None,
            problem=f"symbol {shown} has more than one file ({names}); keep one or set file_format",
        )
    return candidates[0]


def _read_symbol_file(file: Path, symbol: str, name: str, parse: _Parser) -> pl.DataFrame:
    selected = parse.select(_read_raw(file), file, with_symbol=False)
    table = selected.rows
    if "symbol" in table.columns:
        mismatch = table.filter(
            pl.col("symbol").is_not_null()
            & (pl.col("symbol").str.to_uppercase() != name.upper())
            & (pl.col("symbol") != symbol)
        )
        if mismatch.height:
            raise BarsFileError(
                file=str(file),
                row=int(mismatch[_ROW][0]),
                problem=f"symbol column value {mismatch['symbol'][0]!r} is not the file "
                f"name's symbol {name!r}",
            )
    table = table.with_columns(pl.lit(symbol, pl.String).alias("symbol"))
    return parse.values(_Table(table, selected.columns), file)


def _read_long_files(
    directory: Path,
    files: list[Path],
    name_of: dict[str, str],
    parse: _Parser,
    layout: BarFileLayout,
) -> list[pl.DataFrame]:
    symbol_of = {name: symbol for symbol, name in name_of.items()}
    frames: list[pl.DataFrame] = []
    for file in files:
        raw = _read_raw(file)
        if parse.column_for(raw, "symbol", file) is None:
            wanted = ", ".join(f"{n}.csv" for n in name_of.values())
            raise BarsFileError(
                file=str(file),
                row=None,
                problem=f"has no symbol column, and no file is named after a requested "
                f"symbol ({wanted}, in any case): name one file per symbol, or add a symbol "
                f"column (or name it with {layout.setting('columns.symbol')}); found "
                f"columns: {_listed(raw)}",
            )
        selected = parse.select(raw, file, with_symbol=True)
        table = selected.rows.filter(pl.col("symbol").is_in(list(symbol_of))).with_columns(
            pl.col("symbol").replace_strict(symbol_of, return_dtype=pl.String)
        )
        frames.append(parse.values(_Table(table, selected.columns), file))
    seen = set(pl.concat([f.select("symbol") for f in frames])["symbol"]) if frames else set()
    missing = [symbol for symbol in name_of if symbol not in seen]
    if missing:
        suffixes = _SUFFIXES[layout.file_format]
        where = (
            f"in {len(files)} file(s) ({', '.join(p.name for p in files)})"
            if files
            else f"(the directory holds no {' or '.join(suffixes)} files)"
        )
        raise BarsFileError(
            file=str(directory),
            row=None,
            problem=f"no bars for symbol {missing[0]!r} {where}",
        )
    return frames


def _read_raw(file: Path) -> pl.DataFrame:
    """The file's rows (blank lines dropped) with their 1-based data row numbers in `_ROW`."""
    is_csv = file.suffix.lower() == ".csv"
    kind = "CSV" if is_csv else "Parquet"
    try:
        raw = pl.read_csv(file, infer_schema=False) if is_csv else pl.read_parquet(file)
    except pl.exceptions.NoDataError:
        raise BarsFileError(file=str(file), row=None, problem="is empty") from None
    except (pl.exceptions.PolarsError, OSError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise BarsFileError(
            file=str(file), row=None, problem=f"cannot be read as {kind}: {reason}"
        ) from err
    if raw.height == 0:
        raise BarsFileError(file=str(file), row=None, problem="is empty (no data rows)")
    raw = raw.with_row_index(_ROW, offset=1)
    if is_csv:
        # A blank line is not a bar; polars reads it as a row of nulls.
        raw = raw.filter(~pl.all_horizontal(pl.exclude(_ROW).is_null()))
    return raw


def _listed(raw: pl.DataFrame) -> str:
    return ", ".join(repr(c) for c in raw.columns if c != _ROW)


def _key(name: str) -> str:
    return name.strip().lower()


@dataclass(frozen=True)
class _Table:
    """A file's needed columns under our names, and the file's names for them."""

    rows: pl.DataFrame
    columns: dict[str, str]


@dataclass(frozen=True)
class _Parser:
    layout: BarFileLayout

    def column_for(self, raw: pl.DataFrame, name: str, file: Path) -> str | None:
        """The file's column for our field `name`; BarsFileError if two columns match."""
        found = [c for c in raw.columns if c != _ROW]
        explicit = self.layout.columns.get(name)
        candidates = (explicit,) if explicit else ALIASES[name]
        for candidate in candidates:
            matches = [c for c in found if _key(c) == _key(candidate)]
            if len(matches) > 1:
                raise BarsFileError(
                    file=str(file),
                    row=None,
                    problem=f"columns {', '.join(map(repr, matches))} both match {name}; "
                    f"name the one to use with {self.layout.setting(f'columns.{name}')}",
                )
            if matches:
                return matches[0]
        if name == "timestamp" and not explicit:
            index = [c for c in found if _key(c) in INDEX_COLUMNS]
            if len(index) == 1:
                return index[0]
        return None

    def select(self, raw: pl.DataFrame, file: Path, *, with_symbol: bool) -> _Table:
        """The needed columns under our names (the symbol column too when the file has
        one), after checking that they exist."""
        chosen: dict[str, str] = {}
        missing: list[str] = []
        for name in FIELDS:
            column = self.column_for(raw, name, file)
            if column is not None:
                chosen[name] = column
            elif name != "symbol" or with_symbol:
                missing.append(name)
        if missing:
            wanted = [self.layout.columns.get(name, name) for name in missing]
            settings = ", ".join(self.layout.setting(f"columns.{name}") for name in missing)
            raise BarsFileError(
                file=str(file),
                row=None,
                problem=f"missing column(s) {', '.join(map(repr, wanted))} (matched "
                f"case-insensitively, with common aliases; name yours with {settings}); "
                f"found columns: {_listed(raw)}",
            )
        table = raw.select(
            pl.col(_ROW), *(pl.col(theirs).alias(ours) for ours, theirs in chosen.items())
        )
        time_column = self._time_column(raw, chosen)
        if time_column is not None:
            # Separate date and time columns (MetaTrader-style exports) make one timestamp.
            table = table.with_columns(
                pl.concat_str([pl.col("timestamp"), raw[time_column]], separator=" ")
            )
            chosen["timestamp"] = f"{chosen['timestamp']} {time_column}"
        if "symbol" in chosen:
            symbol = table["symbol"]
            if symbol.dtype != pl.String:
                symbol = symbol.cast(pl.String)
            table = table.with_columns(symbol.str.strip_chars().alias("symbol"))
        return _Table(table.rename({"timestamp": "ts"}), chosen)

    def _time_column(self, raw: pl.DataFrame, chosen: dict[str, str]) -> str | None:
        """The `Time` column to join to a `Date` column found by its alias, if any."""
        date_column = chosen["timestamp"]
        if "timestamp" in self.layout.columns or _key(date_column) != "date":
            return None
        times = [c for c in raw.columns if _key(c) == "time"]
        if len(times) != 1 or raw[date_column].dtype != pl.String:
            return None
        return times[0] if raw[times[0]].dtype == pl.String else None

    def values(self, selected: _Table, file: Path) -> pl.DataFrame:
        """symbol, ts and the bar values, parsed; rows stay in source order."""
        table = selected.rows
        parsed = [self._timestamps(table, selected.columns["timestamp"], file)]
        parsed += [self._numbers(table, name, selected.columns[name], file) for name in BAR_COLUMNS]
        return pl.DataFrame([table["symbol"], *parsed])

    def _numbers(self, table: pl.DataFrame, name: str, column: str, file: Path) -> pl.Series:
        series = table[name]
        dtype = series.dtype
        if dtype.is_numeric() or dtype == pl.Null:
            return series.cast(pl.Float64)
        if dtype != pl.String:
            raise BarsFileError(
                file=str(file),
                row=None,
                problem=f"column {column!r} has type {dtype}, expected numbers",
            )
        text = _blank_to_null(series)
        numbers = text.cast(pl.Float64, strict=False)
        _raise_at_first(
            text.is_not_null() & numbers.is_null(),
            table,
            file,
            lambda i: f"column {column!r} value {_shown(series[i])} is not a number",
        )
        return numbers

    def _timestamps(self, table: pl.DataFrame, column: str, file: Path) -> pl.Series:
        series = table["ts"]
        dtype = series.dtype
        if isinstance(dtype, pl.Datetime):
            stamps = series.dt.cast_time_unit("ms")
            if dtype.time_zone is not None:
                return stamps.dt.convert_time_zone("UTC").alias("ts")
            return self._localize(stamps, stamps.is_not_null(), table, column, file)
        if dtype in (pl.Date, pl.Null):
            stamps = series.cast(pl.Datetime("ms"))
            return self._localize(stamps, stamps.is_not_null(), table, column, file)
        if dtype != pl.String:
            raise BarsFileError(
                file=str(file),
                row=None,
                problem=f"column {column!r} has type {dtype}, expected timestamps",
            )

        text = _blank_to_null(series)
        fmt = self.layout.timestamp_format
        setting = self.layout.setting("timestamp_format")
        if fmt is not None:
            try:
                candidates = [text.str.to_datetime(fmt, strict=False, time_unit="ms")]
            except pl.exceptions.PolarsError as err:
                raise ValueError(f"{setting} {fmt!r} is not usable: {err}") from err

            def expected(value: str | None) -> str:
                return f"does not match {setting} {fmt!r}{_suggestion(value, setting)}"

        else:
            text = text.str.replace(r"^(\d{4}-\d{2}-\d{2})[Tt]", "${1} ")
            candidates = [
                text.str.to_datetime(f, strict=False, time_unit="ms")
                for f in (*_AWARE_FORMATS, *_NAIVE_FORMATS)
            ]

            def expected(value: str | None) -> str:
                return (
                    f"is not a timestamp in ISO-8601 or 'YYYY-MM-DD[ HH:MM[:SS]]'"
                    f"{_suggestion(value, setting) or f'; set {setting}'}"
                )

        aware = [c.dt.convert_time_zone("UTC") for c in candidates if _has_zone(c)]
        naive = [c for c in candidates if not _has_zone(c)]
        aware_ts = _first_non_null(aware, len(text), pl.Datetime("ms", "UTC"))
        naive_ts = _first_non_null(naive, len(text), pl.Datetime("ms"))

        _raise_at_first(
            text.is_not_null() & aware_ts.is_null() & naive_ts.is_null(),
            table,
            file,
            lambda i: f"column {column!r} value {_shown(series[i])} {expected(text[i])}",
        )
        from_naive = aware_ts.is_null() & naive_ts.is_not_null()
        local = self._localize(naive_ts, from_naive, table, column, file)
        return aware_ts.fill_null(local).alias("ts")

    def _localize(
        self,
        naive: pl.Series,
        present: pl.Series,
        table: pl.DataFrame,
        column: str,
        file: Path,
    ) -> pl.Series:
        """Naive local times in the layout's zone -> UTC; a time a clock change skips or
        repeats has no single UTC instant and is reported."""
        timezone = self.layout.timezone
        utc = naive.dt.replace_time_zone(
            timezone, ambiguous="null", non_existent="null"
        ).dt.convert_time_zone("UTC")

        def problem(index: int) -> str:
            probe = naive.slice(index, 1).dt.replace_time_zone(
                timezone, ambiguous="earliest", non_existent="null"
            )
            what = "is ambiguous" if probe.null_count() == 0 else "does not exist"
            return (
                f"column {column!r} value {_shown(table['ts'][index])} {what} in "
                f"time zone {timezone!r} ({self.layout.setting('timezone')}; a "
                f"daylight-saving change); give such timestamps with a UTC offset"
            )

        _raise_at_first(present & utc.is_null(), table, file, problem)
        return utc.alias("ts")


def _suggestion(value: str | None, setting: str) -> str:
    """'; set <setting> to '<fmt>'' when one of the common formats reads `value`."""
    if value is None:
        return ""
    probe = pl.Series([value])
    for fmt in _SUGGESTED_FORMATS:
        if probe.str.to_datetime(fmt, strict=False).null_count() == 0:
            return f"; set {setting} to {fmt!r} if that is how the file writes them"
    return ""


def _raise_at_first(
    bad: pl.Series, table: pl.DataFrame, file: Path, problem: Callable[[int], str]
) -> None:
    """BarsFileError naming the file and data row of the first row flagged in `bad`."""
    if bad.any():
        index = int(bad.arg_true()[0])
        raise BarsFileError(file=str(file), row=int(table[_ROW][index]), problem=problem(index))


def _blank_to_null(series: pl.Series) -> pl.Series:
    """Surrounding spaces are not part of a value, and a cell of only spaces is empty."""
    stripped = series.str.strip_chars()
    return pl.select(pl.when(stripped != "").then(stripped)).to_series().alias(series.name)


def _shown(value: object) -> str:
    """A raw value as the user wrote it, quoted."""
    return repr(value) if isinstance(value, str) else f"'{value}'"


def _has_zone(series: pl.Series) -> bool:
    dtype = series.dtype
    return isinstance(dtype, pl.Datetime) and dtype.time_zone is not None


def _first_non_null(candidates: list[pl.Series], length: int, dtype: pl.Datetime) -> pl.Series:
    if not candidates:
        return pl.Series("ts", [None] * length, dtype=dtype)
    return pl.select(pl.coalesce(candidates)).to_series().dt.cast_time_unit("ms")
