"""Market bars: a synthetic generator for demos and benchmarks, and a loader for a user's files.

Both sources return the same frame: the `BARS_SCHEMA` columns in that order, sorted by
(symbol, seq), where `seq` is the 0-based position of the bar within its symbol's source.
Files keep their own row order and every row, duplicates, out-of-order timestamps and bad
values included, so that the asset checks downstream can see and report them; only structural
problems (unreadable file, missing column, unparsable timestamp or number) raise
`BarsFileError`.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import dagster as dg
import numpy as np
import numpy.typing as npt
import polars as pl
from pydantic import Field

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
FileFormat = Literal["auto", "csv", "parquet"]

BAR_COLUMNS = ("open", "high", "low", "close", "volume")
BARS_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "seq": pl.UInt32(),
    "ts": pl.Datetime("ms", "UTC"),
    **{column: pl.Float64() for column in BAR_COLUMNS},
}

# Volatility regimes: calm, normal, stressed. Per-bar sigma multipliers, mean durations in bars
# (geometric holding times) and the volume uplift (log units) each regime brings.
_REGIME_SIGMA = np.array([0.6, 1.0, 2.2])
_REGIME_MEAN_BARS = np.array([400.0, 300.0, 150.0])
_REGIME_LOG_VOLUME = np.array([-0.25, 0.0, 0.45])
# Leaving a regime goes to either other regime with equal odds, so the chain's stationary
# distribution is proportional to the mean durations.
_REGIME_STATIONARY = _REGIME_MEAN_BARS / _REGIME_MEAN_BARS.sum()
# Student-t innovations: fat tails, scaled to unit variance.
_T_DOF = 5.0
_T_SCALE = math.sqrt((_T_DOF - 2.0) / _T_DOF)
# The AR(1) kernel phi**k is cut where it no longer changes a float64 sum.
_KERNEL_CUTOFF = 1e-17
# Longer kernels (|phi| above ~0.86) are applied block by block so the cost stays O(n * block).
_AR_BLOCK = 256
_BASE_VOLUME = 20_000.0
_MS_PER_MINUTE = 60_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


# --------------------------------------------------------------------------------------------
# Synthetic bars


def synthetic_bars(
    symbol: str,
    *,
    seed: int = 7,
    n_bars: int = 5000,
    start: datetime = datetime(2024, 1, 2, tzinfo=UTC),
    bar_minutes: int = 60,
    start_price: float = 100.0,
    volatility: float = 0.004,
    predictability: float = 0.0,
) -> pl.DataFrame:
    """Deterministic, realistic-looking OHLCV bars for one symbol.

    The same (seed, symbol) always gives the same bars, on every machine and Python process
    (the generator is seeded from `seed` and the CRC-32 of the symbol, never `hash()`).

    Model:

    * Volatility regimes: a sticky 3-state Markov chain (calm / normal / stressed, per-bar
      sigma = `volatility` times 0.6 / 1.0 / 2.2, mean stays of 400 / 300 / 150 bars).
    * Log returns ``r_t = predictability * r_{t-1} + sigma_t * z_t`` with z Student-t (5
      degrees of freedom) scaled to unit variance.
    * close = start_price * exp(cumsum(r)); open = previous close times a small gap (the
      first open is `start_price`); high / low extend max / min(open, close) by a small wick,
      so high >= max(open, close) >= min(open, close) >= low > 0 always. Volume is log-normal,
      higher on large moves and in the stressed regime.
    * ts = start + seq * bar_minutes, UTC, millisecond precision, no gaps.

    `predictability` (phi, -1 < phi < 1) is the lag-1 autocorrelation of bar returns: with
    phi = 0.3 a bar's return carries on 30% of the previous one, so the sample lag-1
    autocorrelation of close-to-close log returns is about 0.3. 0 (the default) is a pure
    random walk, which no model can beat; a small positive value (0.05-0.3) gives the demo's
    ML steps an honest, known signal to learn, so their out-of-sample scores can be checked
    against the truth. Negative values give mean reversion. The return variance grows by
    1 / (1 - phi**2) over the regime's sigma**2. The recursion is computed without a per-bar
    loop as a convolution of the innovations with the kernel phi**k, truncated where
    |phi|**k < 1e-17, which is exact to float64 precision; for |phi| above about 0.86 the
    kernel is applied in exact blocks of 256 bars, so the cost stays bounded as |phi| -> 1.

    Raises ValueError for an empty symbol, a negative seed, n_bars < 1, bar_minutes < 1, a
    naive `start`, non-positive start_price or volatility, |predictability| >= 1, or a
    volatility so large that prices overflow.
    """
    _check_synthetic_args(
        symbol=symbol,
        seed=seed,
        n_bars=n_bars,
        start=start,
        bar_minutes=bar_minutes,
        start_price=start_price,
        volatility=volatility,
        predictability=predictability,
    )
    rng = np.random.default_rng([seed, zlib.crc32(symbol.encode())])
    n = n_bars

    regime = _regimes(rng, n)
    sigma = volatility * _REGIME_SIGMA[regime]
    shocks = rng.standard_t(_T_DOF, size=n) * _T_SCALE
    returns = _ar1(sigma * shocks, predictability)

    with np.errstate(over="ignore", under="ignore"):
        close = start_price * np.exp(np.cumsum(returns))
        gap = 0.1 * sigma * rng.standard_normal(n)
        open_ = np.empty(n)
        open_[0] = start_price
        open_[1:] = close[:-1] * np.exp(gap[1:])
        wick = 0.5 * sigma * np.abs(rng.standard_normal((2, n)))
        high = np.maximum(open_, close) * np.exp(wick[0])
        low = np.minimum(open_, close) * np.exp(-wick[1])
    if not (np.isfinite(high).all() and (low > 0).all()):
        raise ValueError(
            f"volatility {volatility} is too large: prices overflow or reach zero over "
            f"{n_bars} bars"
        )

    log_volume = (
        math.log(_BASE_VOLUME)
        + _REGIME_LOG_VOLUME[regime]
        # Capped so one fat-tailed bar cannot dwarf a whole day's volume.
        + 0.3 * np.minimum(np.abs(returns) / volatility, 6.0)
        + 0.3 * rng.standard_normal(n)
    )
    # ceil keeps whole units and volume >= 1 even for the smallest draw.
    volume = np.ceil(np.exp(log_volume))

    start_ms = (start - _EPOCH) // timedelta(milliseconds=1)
    ts_ms = start_ms + np.arange(n, dtype=np.int64) * (bar_minutes * _MS_PER_MINUTE)
    return pl.DataFrame(
        {
            "symbol": pl.repeat(symbol, n, dtype=pl.String, eager=True),
            "seq": np.arange(n, dtype=np.uint32),
            "ts": pl.Series(ts_ms, dtype=pl.Int64).cast(BARS_SCHEMA["ts"]),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
        },
        schema=BARS_SCHEMA,
    )


def _check_synthetic_args(
    *,
    symbol: str,
    seed: int,
    n_bars: int,
    start: datetime,
    bar_minutes: int,
    start_price: float,
    volatility: float,
    predictability: float,
) -> None:
    if not symbol:
        raise ValueError("symbol must be a non-empty string")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if n_bars < 1:
        raise ValueError(f"n_bars must be >= 1, got {n_bars}")
    if n_bars > np.iinfo(np.uint32).max:
        raise ValueError(f"n_bars must fit seq's UInt32, got {n_bars}")
    if bar_minutes < 1:
        raise ValueError(f"bar_minutes must be >= 1, got {bar_minutes}")
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError(f"start must be timezone-aware (e.g. tzinfo=UTC), got {start!r}")
    if not (math.isfinite(start_price) and start_price > 0):
        raise ValueError(f"start_price must be a positive number, got {start_price}")
    if not (math.isfinite(volatility) and volatility > 0):
        raise ValueError(f"volatility must be a positive number, got {volatility}")
    if not -1.0 < predictability < 1.0:
        raise ValueError(
            f"predictability (the lag-1 autocorrelation phi) must satisfy -1 < phi < 1, "
            f"got {predictability}"
        )


def _regimes(rng: np.random.Generator, n: int) -> IntArray:
    """The regime of each bar: runs of geometric length, each run in a different regime."""
    pieces: list[IntArray] = []
    filled = 0
    state = int(rng.choice(3, p=_REGIME_STATIONARY))
    # A chunk of runs almost always covers n bars at once; the loop is for the rare rest.
    runs_per_chunk = n // 100 + 4
    while filled < n:
        steps = rng.integers(1, 3, size=runs_per_chunk - 1)
        states = (state + np.concatenate(([0], np.cumsum(steps)))) % 3
        lengths = rng.geometric(1.0 / _REGIME_MEAN_BARS[states])
        pieces.append(np.repeat(states, lengths))
        filled += int(lengths.sum())
        state = int((states[-1] + rng.integers(1, 3)) % 3)
    return np.concatenate(pieces)[:n]


def _ar1(innovations: FloatArray, phi: float) -> FloatArray:
    """r_t = phi * r_{t-1} + e_t (r_{-1} = 0) without a per-bar Python loop."""
    n = innovations.size
    if phi == 0.0:
        return innovations
    taps = min(n, math.floor(math.log(_KERNEL_CUTOFF) / math.log(abs(phi))) + 1)
    kernel = phi ** np.arange(min(taps, _AR_BLOCK), dtype=np.float64)
    if taps <= _AR_BLOCK:
        return np.convolve(innovations, kernel)[:n]
    # Within a block the kernel covers every earlier bar of the block exactly; what came before
    # the block enters through its last value times phi**(k+1).
    carry = phi * kernel
    out = np.empty(n)
    previous = 0.0
    for begin in range(0, n, _AR_BLOCK):
        block = innovations[begin : begin + _AR_BLOCK]
        m = block.size
        out[begin : begin + m] = np.convolve(block, kernel[:m])[:m] + carry[:m] * previous
        previous = float(out[begin + m - 1])
    return out


# --------------------------------------------------------------------------------------------
# Files


@dataclass(frozen=True)
class _Columns:
    """The user's column names for each of our fields."""

    symbol: str
    timestamp: str
    open: str
    high: str
    low: str
    close: str
    volume: str

    def values(self) -> dict[str, str]:
        """Our value fields (not the symbol) -> the user's column names, in BARS order."""
        return {
            "ts": self.timestamp,
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
        }


_SUFFIXES: dict[FileFormat, tuple[str, ...]] = {
    "auto": (".csv", ".parquet"),
    "csv": (".csv",),
    "parquet": (".parquet",),
}
# Inference accepts ISO-8601 and "YYYY-MM-DD[ HH:MM[:SS[.fff]]]"; a "T" separator is first
# turned into a space, so one list of patterns covers both. Offsets: +05:00, +0500, +05, Z.
_NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d")
_AWARE_FORMATS = ("%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M%#z")
_ROW = "__row"


def load_bar_files(
    path: str | Path,
    symbols: Sequence[str],
    *,
    file_format: Literal["auto", "csv", "parquet"] = "auto",
    symbol_column: str = "symbol",
    timestamp_column: str = "timestamp",
    open_column: str = "open",
    high_column: str = "high",
    low_column: str = "low",
    close_column: str = "close",
    volume_column: str = "volume",
    timestamp_format: str | None = None,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Bars of `symbols` from the CSV / Parquet files in the directory `path`.

    Layout, detected from the file names:

    * One file per symbol: the directory holds a file whose stem is a requested symbol
      (``AAPL.csv``, ``AAPL.parquet``). Every requested symbol then needs its own file. A
      symbol column is not needed; if present, its values must be the file's symbol.
    * Long files: otherwise every ``*.csv`` / ``*.parquet`` file (in name order) must have
      `symbol_column`, and the rows of the requested symbols are selected.

    `file_format` restricts which extensions are read ("auto": both). Each symbol's rows keep
    their source order (file name order, then row order) and `seq` numbers them from 0.
    Nothing is sorted, deduplicated or dropped except lines with no value at all (blank
    lines); empty cells become nulls for the checks to report.

    Timestamps are parsed with `timestamp_format` (a strftime/chrono pattern) when given,
    else as ISO-8601 or "YYYY-MM-DD[ HH:MM[:SS]]". Naive timestamps are local times in
    `timezone` (an IANA name); timestamps with an offset are taken as they say. All are
    returned in UTC. Parquet datetime columns are used as they are (naive ones in `timezone`).

    Raises BarsFileError (naming the file, the 1-based data row when it is one row's problem,
    and the problem) when the directory is missing, a requested symbol has no bars, a file is
    unreadable, empty or lacks a required column, or a timestamp or price/volume value cannot
    be parsed; ValueError for an unknown file_format or time zone.
    """
    fmt = _file_format(file_format)
    _check_timezone(timezone)
    columns = _Columns(
        symbol=symbol_column,
        timestamp=timestamp_column,
        open=open_column,
        high=high_column,
        low=low_column,
        close=close_column,
        volume=volume_column,
    )
    directory = Path(path)
    if not directory.is_dir():
        raise BarsFileError(file=str(directory), row=None, problem="is not a directory")
    wanted = list(dict.fromkeys(symbols))
    if not wanted:
        return pl.DataFrame(schema=BARS_SCHEMA)
    files = sorted(
        p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in _SUFFIXES[fmt]
    )
    parse = _Parser(columns=columns, timestamp_format=timestamp_format, timezone=timezone)

    by_stem: dict[str, list[Path]] = {}
    for file in files:
        by_stem.setdefault(file.stem, []).append(file)
    if any(symbol in by_stem for symbol in wanted):
        frames = [
            _read_symbol_file(_symbol_file(directory, symbol, by_stem), symbol, parse)
            for symbol in wanted
        ]
    else:
        frames = _read_long_files(directory, files, wanted, parse, _SUFFIXES[fmt])
    bars = pl.concat(frames, how="vertical")
    return (
        bars.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).over("symbol").alias("seq"))
        .select(pl.col(name).cast(dtype) for name, dtype in BARS_SCHEMA.items())
        .sort(["symbol", "seq"])
    )


def _file_format(file_format: str) -> FileFormat:
    for fmt in _SUFFIXES:
        if file_format == fmt:
            return fmt
    raise ValueError(f"file_format must be one of {list(_SUFFIXES)}, got {file_format!r}")


def _check_timezone(timezone: str) -> None:
    # Polars ships its own time-zone database, so ask it rather than the system's.
    probe = pl.Series([datetime(2024, 1, 1)])  # naive on purpose: it is what gets localized
    try:
        valid = bool(timezone) and probe.dt.replace_time_zone(timezone).dtype != probe.dtype
    except pl.exceptions.PolarsError:
        valid = False
    if not valid:
        raise ValueError(
            f"unknown time zone {timezone!r}: use an IANA name such as 'UTC' or 'America/New_York'"
        )


def _symbol_file(directory: Path, symbol: str, by_stem: dict[str, list[Path]]) -> Path:
    candidates = by_stem.get(symbol, [])
    if not candidates:
        found = ", ".join(repr(stem) for stem in sorted(by_stem)) or "none"
        raise BarsFileError(
            file=str(directory),
            row=None,
            problem=f"no bars for symbol {symbol!r}: the directory holds one file per symbol "
            f"but none named {symbol}.csv or {symbol}.parquet (files for: {found})",
        )
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise BarsFileError(
            file=str(directory),
            row=None,
            problem=f"symbol {symbol!r} has more than one file ({names}); keep one or set "
            f"file_format",
        )
    return candidates[0]


def _read_symbol_file(file: Path, symbol: str, parse: _Parser) -> pl.DataFrame:
    raw = _read_raw(file)
    has_symbol = parse.columns.symbol in raw.columns
    table = parse.select(raw, file, with_symbol=has_symbol)
    if has_symbol:
        mismatch = table.filter(pl.col("symbol").is_not_null() & (pl.col("symbol") != symbol))
        if mismatch.height:
            raise BarsFileError(
                file=str(file),
                row=int(mismatch[_ROW][0]),
                problem=f"column {parse.columns.symbol!r} value {mismatch['symbol'][0]!r} "
                f"is not the file name's symbol {symbol!r}",
            )
    table = table.with_columns(pl.lit(symbol, pl.String).alias("symbol"))
    return parse.values(table, file)


def _read_long_files(
    directory: Path,
    files: list[Path],
    wanted: list[str],
    parse: _Parser,
    suffixes: tuple[str, ...],
) -> list[pl.DataFrame]:
    frames: list[pl.DataFrame] = []
    for file in files:
        table = parse.select(_read_raw(file), file, with_symbol=True)
        table = table.filter(pl.col("symbol").is_in(wanted))
        frames.append(parse.values(table, file))
    seen = set(pl.concat([f.select("symbol") for f in frames])["symbol"]) if frames else set()
    missing = [symbol for symbol in wanted if symbol not in seen]
    if missing:
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


@dataclass(frozen=True)
class _Parser:
    columns: _Columns
    timestamp_format: str | None
    timezone: str

    def select(self, raw: pl.DataFrame, file: Path, *, with_symbol: bool) -> pl.DataFrame:
        """The needed columns under our names, after checking that they exist."""
        wanted = {"symbol": self.columns.symbol} if with_symbol else {}
        wanted |= self.columns.values()
        found = [c for c in raw.columns if c != _ROW]
        missing = list(dict.fromkeys(c for c in wanted.values() if c not in found))
        if missing:
            raise BarsFileError(
                file=str(file),
                row=None,
                problem=f"missing column(s) {', '.join(map(repr, missing))}; found columns: "
                f"{', '.join(map(repr, found))}",
            )
        table = raw.select(
            pl.col(_ROW), *(pl.col(theirs).alias(ours) for ours, theirs in wanted.items())
        )
        if with_symbol:
            symbol = table["symbol"]
            if symbol.dtype != pl.String:
                symbol = symbol.cast(pl.String)
            table = table.with_columns(symbol.str.strip_chars().alias("symbol"))
        return table

    def values(self, table: pl.DataFrame, file: Path) -> pl.DataFrame:
        """symbol, ts and the bar values, parsed; rows stay in source order."""
        parsed = [self._timestamps(table, file)]
        parsed += [self._numbers(table, name, file) for name in BAR_COLUMNS]
        return pl.DataFrame([table["symbol"], *parsed])

    def _numbers(self, table: pl.DataFrame, name: str, file: Path) -> pl.Series:
        column = getattr(self.columns, name)
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

    def _timestamps(self, table: pl.DataFrame, file: Path) -> pl.Series:
        column = self.columns.timestamp
        series = table["ts"]
        dtype = series.dtype
        if isinstance(dtype, pl.Datetime):
            stamps = series.dt.cast_time_unit("ms")
            if dtype.time_zone is not None:
                return stamps.dt.convert_time_zone("UTC").alias("ts")
            return self._localize(stamps, stamps.is_not_null(), table, series, file)
        if dtype in (pl.Date, pl.Null):
            stamps = series.cast(pl.Datetime("ms"))
            return self._localize(stamps, stamps.is_not_null(), table, series, file)
        if dtype != pl.String:
            raise BarsFileError(
                file=str(file),
                row=None,
                problem=f"column {column!r} has type {dtype}, expected timestamps",
            )

        text = _blank_to_null(series)
        if self.timestamp_format is not None:
            try:
                candidates = [
                    text.str.to_datetime(self.timestamp_format, strict=False, time_unit="ms")
                ]
            except pl.exceptions.PolarsError as err:
                raise ValueError(
                    f"timestamp_format {self.timestamp_format!r} is not usable: {err}"
                ) from err
            expected = f"does not match timestamp_format {self.timestamp_format!r}"
        else:
            text = text.str.replace(r"^(\d{4}-\d{2}-\d{2})[Tt]", "${1} ")
            candidates = [
                text.str.to_datetime(fmt, strict=False, time_unit="ms")
                for fmt in (*_AWARE_FORMATS, *_NAIVE_FORMATS)
            ]
            expected = (
                "is not a timestamp (expected ISO-8601 or 'YYYY-MM-DD[ HH:MM[:SS]]', "
                "or set timestamp_format)"
            )
        aware = [c.dt.convert_time_zone("UTC") for c in candidates if _has_zone(c)]
        naive = [c for c in candidates if not _has_zone(c)]
        aware_ts = _first_non_null(aware, len(text), pl.Datetime("ms", "UTC"))
        naive_ts = _first_non_null(naive, len(text), pl.Datetime("ms"))

        _raise_at_first(
            text.is_not_null() & aware_ts.is_null() & naive_ts.is_null(),
            table,
            file,
            lambda i: f"column {column!r} value {_shown(series[i])} {expected}",
        )
        from_naive = aware_ts.is_null() & naive_ts.is_not_null()
        local = self._localize(naive_ts, from_naive, table, series, file)
        return aware_ts.fill_null(local).alias("ts")

    def _localize(
        self,
        naive: pl.Series,
        present: pl.Series,
        table: pl.DataFrame,
        raw: pl.Series,
        file: Path,
    ) -> pl.Series:
        """Naive local times in `timezone` -> UTC; a time a clock change skips or repeats
        has no single UTC instant and is reported."""
        utc = naive.dt.replace_time_zone(
            self.timezone, ambiguous="null", non_existent="null"
        ).dt.convert_time_zone("UTC")

        def problem(index: int) -> str:
            probe = naive.slice(index, 1).dt.replace_time_zone(
                self.timezone, ambiguous="earliest", non_existent="null"
            )
            what = "is ambiguous" if probe.null_count() == 0 else "does not exist"
            return (
                f"column {self.columns.timestamp!r} value {_shown(raw[index])} {what} in "
                f"time zone {self.timezone!r} (a daylight-saving change); give such "
                f"timestamps with a UTC offset"
            )

        _raise_at_first(present & utc.is_null(), table, file, problem)
        return utc.alias("ts")


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


# --------------------------------------------------------------------------------------------
# The resource


class MarketDataResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where bars come from: the synthetic generator or a directory of CSV / Parquet files."""

    source: Literal["synthetic", "files"] = Field(
        default="synthetic",
        description="'synthetic': generated bars (deterministic per seed and symbol); "
        "'files': the CSV / Parquet files under `path`.",
    )
    seed: int = Field(default=7, description="Synthetic: random seed (>= 0).")
    n_bars: int = Field(default=5000, description="Synthetic: bars per symbol.")
    start: str = Field(
        default="",
        description="Synthetic: ISO-8601 time of the first bar, with an offset; empty ends "
        "the bars at the last whole bar interval before now (fresh features for serving).",
    )
    bar_minutes: int = Field(default=60, description="Synthetic: minutes between bars.")
    start_price: float = Field(default=100.0, description="Synthetic: first open.")
    volatility: float = Field(
        default=0.004, description="Synthetic: per-bar sigma of log returns (normal regime)."
    )
    predictability: float = Field(
        default=0.0,
        description="Synthetic: lag-1 autocorrelation phi of returns, -1 < phi < 1; 0 is a "
        "random walk, small positive values give the ML steps a real signal to learn.",
    )
    path: str = Field(default="", description="Files: directory of the bars files.")
    file_format: str = Field(default="auto", description="Files: 'auto', 'csv' or 'parquet'.")
    symbol_column: str = Field(default="symbol", description="Files: symbol column (long files).")
    timestamp_column: str = Field(default="timestamp", description="Files: timestamp column.")
    open_column: str = Field(default="open", description="Files: open price column.")
    high_column: str = Field(default="high", description="Files: high price column.")
    low_column: str = Field(default="low", description="Files: low price column.")
    close_column: str = Field(default="close", description="Files: close price column.")
    volume_column: str = Field(default="volume", description="Files: volume column.")
    timestamp_format: str = Field(
        default="",
        description="Files: strftime pattern of the timestamps; empty infers ISO-8601.",
    )
    timezone: str = Field(
        default="UTC", description="Files: IANA time zone of timestamps without an offset."
    )

    def bars(self, symbols: Sequence[str]) -> pl.DataFrame:
        """Bars of `symbols` in BARS_SCHEMA, sorted by (symbol, seq)."""
        if self.source == "files":
            if not self.path:
                raise ValueError("MarketDataResource: source='files' needs `path`")
            return load_bar_files(
                self.path,
                symbols,
                file_format=_file_format(self.file_format),
                symbol_column=self.symbol_column,
                timestamp_column=self.timestamp_column,
                open_column=self.open_column,
                high_column=self.high_column,
                low_column=self.low_column,
                close_column=self.close_column,
                volume_column=self.volume_column,
                timestamp_format=self.timestamp_format or None,
                timezone=self.timezone,
            )
        start = self._synthetic_start()
        frames = [
            synthetic_bars(
                symbol,
                seed=self.seed,
                n_bars=self.n_bars,
                start=start,
                bar_minutes=self.bar_minutes,
                start_price=self.start_price,
                volatility=self.volatility,
                predictability=self.predictability,
            )
            for symbol in sorted(set(symbols))
        ]
        if not frames:
            return pl.DataFrame(schema=BARS_SCHEMA)
        return pl.concat(frames, how="vertical")

    def _synthetic_start(self) -> datetime:
        if self.start:
            try:
                return datetime.fromisoformat(self.start)
            except ValueError as exc:
                raise ValueError(f"start: not an ISO-8601 time: {self.start!r}") from exc
        if self.bar_minutes < 1 or self.n_bars < 1:
            raise ValueError("synthetic bars need bar_minutes >= 1 and n_bars >= 1")
        step = timedelta(minutes=self.bar_minutes)
        # Bars are stamped with their open time: the last complete one opened a step before
        # the current interval began.
        current = _EPOCH + ((datetime.now(UTC) - _EPOCH) // step) * step
        return current - self.n_bars * step
