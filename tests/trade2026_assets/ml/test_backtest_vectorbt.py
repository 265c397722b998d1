"""vectorbt, simulating the positions the backtest takes, agrees with it on total return and
max drawdown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest
import vectorbt as vbt

from trade2026_assets.ml.backtest import BacktestParams, run_backtest
from trade2026_assets.strategy.rule import SignalRule

BARS = 400
# Long or flat, all in: vectorbt's cash accounting then matches a sleeve's fractions exactly
# (a fractional or short position would be rebalanced every bar in the backtest's model).
PARAMS = BacktestParams(
    rule=SignalRule(buy_threshold=0.6, sell_threshold=0.0, position_size=1.0),
    fee_bps=5,
    slippage_bps=3,
    periods_per_year=24 * 365,
)


def _market(symbols: int, seed: int) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    ts = [start + timedelta(hours=i) for i in range(BARS)]
    close = 100 * np.exp(np.cumsum(rng.normal(0.0002, 0.01, size=(symbols, BARS)), axis=1))
    probabilities = rng.uniform(0.2, 0.9, size=(symbols, BARS))
    rows = pl.DataFrame(
        {
            "symbol": np.repeat([f"S{i}" for i in range(symbols)], BARS),
            "ts": ts * symbols,
            "close": close.ravel(),
        }
    )
    return rows, close, probabilities


def _vectorbt(close: np.ndarray, probabilities: np.ndarray) -> vbt.Portfolio:
    """Buy with all the cash when the rule goes long, sell everything when it goes flat; the
    last bar's decision is not taken, as in the backtest."""
    rate = PARAMS.cost_rate
    position = PARAMS.rule.positions(probabilities)
    position[:, -1] = position[:, -2]
    previous = np.concatenate([np.zeros((position.shape[0], 1)), position[:, :-1]], axis=1)
    size = np.where(position > previous, np.inf, np.where(position < previous, -np.inf, np.nan))
    # The backtest pays rate * equity on entry and keeps equity * (1 - rate) invested;
    # vectorbt charges its fee on the value bought, so the same outlay needs rate / (1 - rate).
    fees = np.where(position > previous, rate / (1 - rate), rate)
    index = pd.RangeIndex(close.shape[1])

    def frame(values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(values.T, index=index)

    return vbt.Portfolio.from_orders(
        frame(close),
        frame(size),
        fees=frame(fees),
        init_cash=1.0 / close.shape[0],
        group_by=np.zeros(close.shape[0], dtype=int),
        cash_sharing=False,
        direction="longonly",
        freq="1h",
    )


@pytest.mark.parametrize("symbols", [1, 3])
def test_vectorbt_agrees_on_total_return_and_max_drawdown(symbols: int) -> None:
    rows, close, probabilities = _market(symbols, seed=symbols)
    result = run_backtest(rows, probabilities.ravel(), PARAMS)
    portfolio = _vectorbt(close, probabilities)
    assert result["strategy"]["trades"] > 20
    value = np.asarray(portfolio.value()).ravel()
    assert np.allclose(result["strategy_equity"], value, rtol=0, atol=1e-9)
    assert result["strategy"]["total_return"] == pytest.approx(
        float(portfolio.total_return()), abs=1e-6
    )
    # vectorbt's drawdown peaks from the first bar's value, the backtest's from the initial
    # capital of 1: vectorbt measures the value curve with that starting point prepended.
    extended = pd.Series(np.concatenate([[1.0], value]))
    assert result["strategy"]["max_drawdown"] == pytest.approx(
        float(extended.vbt.drawdowns.max_drawdown()), abs=1e-6
    )
