"""Indicators equal TA-Lib's (to 1e-9, here bit for bit) on synthetic series and edge cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import talib
from pydantic import ValidationError

from trade2026_assets.technical_indicators import (
    OUTPUT_COLUMNS,
    IndicatorParams,
    compute_indicators,
    symbol_runs,
    talib_reference,
    warmup_bars,
)

TOLERANCE = 1e-9
PARAMS = IndicatorParams()
WARMUP = warmup_bars(PARAMS)


def high_low(close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A bar's high and low around its close, the same for the same series."""
    rng = np.random.default_rng(len(close))
    return (
        close * (1 + rng.uniform(0.0, 0.02, len(close))),
        close * (1 - rng.uniform(0.0, 0.02, len(close))),
    )


def bars_frame(
    series: dict[str, np.ndarray], *, step: timedelta = timedelta(hours=1)
) -> pl.DataFrame:
    frames = []
    start = datetime(2024, 1, 2, tzinfo=UTC)
    for symbol, close in series.items():
        high, low = high_low(np.asarray(close, dtype=np.float64))
        frames.append(
            pl.DataFrame(
                {
                    "symbol": [symbol] * len(close),
                    "ts": [start + i * step for i in range(len(close))],
                    "close": np.asarray(close, dtype=np.float64),
                    "high": high,
                    "low": low,
                    "volume": np.arange(len(close), dtype=np.float64) % 7 + 1000.0,
                },
                schema={
                    "symbol": pl.String,
                    "ts": pl.Datetime("ms", "UTC"),
                    "close": pl.Float64,
                    "high": pl.Float64,
                    "low": pl.Float64,
                    "volume": pl.Float64,
                },
            )
        )
    return pl.concat(frames)


def random_walk(n: int, *, seed: int, level: float = 100.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))


def assert_matches_talib(features: pl.DataFrame, symbol: str, close: np.ndarray) -> None:
    mine = features.filter(pl.col("symbol") == symbol)
    high, low = high_low(close)
    reference = talib_reference(close, PARAMS, high=high, low=low)[WARMUP:]
    assert mine.height == reference.height
    # The bar columns are copied as they were.
    for column, values in (("close", close), ("high", high), ("low", low)):
        assert np.array_equal(mine[column].to_numpy(), values[WARMUP:], equal_nan=True), column
    for column in reference.columns:
        ours = mine.get_column(column).to_numpy()
        theirs = reference.get_column(column).to_numpy()
        assert np.array_equal(np.isnan(ours), np.isnan(theirs)), column
        finite = ~np.isnan(theirs)
        assert np.max(np.abs(ours[finite] - theirs[finite]), initial=0.0) <= TOLERANCE, column


def test_warmup_is_talibs_longest_lookback() -> None:
    # MACD(12, 26, 9): 25 bars for the slow EMA plus 8 for the signal line.
    assert WARMUP == 33
    assert warmup_bars(IndicatorParams(macd_slow=40, macd_signal=20, rsi_period=14)) == 58
    # ATR(n) has its first value at bar n (it needs n true ranges, each with a previous close).
    assert warmup_bars(IndicatorParams(atr_period=50)) == 50


def test_atr_is_wilders_average_true_range() -> None:
    close = random_walk(300, seed=11)
    high, low = high_low(close)
    previous = np.r_[np.nan, close[:-1]]
    true_range = np.nanmax(
        np.vstack([high - low, np.abs(high - previous), np.abs(low - previous)]), axis=0
    )
    # Seeded by the mean of the first n true ranges after the first bar, then Wilder's
    # smoothing: atr[t] = (atr[t-1] * (n - 1) + tr[t]) / n.
    n = PARAMS.atr_period
    expected = np.full(close.shape[0], np.nan)
    expected[n] = true_range[1 : n + 1].mean()
    for t in range(n + 1, close.shape[0]):
        expected[t] = (expected[t - 1] * (n - 1) + true_range[t]) / n
    reference = talib_reference(close, PARAMS, high=high, low=low)["atr"].to_numpy()
    assert np.allclose(reference[n:], expected[n:], rtol=0, atol=1e-9)
    assert np.isnan(reference[:n]).all()
    features = compute_indicators(bars_frame({"ATR": close}))
    assert np.allclose(features["atr"].to_numpy(), expected[WARMUP:], rtol=0, atol=1e-9)


def test_reference_refuses_series_of_different_lengths() -> None:
    close = random_walk(50, seed=1)
    with pytest.raises(ValueError, match="differ in length"):
        talib_reference(close, PARAMS, high=close[:-1], low=close)


def test_bars_without_high_low_or_volume_are_refused() -> None:
    frame = bars_frame({"A": random_walk(60, seed=1)})
    for column in ("high", "low", "volume"):
        with pytest.raises(ValueError, match=f"bars lack column '{column}'"):
            compute_indicators(frame.drop(column))


def test_synthetic_series_match_talib_per_symbol() -> None:
    series = {f"S{i}": random_walk(700 + 37 * i, seed=i) for i in range(4)}
    features = compute_indicators(bars_frame(series))
    assert set(features.columns) >= {"symbol", "ts", "close", "indicator_set", *OUTPUT_COLUMNS}
    for symbol, close in series.items():
        assert_matches_talib(features, symbol, close)
        mine = features.filter(pl.col("symbol") == symbol)
        assert mine.height == len(close) - WARMUP
        # Returns and volatility are the documented formulas.
        log_ret = np.log(close[1:] / close[:-1])
        assert np.allclose(mine["log_ret_1"].to_numpy(), log_ret[WARMUP - 1 :], rtol=0, atol=1e-15)
        assert np.allclose(
            mine["ret_1"].to_numpy(), (close[1:] / close[:-1] - 1)[WARMUP - 1 :], atol=1e-15
        )
        volatility = talib.STDDEV(log_ret, 20, 1.0)[WARMUP - 1 :]
        assert np.array_equal(mine["volatility"].to_numpy(), volatility)


def test_known_values_of_the_reference_definitions() -> None:
    # Hand-checkable anchors so that a change of library behaviour shows up here.
    close = np.array([44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08,
                      45.89, 46.03, 45.61, 46.28, 46.28], dtype=np.float64)  # fmt: skip
    gains = np.clip(np.diff(close), 0, None)
    losses = np.clip(-np.diff(close), 0, None)
    # Wilder's RSI at its first bar is the simple mean of the first 14 changes.
    expected = 100 * gains.mean() / (gains.mean() + losses.mean())
    high, low = high_low(close)
    reference = talib_reference(close, PARAMS, high=high, low=low)
    assert reference["rsi"][14] == pytest.approx(expected, abs=1e-12)
    padded = close[:20] if len(close) >= 20 else np.r_[close, close[:5]]
    bands = talib_reference(padded, PARAMS, high=padded, low=padded)
    window = np.r_[close, close[:5]][:20]
    assert bands["bb_middle"][19] == pytest.approx(window.mean(), abs=1e-9)
    # Population standard deviation (ddof=0).
    assert bands["bb_upper"][19] - bands["bb_middle"][19] == pytest.approx(
        2 * window.std(ddof=0), abs=1e-9
    )


def test_flat_prices_take_talibs_values() -> None:
    close = np.full(120, 100.0)
    features = compute_indicators(bars_frame({"FLAT": close}))
    assert_matches_talib(features, "FLAT", close)
    assert features["rsi"].unique().to_list() == [0.0]  # TA-Lib's RSI when nothing moves
    assert features["macd"].abs().max() == 0.0
    assert (features["bb_upper"] == features["bb_lower"]).all()


@pytest.mark.parametrize(("length", "rows"), [(WARMUP, 0), (WARMUP + 1, 1), (5, 0), (1, 0)])
def test_series_at_and_below_the_lookback(length: int, rows: int) -> None:
    close = random_walk(length, seed=3)
    features = compute_indicators(bars_frame({"SHORT": close, "LONG": random_walk(200, seed=4)}))
    assert features.filter(pl.col("symbol") == "SHORT").height == rows
    assert_matches_talib(features, "SHORT", close)
    assert features.filter(pl.col("symbol") == "LONG").height == 200 - WARMUP


def test_a_gap_in_time_does_not_change_the_bar_sequence() -> None:
    close = random_walk(300, seed=5)
    frame = bars_frame({"GAP": close})
    # Remove nothing, but move the second half ten days later: TA-Lib works on bars.
    shifted = frame.with_columns(
        pl.when(pl.int_range(pl.len()) >= 150)
        .then(pl.col("ts") + timedelta(days=10))
        .otherwise(pl.col("ts"))
        .alias("ts")
    )
    features = compute_indicators(shifted)
    assert_matches_talib(features, "GAP", close)
    assert features["ts"].to_list() == shifted["ts"].to_list()[WARMUP:]


@pytest.mark.parametrize("level", [1e9, 1e-6])
def test_very_large_and_very_small_prices(level: float) -> None:
    close = random_walk(400, seed=6, level=level)
    features = compute_indicators(bars_frame({"X": close}))
    assert_matches_talib(features, "X", close)
    assert features["rsi"].is_between(0, 100).all()


def test_bad_input_after_warmup_stays_visible() -> None:
    close = random_walk(200, seed=7)
    close[100] = np.nan
    features = compute_indicators(bars_frame({"NAN": close}))
    # The row is kept, so the finite-values check can see and report it.
    assert features.height == 200 - WARMUP
    assert features["ret_1"].is_nan().any()
    assert features["bb_middle"].is_nan().any()


def test_thread_pool_and_serial_paths_agree() -> None:
    series = {f"P{i}": random_walk(30_000, seed=10 + i) for i in range(8)}
    frame = bars_frame(series, step=timedelta(minutes=1))
    parallel = compute_indicators(frame, workers=2)
    serial = compute_indicators(frame, workers=1)
    assert parallel.equals(serial)
    assert_matches_talib(parallel, "P3", series["P3"])


def test_unsorted_symbols_are_refused() -> None:
    frame = bars_frame({"A": random_walk(40, seed=1), "B": random_walk(40, seed=2)})
    shuffled = pl.concat([frame.head(10), frame.tail(40), frame.slice(10, 30)])
    with pytest.raises(ValueError, match="sorted by symbol"):
        compute_indicators(shuffled)
    assert [run[0] for run in symbol_runs(frame["symbol"])] == ["A", "B"]


def test_parameters_are_validated_and_named() -> None:
    with pytest.raises(ValidationError, match="macd_fast"):
        IndicatorParams(macd_fast=30, macd_slow=26)
    with pytest.raises(ValidationError):
        IndicatorParams(rsi_period=1)
    custom = IndicatorParams(rsi_period=7, bb_dev_up=2.5)
    assert custom.indicator_set() != PARAMS.indicator_set()
    assert custom.indicator_set().startswith("rsi7-macd12.26.9-bb20.2.5.2-vol20-atr14-")
    assert custom.definition()["rsi"] == {"function": "RSI", "timeperiod": 7}
    assert IndicatorParams(atr_period=10).definition()["atr"] == {
        "function": "ATR",
        "timeperiod": 10,
    }
    assert IndicatorParams(atr_period=10).indicator_set() != PARAMS.indicator_set()
    with pytest.raises(ValidationError, match="atr_period"):
        IndicatorParams(atr_period=0)
    features = compute_indicators(bars_frame({"C": random_walk(100, seed=8)}), custom)
    assert features["indicator_set"].unique().to_list() == [custom.indicator_set()]
