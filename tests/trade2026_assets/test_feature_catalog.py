"""The catalog's momentum, ATR-scaled range and volume z-score against arithmetic done here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from trade2026_assets.feature_catalog import (
    CATALOG,
    FEATURE_NAMES,
    LOOKBACK_ROWS,
    catalog_features,
    complete,
)
from trade2026_assets.technical_indicators import (
    IndicatorParams,
    compute_indicators,
    talib_reference,
)


def bars(n: int, *, seed: int, flat_volume: bool = False) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    volume = np.full(n, 5000.0) if flat_volume else rng.uniform(1000, 9000, n).round()
    return pl.DataFrame(
        {
            "symbol": ["AAA"] * n,
            "ts": [datetime(2024, 1, 2, tzinfo=UTC) + timedelta(hours=i) for i in range(n)],
            "close": close,
            "high": close * (1 + rng.uniform(0, 0.02, n)),
            "low": close * (1 - rng.uniform(0, 0.02, n)),
            "volume": volume,
        }
    )


def test_the_catalog_has_the_seed_features_and_three_more() -> None:
    assert len(FEATURE_NAMES) == 14
    assert {"momentum_5", "momentum_20", "range_atr", "volume_z"} <= set(CATALOG)
    assert LOOKBACK_ROWS == 21


@pytest.mark.parametrize("n", [5, 20])
def test_momentum_is_the_close_over_the_close_n_bars_earlier(n: int) -> None:
    frame = bars(200, seed=1)
    features = catalog_features(compute_indicators(frame))
    close = features["close"].to_numpy()
    mine = features[f"momentum_{n}"].to_numpy()
    assert features[f"momentum_{n}"][:n].is_null().all()
    assert np.allclose(mine[n:], close[n:] / close[:-n] - 1, rtol=0, atol=1e-15)


def test_range_atr_is_the_bar_range_over_talibs_atr() -> None:
    frame = bars(200, seed=2)
    params = IndicatorParams()
    indicators = compute_indicators(frame, params)
    features = catalog_features(indicators)
    reference = talib_reference(
        frame["close"].to_numpy(),
        params,
        high=frame["high"].to_numpy(),
        low=frame["low"].to_numpy(),
    )
    warmup = frame.height - indicators.height
    atr = reference["atr"].to_numpy()[warmup:]
    expected = (frame["high"].to_numpy() - frame["low"].to_numpy())[warmup:] / atr
    assert np.allclose(features["range_atr"].to_numpy(), expected, rtol=1e-12, atol=0)


def test_range_atr_is_zero_where_atr_is_zero() -> None:
    prices = ("close", "high", "low")
    flat = bars(100, seed=3).with_columns(pl.lit(100.0).alias(name) for name in prices)
    features = catalog_features(compute_indicators(flat))
    assert features["atr"].max() == 0.0
    assert features["range_atr"].unique().to_list() == [0.0]


def test_volume_z_is_the_z_score_over_the_last_20_bars() -> None:
    frame = bars(200, seed=4)
    features = catalog_features(compute_indicators(frame))
    volume = features["volume"].to_numpy()
    z = features["volume_z"]
    assert z[:19].is_null().all()
    for t in range(19, features.height):
        window = volume[t - 19 : t + 1]
        expected = (volume[t] - window.mean()) / window.std(ddof=0)
        assert z[t] == pytest.approx(expected, rel=1e-9, abs=1e-12), t


def test_volume_z_is_zero_when_volume_is_flat() -> None:
    features = catalog_features(compute_indicators(bars(120, seed=5, flat_volume=True)))
    defined = features["volume_z"].drop_nulls()
    assert defined.len() == features.height - 19
    assert defined.unique().to_list() == [0.0]


def test_a_row_is_complete_after_the_longest_lookback() -> None:
    features = catalog_features(compute_indicators(bars(200, seed=6)))
    kept = features.filter(complete())
    assert kept.height == features.height - (LOOKBACK_ROWS - 1)
