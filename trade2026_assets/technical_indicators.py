"""Technical indicators (RSI, MACD, Bollinger Bands, ATR, returns, volatility) with
TA-Lib's exact definitions, computed by TA-Lib itself.

Calling TA-Lib's C library guarantees the reference conventions (Wilder-smoothed RSI seeded
by the simple mean of the first period, SMA-seeded EMAs with MACD's fast and slow EMAs both
starting on the slow EMA's first bar, Bollinger Bands on the population standard deviation,
TA-Lib's values on flat series) so that offline, online and third-party numbers agree. The
C calls release the GIL, so symbols are spread over a thread pool and use every core.

Warm-up: the first `warmup_bars(params)` bars of every symbol are dropped, the rows where at
least one indicator has no value yet under TA-Lib's own lookback. Later rows are kept as
computed, so a NaN there means bad input and the `indicators` checks report it. Indicators
run over consecutive stored bars; a gap in time is not filled (TA-Lib's convention).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

FloatArray = npt.NDArray[np.float64]

OUTPUT_COLUMNS = (
    "ret_1",
    "log_ret_1",
    "volatility",
    "rsi",
    "macd",
    "macd_signal",
    "macd_hist",
    "bb_upper",
    "bb_middle",
    "bb_lower",
    "atr",
)
# Bar columns the features table carries next to the indicators (ATR, the range and the
# volume features of the catalog read them).
BAR_COLUMNS = ("close", "high", "low", "volume")
# TA-Lib's MA_Type.SMA; the stubs type it as an enum the runtime does not use.
_SMA: Any = 0
# Below this many rows, threads cost more than they save.
_PARALLEL_MIN_ROWS = 200_000


class IndicatorParams(BaseModel):
    """Parameters of one indicator set. The defaults are the customary ones (RSI 14, MACD
    12/26/9, Bollinger 20/2/2, ATR 14), which the default strategy uses."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rsi_period: int = Field(default=14, ge=2, le=100_000)
    macd_fast: int = Field(default=12, ge=2, le=100_000)
    macd_slow: int = Field(default=26, ge=2, le=100_000)
    macd_signal: int = Field(default=9, ge=1, le=100_000)
    bb_period: int = Field(default=20, ge=2, le=100_000)
    bb_dev_up: float = Field(default=2.0, gt=0, le=100)
    bb_dev_down: float = Field(default=2.0, gt=0, le=100)
    volatility_period: int = Field(default=20, ge=2, le=100_000)
    atr_period: int = Field(default=14, ge=1, le=100_000)

    @model_validator(mode="after")
    def _fast_below_slow(self) -> IndicatorParams:
        if self.macd_fast >= self.macd_slow:
            raise ValueError(
                f"macd_fast ({self.macd_fast}) must be below macd_slow ({self.macd_slow})"
            )
        return self

    def definition(self) -> dict[str, object]:
        """What produced a features table: the definitions and their parameters."""
        import talib

        return {
            "library": "TA-Lib",
            "talib_c_version": vars(talib)["__ta_version__"].decode().split(" ")[0],
            "talib_python_version": talib.__version__,
            "rsi": {"function": "RSI", "timeperiod": self.rsi_period},
            "macd": {
                "function": "MACD",
                "fastperiod": self.macd_fast,
                "slowperiod": self.macd_slow,
                "signalperiod": self.macd_signal,
            },
            "bbands": {
                "function": "BBANDS",
                "timeperiod": self.bb_period,
                "nbdevup": self.bb_dev_up,
                "nbdevdn": self.bb_dev_down,
                "matype": "SMA",
            },
            "returns": {"ret_1": "close/close[-1] - 1", "log_ret_1": "ln(close/close[-1])"},
            "volatility": {
                "function": "STDDEV of log_ret_1 (population)",
                "timeperiod": self.volatility_period,
            },
            "atr": {"function": "ATR", "timeperiod": self.atr_period},
            "warmup_bars": warmup_bars(self),
        }

    def indicator_set(self) -> str:
        """A short, stable name for this definition, stored with every features row."""
        return _indicator_set_name(self)


# Cached: loading the definitions names every strategy's set several times.
@functools.lru_cache(maxsize=1024)
def _indicator_set_name(params: IndicatorParams) -> str:
    text = json.dumps(params.definition(), sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return (
        f"rsi{params.rsi_period}-macd{params.macd_fast}.{params.macd_slow}.{params.macd_signal}"
        f"-bb{params.bb_period}.{params.bb_dev_up:g}.{params.bb_dev_down:g}"
        f"-vol{params.volatility_period}-atr{params.atr_period}-{digest}"
    )


@functools.lru_cache(maxsize=64)
def warmup_bars(params: IndicatorParams) -> int:
    """Bars before every indicator has a value: TA-Lib's own lookbacks, read off its output
    (the count of leading NaNs on a clean series), so they cannot drift from the library.
    (`talib.abstract` would say the same, but importing it costs most of a second.)"""
    import talib

    longest = (
        max(
            params.rsi_period,
            params.macd_slow + params.macd_signal,
            params.bb_period,
            params.atr_period,
        )
        + params.volatility_period
    )
    probe = np.linspace(100.0, 200.0, 2 * longest + 10)

    def leading_nans(values: FloatArray) -> int:
        return int(np.argmax(~np.isnan(values)))

    macd = talib.MACD(probe, params.macd_fast, params.macd_slow, params.macd_signal)[0]
    bands = talib.BBANDS(probe, params.bb_period, params.bb_dev_up, params.bb_dev_down, _SMA)[0]
    volatility = talib.STDDEV(np.diff(np.log(probe)), params.volatility_period, 1.0)
    atr = talib.ATR(probe * 1.01, probe * 0.99, probe, params.atr_period)
    return max(
        leading_nans(atr),
        leading_nans(talib.RSI(probe, params.rsi_period)),
        leading_nans(macd),
        leading_nans(bands),
        # Volatility runs on log returns, which start one bar later.
        leading_nans(volatility) + 1,
    )


def symbol_runs(symbols: pl.Series) -> list[tuple[str, int, int]]:
    """(symbol, start, end) of each run of equal symbols; each symbol must form one run."""
    if symbols.len() == 0:
        return []
    changes = (symbols != symbols.shift(1)).arg_true().to_numpy()
    edges = [0, *changes.tolist(), symbols.len()]
    names = symbols.gather(edges[:-1]).cast(pl.String).to_list()
    if len(set(names)) != len(names):
        raise ValueError("bars must be sorted by symbol: a symbol appears in several runs")
    if None in names:
        raise ValueError("bars have rows without a symbol")
    return list(zip(names, edges[:-1], edges[1:], strict=True))


def compute_indicators(
    bars: pl.DataFrame, params: IndicatorParams | None = None, *, workers: int | None = None
) -> pl.DataFrame:
    """Indicators of `bars` (columns symbol, ts, close, high, low, volume; sorted by symbol,
    then time).

    Returns one row per bar after the warm-up: symbol, ts, `BAR_COLUMNS`, `OUTPUT_COLUMNS`
    and the `indicator_set` that names the definition. Each symbol's values stay in the
    arrays TA-Lib wrote (one Arrow chunk per symbol), so nothing is copied after the C calls.
    """
    params = params or IndicatorParams()
    for column in ("symbol", "ts", *BAR_COLUMNS):
        if column not in bars.columns:
            raise ValueError(f"bars lack column {column!r}")
    series = {
        name: np.ascontiguousarray(bars.get_column(name).cast(pl.Float64).to_numpy())
        for name in BAR_COLUMNS
    }
    close, high, low = series["close"], series["high"], series["low"]
    ts = np.ascontiguousarray(
        bars.get_column("ts").cast(pl.Datetime("ms", "UTC")).dt.epoch("ms").to_numpy()
    )
    runs = symbol_runs(bars.get_column("symbol"))
    warmup = warmup_bars(params)
    kernel = _symbol_kernel(params, warmup)

    def one(run: tuple[str, int, int]) -> dict[str, FloatArray]:
        _, start, end = run
        return kernel(close[start:end], high[start:end], low[start:end])

    workers = workers or os.cpu_count() or 1
    if workers == 1 or close.shape[0] < _PARALLEL_MIN_ROWS or len(runs) < 2:
        results = [one(run) for run in runs]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, runs))

    names = [name for name, _, _ in runs]
    dictionary = pa.array(names, type=pa.string())
    kept = [(i, start + warmup, end) for i, (_, start, end) in enumerate(runs) if end > start]
    chunks: dict[str, list[pa.Array]] = {"symbol": [], "ts": []}
    chunks.update({name: [] for name in (*BAR_COLUMNS, *OUTPUT_COLUMNS)})
    ts_type = pa.timestamp("ms", tz="UTC")
    for (index, start, end), values in zip(kept, results, strict=True):
        if start >= end:
            continue
        count = end - start
        chunks["symbol"].append(
            pa.DictionaryArray.from_arrays(np.full(count, index, dtype=np.int32), dictionary)
        )
        chunks["ts"].append(pa.array(ts[start:end], type=pa.int64()).cast(ts_type))
        for name in BAR_COLUMNS:
            chunks[name].append(pa.array(series[name][start:end]))
        for name in OUTPUT_COLUMNS:
            chunks[name].append(pa.array(values[name]))
    types = {"symbol": pa.dictionary(pa.int32(), pa.string()), "ts": ts_type}
    table = pa.table(
        {
            name: pa.chunked_array(arrays, type=types.get(name, pa.float64()))
            for name, arrays in chunks.items()
        }
    )
    frame = pl.from_arrow(table, rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    return frame.with_columns(pl.lit(params.indicator_set()).alias("indicator_set"))


def _symbol_kernel(
    params: IndicatorParams, warmup: int
) -> Callable[[FloatArray, FloatArray, FloatArray], dict[str, FloatArray]]:
    import talib

    def compute(series: FloatArray, high: FloatArray, low: FloatArray) -> dict[str, FloatArray]:
        """All indicators of one symbol, each trimmed to the bars after the warm-up."""
        n = series.shape[0]
        if n <= warmup:
            return {}
        # Bar-to-bar series have n - 1 values (bar i+1 over bar i): they are trimmed one
        # position earlier. Every array is written once and kept, never copied, because
        # fresh memory, not arithmetic, is most of the cost at scale.
        ret = series[1:] / series[:-1]
        log_ret = np.log(ret)
        np.subtract(ret, 1.0, out=ret)
        volatility = talib.STDDEV(log_ret, timeperiod=params.volatility_period, nbdev=1.0)
        macd, signal, hist = talib.MACD(
            series,
            fastperiod=params.macd_fast,
            slowperiod=params.macd_slow,
            signalperiod=params.macd_signal,
        )
        upper, middle, lower = talib.BBANDS(
            series,
            timeperiod=params.bb_period,
            nbdevup=params.bb_dev_up,
            nbdevdn=params.bb_dev_down,
            matype=_SMA,
        )
        per_bar = {
            "rsi": talib.RSI(series, timeperiod=params.rsi_period),
            "macd": macd,
            "macd_signal": signal,
            "macd_hist": hist,
            "bb_upper": upper,
            "bb_middle": middle,
            "bb_lower": lower,
            "atr": talib.ATR(high, low, series, timeperiod=params.atr_period),
        }
        bar_to_bar = {"ret_1": ret, "log_ret_1": log_ret, "volatility": volatility}
        return {
            **{name: values[warmup - 1 :] for name, values in bar_to_bar.items()},
            **{name: values[warmup:] for name, values in per_bar.items()},
        }

    return compute


def talib_reference(
    close: Sequence[float] | FloatArray,
    params: IndicatorParams,
    *,
    high: Sequence[float] | FloatArray,
    low: Sequence[float] | FloatArray,
) -> pl.DataFrame:
    """TA-Lib called directly on one series, all bars (warm-up included), plus the returns
    and volatility by their textbook formulas: the yardstick the `indicators` check and the
    tests compare against."""
    import talib

    series = np.asarray(close, dtype=np.float64)
    highs = np.asarray(high, dtype=np.float64)
    lows = np.asarray(low, dtype=np.float64)
    if highs.shape != series.shape or lows.shape != series.shape:
        raise ValueError(
            f"close, high and low differ in length: {series.shape[0]}, {highs.shape[0]}, "
            f"{lows.shape[0]}"
        )
    macd, signal, hist = talib.MACD(series, params.macd_fast, params.macd_slow, params.macd_signal)
    upper, middle, lower = talib.BBANDS(
        series, params.bb_period, params.bb_dev_up, params.bb_dev_down, _SMA
    )
    previous = np.concatenate([[np.nan], series[:-1]])
    log_ret = np.log(series / previous)
    volatility = (
        np.concatenate([[np.nan], talib.STDDEV(log_ret[1:], params.volatility_period, 1.0)])
        if series.shape[0] > 1
        else np.full(series.shape[0], np.nan)
    )
    return pl.DataFrame(
        {
            "ret_1": series / previous - 1.0,
            "log_ret_1": log_ret,
            "volatility": volatility,
            "rsi": talib.RSI(series, params.rsi_period),
            "macd": macd,
            "macd_signal": signal,
            "macd_hist": hist,
            "bb_upper": upper,
            "bb_middle": middle,
            "bb_lower": lower,
            "atr": talib.ATR(highs, lows, series, params.atr_period),
        }
    )
