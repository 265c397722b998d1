"""The backtest's numbers agree with a hand-computed example."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from trade2026_assets.ml.backtest import (
    BacktestParams,
    performance,
    positions_from_probabilities,
    run_backtest,
)


def test_hand_computed_example() -> None:
    # One symbol, five bars. Probabilities -> BUY, BUY, SELL, HOLD, (last bar unused).
    close = [100.0, 110.0, 99.0, 99.0, 108.9]
    probabilities = np.array([0.7, 0.65, 0.3, 0.5, 0.9])
    params = BacktestParams(position_size=0.5, fee_bps=10, slippage_bps=10, periods_per_year=4)
    rows = pl.DataFrame(
        {
            "symbol": ["X"] * 5,
            "ts": [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=i) for i in range(5)],
            "close": close,
        }
    )
    result = run_backtest(rows, probabilities, params)
    # Positions held over bars 1..4: +0.5, +0.5, -0.5, 0. Asset returns: +10%, -10%, 0, +10%.
    # Costs (20 bp of |change|): enter 0.5 -> 0.001; flip to -0.5 -> 0.002; exit -> 0.001.
    expected = np.array([0.05 - 0.001, -0.05, 0.0 - 0.002, 0.0 - 0.001])
    equity = np.cumprod(1 + expected)
    strategy = result["strategy"]
    assert np.allclose(result["strategy_equity"], equity)
    assert strategy["total_return"] == pytest.approx(equity[-1] - 1)
    assert strategy["annualized_return"] == pytest.approx(equity[-1] ** (4 / 4) - 1)
    assert strategy["sharpe"] == pytest.approx(
        expected.mean() / expected.std(ddof=1) * math.sqrt(4)
    )
    downside = math.sqrt(np.mean(np.minimum(expected, 0) ** 2))
    assert strategy["sortino"] == pytest.approx(expected.mean() / downside * 2)
    # Peak 1.049 after bar 1, trough 1.049 * 0.95 * 0.998 * 0.999 after bar 4.
    assert strategy["max_drawdown"] == pytest.approx(0.95 * 0.998 * 0.999 - 1)
    # Hit rate over bars with a position (3): gross +5%, -5%, 0% -> 1 of 3 positive.
    assert strategy["hit_rate"] == pytest.approx(1 / 3)
    assert strategy["exposure"] == pytest.approx(3 / 4)
    assert strategy["turnover"] == pytest.approx((0.5 + 0 + 1.0 + 0.5) / 4)
    assert strategy["trades"] == 3
    # Buy and hold: fully in from bar 0, entry cost once.
    hold = np.array([0.10 - 0.002, -0.10, 0.0, 0.10])
    assert result["buy_and_hold"]["total_return"] == pytest.approx(np.prod(1 + hold) - 1)


def test_a_first_loss_is_a_drawdown() -> None:
    assert performance(np.array([-0.1, -0.1]), 1)["max_drawdown"] == pytest.approx(-0.19)


def test_sleeves_are_aligned_by_time_not_by_position() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    hours = [start + timedelta(hours=i) for i in range(6)]
    rows = pl.DataFrame(
        {
            "symbol": ["A"] * 6 + ["B"] * 4,
            "ts": hours + hours[2:],
            "close": [100.0, 110, 110, 110, 110, 110, 100.0, 50, 50, 50],  # A, then B
        }
    )
    params = BacktestParams(position_size=1.0, fee_bps=0, slippage_bps=0, periods_per_year=1)
    result = run_backtest(rows, np.full(10, 0.9), params)
    # Hour 1: only A trades (+10%). Hour 3: A flat, B -50%: mean -25%. Five portfolio bars.
    assert result["bars"] == 5
    assert result["strategy_equity"] == pytest.approx([1.1, 1.1, 0.825, 0.825, 0.825])


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="sell_threshold"):
        BacktestParams(buy_threshold=0.4, sell_threshold=0.6)
    with pytest.raises(ValueError, match="position_size"):
        BacktestParams(position_size=-0.1)
    with pytest.raises(ValueError, match="fee_bps"):
        BacktestParams(fee_bps=-1)


def test_signals_follow_the_thresholds() -> None:
    params = BacktestParams()
    positions = positions_from_probabilities(np.array([0.61, 0.6, 0.5, 0.4, 0.39]), params)
    assert positions.tolist() == [0.02, 0.0, 0.0, 0.0, -0.02]


def test_flat_returns_have_zero_ratios() -> None:
    metrics = performance(np.zeros(10), periods_per_year=252)
    assert metrics == {
        "total_return": 0.0,
        "annualized_return": 0.0,
        "sharpe": 0.0,
        "sortino": 0.0,
        "max_drawdown": 0.0,
    }
