"""The synthetic generator: deterministic, realistic bars with a known signal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from trade2026_assets.bars import BAR_COLUMNS, BARS_SCHEMA
from trade2026_assets.synthetic import _ar1, synthetic_bars


def lag1_autocorrelation(values: np.ndarray[Any, np.dtype[np.float64]]) -> float:
    return float(np.corrcoef(values[:-1], values[1:])[0, 1])


def log_returns(bars: pl.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.diff(np.log(bars["close"].to_numpy()))


def assert_schema(bars: pl.DataFrame) -> None:
    assert bars.schema == pl.Schema(BARS_SCHEMA)
    assert bars.columns == ["symbol", "seq", "ts", *BAR_COLUMNS]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_synthetic_schema_seq_and_symbol() -> None:
    bars = synthetic_bars("AAPL", n_bars=500)
    assert_schema(bars)
    assert bars.height == 500
    assert bars["seq"].to_list() == list(range(500))
    assert bars["symbol"].unique().to_list() == ["AAPL"]
    assert bars.null_count().sum_horizontal().item() == 0


def test_synthetic_is_deterministic_per_seed_and_symbol() -> None:
    first = synthetic_bars("AAPL", seed=11, n_bars=2000)
    assert_frame_equal(first, synthetic_bars("AAPL", seed=11, n_bars=2000))
    other_symbol = synthetic_bars("MSFT", seed=11, n_bars=2000)
    other_seed = synthetic_bars("AAPL", seed=12, n_bars=2000)
    assert not np.allclose(first["close"].to_numpy(), other_symbol["close"].to_numpy())
    assert not np.allclose(first["close"].to_numpy(), other_seed["close"].to_numpy())


def test_synthetic_ohlc_is_consistent_and_positive() -> None:
    bars = synthetic_bars("AAPL", n_bars=20_000, volatility=0.01, predictability=0.2)
    o, h, lo, c, v = (bars[name].to_numpy() for name in BAR_COLUMNS)
    assert np.isfinite(np.stack([o, h, lo, c, v])).all()
    assert (h >= np.maximum(o, c)).all()
    assert (lo <= np.minimum(o, c)).all()
    assert (lo > 0).all()
    assert (v > 0).all()
    assert o[0] == 100.0
    # Opens sit next to the previous close: a small gap, not a jump.
    assert np.abs(np.log(o[1:] / c[:-1])).max() < 0.05


def test_synthetic_timestamps_are_regular_and_utc() -> None:
    start = datetime(2024, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    bars = synthetic_bars("AAPL", n_bars=100, start=start, bar_minutes=15)
    ts = bars["ts"]
    assert ts[0] == utc(2024, 3, 1, 7, 30)
    assert (ts.diff().drop_nulls() == timedelta(minutes=15)).all()
    assert ts[-1] == utc(2024, 3, 1, 7, 30) + 99 * timedelta(minutes=15)


@pytest.mark.parametrize("phi", [0.3, 0.0])
def test_predictability_is_the_lag1_autocorrelation(phi: float) -> None:
    bars = synthetic_bars("AAPL", n_bars=20_000, predictability=phi)
    assert lag1_autocorrelation(log_returns(bars)) == pytest.approx(phi, abs=0.05)


@pytest.mark.parametrize("phi", [0.3, 0.9, 0.97, -0.6])
def test_predictability_follows_the_ar1_recursion(phi: float) -> None:
    # What is left after removing phi * previous return is the innovation: no memory.
    returns = log_returns(synthetic_bars("MSFT", n_bars=20_000, predictability=phi))
    assert lag1_autocorrelation(returns) == pytest.approx(phi, abs=0.05)
    residual = returns[1:] - phi * returns[:-1]
    assert lag1_autocorrelation(residual) == pytest.approx(0.0, abs=0.05)


@pytest.mark.parametrize("phi", [0.3, -0.5, 0.95, 0.999])
def test_ar1_convolution_matches_the_recursion(phi: float) -> None:
    innovations = np.random.default_rng(3).standard_normal(3000)
    expected = np.empty_like(innovations)
    previous = 0.0
    for i, e in enumerate(innovations):
        previous = phi * previous + e
        expected[i] = previous
    np.testing.assert_allclose(_ar1(innovations, phi), expected, rtol=0, atol=1e-12)


def test_volatility_regimes_exist() -> None:
    returns = log_returns(synthetic_bars("AAPL", n_bars=20_000))
    rolling = pl.Series(returns).rolling_std(100).drop_nulls()
    calm, stressed = rolling.quantile(0.05), rolling.quantile(0.95)
    assert calm is not None
    assert stressed is not None
    assert stressed / calm > 1.5


def test_volume_rises_with_large_moves() -> None:
    bars = synthetic_bars("AAPL", n_bars=20_000)
    moves = np.abs(log_returns(bars))
    volume = np.log(bars["volume"].to_numpy()[1:])
    assert float(np.corrcoef(moves, volume)[0, 1]) > 0.2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_bars": 0}, "n_bars"),
        ({"bar_minutes": 0}, "bar_minutes"),
        ({"start_price": 0.0}, "start_price"),
        ({"start_price": -5.0}, "start_price"),
        ({"volatility": 0.0}, "volatility"),
        ({"predictability": 1.0}, "predictability"),
        ({"predictability": -1.0}, "predictability"),
        ({"seed": -1}, "seed"),
        ({"start": datetime(2024, 1, 2)}, "timezone-aware"),
        ({"volatility": 50.0, "n_bars": 20_000}, "too large"),
    ],
)
def test_synthetic_argument_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        synthetic_bars("AAPL", **kwargs)


def test_synthetic_rejects_empty_symbol() -> None:
    with pytest.raises(ValueError, match="symbol"):
        synthetic_bars("")
