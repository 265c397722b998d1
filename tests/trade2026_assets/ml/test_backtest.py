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
from trade2026_assets.strategy.rule import SignalRule


def test_hand_computed_example() -> None:
    # One symbol, five bars. Probabilities -> BUY, BUY, SELL, HOLD, (last bar unused).
    close = [100.0, 110.0, 99.0, 99.0, 108.9]
    probabilities = np.array([0.7, 0.65, 0.3, 0.5, 0.9])
    params = BacktestParams(
        rule=SignalRule(position_size=0.5), fee_bps=10, slippage_bps=10, periods_per_year=4
    )
    rows = pl.DataFrame(
        {
            "symbol": ["X"] * 5,
            "ts": [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=i) for i in range(5)],
            "close": close,
        }
    )
    result = run_backtest(rows, probabilities, params)
    # Positions decided at bars 0..3: +0.5, +0.5, -0.5, 0 (bar 4's decision is not taken).
    # Asset returns over bars 1..4: +10%, -10%, 0, +10%. Costs (20 bp of |change|) at the
    # decision bar: enter 0.5 at bar 0 -> 0.001; flip to -0.5 at bar 2 -> 0.002; exit at
    # bar 3 -> 0.001, each on the equity at that close.
    expected = np.array([-0.001, 0.05, 0.95 * 0.998 - 1, -0.001, 0.0])
    equity = np.cumprod(1 + expected)
    strategy = result["strategy"]
    assert result["bars"] == 5
    assert np.allclose(result["strategy_returns"], expected)
    assert np.allclose(result["strategy_equity"], equity)
    assert strategy["total_return"] == pytest.approx(equity[-1] - 1)
    assert strategy["annualized_return"] == pytest.approx(equity[-1] ** (4 / 5) - 1)
    assert strategy["sharpe"] == pytest.approx(
        expected.mean() / expected.std(ddof=1) * math.sqrt(4)
    )
    downside = math.sqrt(np.mean(np.minimum(expected, 0) ** 2))
    assert strategy["sortino"] == pytest.approx(expected.mean() / downside * 2)
    # Peak 0.999 * 1.05 after bar 1, trough after bar 3.
    assert strategy["max_drawdown"] == pytest.approx(0.95 * 0.998 * 0.999 - 1)
    # Hit rate over the 3 sleeve-bars with a position: gross +5%, -5%, 0% -> 1 of 3.
    assert strategy["hit_rate"] == pytest.approx(1 / 3)
    assert strategy["hit_rate_low"] < 1 / 3 < strategy["hit_rate_high"]
    assert strategy["exposure"] == pytest.approx(3 / 4)
    assert strategy["average_position"] == pytest.approx(1.5 / 4)
    assert strategy["turnover"] == pytest.approx((0.5 + 0 + 1.0 + 0.5) / 4)
    assert strategy["trades"] == 3
    assert strategy["entries"] == 2
    assert strategy["average_holding_bars"] == pytest.approx(3 / 2)
    costs = 0.001 + 0.999 * 1.05 * 0.95 * (0.002 + 0.998 * 0.001)
    assert strategy["costs_paid"] == pytest.approx(costs)
    assert strategy["gross_return"] == pytest.approx(equity[-1] - 1 + costs)
    # Buy and hold: fully in from bar 0, entry cost once, at bar 0.
    hold = np.array([-0.002, 0.10, -0.10, 0.0, 0.10])
    assert np.allclose(result["buy_and_hold_returns"], hold)
    assert result["buy_and_hold"]["total_return"] == pytest.approx(np.prod(1 + hold) - 1)
    assert result["buy_and_hold"]["turnover"] == pytest.approx(1 / 4)
    assert result["buy_and_hold"]["trades"] == 1
    # The benchmark's hit rate has the strategy's definition: 2 of 4 positioned bars up.
    assert result["buy_and_hold"]["hit_rate"] == pytest.approx(2 / 4)
    assert result["buy_and_hold"]["exposure"] == 1.0


def test_true_buy_and_hold_is_not_rebalanced() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    hours = [start + timedelta(hours=i) for i in range(3)]
    rows = pl.DataFrame(
        {"symbol": ["A"] * 3 + ["B"] * 3, "ts": hours * 2, "close": [100.0, 200, 100, 100, 50, 100]}
    )
    params = BacktestParams(fee_bps=5, slippage_bps=5, periods_per_year=1)
    result = run_backtest(rows, np.full(6, 0.5), params)
    # Each half of the capital buys once at bar 0 and holds: (1 - cost) * mean(c_t / c_0).
    cost = 0.001
    bought = (1 - cost) * np.array([1.0, (2.0 + 0.5) / 2, (1.0 + 1.0) / 2])
    assert np.allclose(result["buy_and_hold_equity"], bought)
    assert result["buy_and_hold"]["total_return"] == pytest.approx(-cost)
    # Rebalanced every bar: bar 1 mean(+100%, -50%) = +25%, bar 2 mean(-50%, +100%) = +25%.
    rebalanced = (1 - cost) * np.array([1.0, 1.25, 1.25**2])
    assert np.allclose(result["equal_weight_rebalanced_equity"], rebalanced)
    # Its rebalancing trades are counted: after bar 1 the weights are 0.8/0.2 of 1.25 ->
    # each sleeve trades |2/1.25 - 1| = 0.6 of its share (and again after bar 2).
    turnover = (2 * 1.0 + 4 * 0.6) / 4
    assert result["equal_weight_rebalanced"]["turnover"] == pytest.approx(turnover)
    assert result["buy_and_hold"]["turnover"] == pytest.approx(2 / 4)
    # Hit rate over sleeve-bars, as for the strategy: 2 of the 4 went up (both portfolio
    # bars did, which a per-portfolio-bar definition would count as 100 %).
    for book in ("buy_and_hold", "equal_weight_rebalanced"):
        assert result[book]["hit_rate"] == pytest.approx(2 / 4)
    # The strategy stayed flat (HOLD): nothing traded, nothing paid.
    assert result["strategy"]["trades"] == 0
    assert result["strategy"]["total_return"] == 0.0


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
    params = BacktestParams(
        rule=SignalRule(position_size=1.0), fee_bps=0, slippage_bps=0, periods_per_year=1
    )
    result = run_backtest(rows, np.full(10, 0.9), params)
    # Half the capital in each sleeve; B's waits in cash until its first bar (hour 2).
    # Hour 1: A +10% -> 1.05. Hour 3: B -50% -> (1.1 + 0.5) / 2. Six portfolio bars.
    assert result["bars"] == 6
    assert result["strategy_equity"] == pytest.approx([1.0, 1.05, 1.05, 0.8, 0.8, 0.8])
    # Rebalanced: hour 1 +10% (A alone), hour 3 mean(0, -50%) = -25%.
    assert result["equal_weight_rebalanced_equity"] == pytest.approx(
        [1.0, 1.1, 1.1, 0.825, 0.825, 0.825]
    )


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="sell_threshold"):
        SignalRule(buy_threshold=0.4, sell_threshold=0.6)
    with pytest.raises(ValueError, match="position_size"):
        SignalRule(position_size=-0.1)
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
