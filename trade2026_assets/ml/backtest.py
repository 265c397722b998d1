"""Out-of-sample backtest of the default strategy, with costs, against buy-and-hold.

Conventions (also in the README):

* One sleeve per symbol, equal weight: the portfolio's return at a timestamp is the mean of
  the returns of the sleeves that realize one then (sleeves are aligned by time). A sleeve
  holds `position` (a fraction of its capital: +size after BUY, -size after SELL, 0 after
  HOLD) decided at bar t's close and earns
  `position_t * (close_{t+1} / close_t - 1)`; it pays `(fee_bps + slippage_bps) / 1e4`
  times |position change| when it trades, at bar t.
* Equity compounds: E_t = prod(1 + R_s), starting at 1. Total return = E_T - 1;
  annualized = E_T ** (periods_per_year / T) - 1.
* Sharpe = mean(R) / std(R, ddof=1) * sqrt(periods_per_year), risk-free rate 0.
  Sortino = mean(R) / sqrt(mean(min(R, 0) ** 2)) * sqrt(periods_per_year).
  Max drawdown = min(E_t / max(1, max_{s<=t} E_s) - 1) (negative; the peak starts at 1).
* Hit rate: of the sleeve-bars with a position, the share with a positive gross return.
  Turnover: mean |position change| per sleeve and bar. Exposure: share of sleeve-bars with
  a position.
* Buy-and-hold: each sleeve fully invested (position 1) from the first test bar, paying
  the entry cost once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BacktestParams:
    buy_threshold: float = 0.6
    sell_threshold: float = 0.4
    position_size: float = 0.02
    fee_bps: float = 1.0
    slippage_bps: float = 1.0
    periods_per_year: float = 365.25 * 24

    def __post_init__(self) -> None:
        if not 0 <= self.sell_threshold <= self.buy_threshold <= 1:
            raise ValueError("need 0 <= sell_threshold <= buy_threshold <= 1")
        if not 0 < self.position_size <= 1:
            raise ValueError("position_size must be in (0, 1]")
        if self.fee_bps < 0 or self.slippage_bps < 0:
            raise ValueError("fee_bps and slippage_bps must be >= 0")
        if self.periods_per_year <= 0:
            raise ValueError("periods_per_year must be > 0")

    @property
    def cost_rate(self) -> float:
        return (self.fee_bps + self.slippage_bps) / 10_000


def positions_from_probabilities(probabilities: FloatArray, params: BacktestParams) -> FloatArray:
    """The default strategy's position after each bar: BUY above, SELL below the
    thresholds, HOLD (flat) between."""
    return np.where(
        probabilities > params.buy_threshold,
        params.position_size,
        np.where(probabilities < params.sell_threshold, -params.position_size, 0.0),
    )


def sleeve_returns(
    close: FloatArray, positions: FloatArray, cost_rate: float
) -> tuple[FloatArray, FloatArray]:
    """Net and gross returns of one sleeve for bars 1..n-1 (position set at bar t earns
    bar t+1), costs charged on every change of position, the first entry included."""
    asset_returns = close[1:] / close[:-1] - 1.0
    held = positions[:-1]
    changes = np.abs(np.diff(np.concatenate([[0.0], held])))
    gross = held * asset_returns
    return gross - cost_rate * changes, gross


def performance(returns: FloatArray, periods_per_year: float) -> dict[str, float]:
    """Compounded performance of a per-bar return series."""
    equity = np.cumprod(1.0 + returns)
    n = returns.shape[0]
    final = float(equity[-1]) if n else 1.0
    std = float(np.std(returns, ddof=1)) if n > 1 else 0.0
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2))) if n else 0.0
    mean = float(np.mean(returns)) if n else 0.0
    scale = math.sqrt(periods_per_year)
    # The running peak starts at the initial equity of 1: a first loss is a drawdown.
    peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
    drawdown = equity / peak - 1.0 if n else np.zeros(1)
    return {
        "total_return": final - 1.0,
        "annualized_return": final ** (periods_per_year / n) - 1.0 if n else 0.0,
        "sharpe": mean / std * scale if std > 0 else 0.0,
        "sortino": mean / downside * scale if downside > 0 else 0.0,
        "max_drawdown": float(drawdown.min()),
    }


def run_backtest(
    test_rows: pl.DataFrame, probabilities: FloatArray, params: BacktestParams
) -> dict[str, Any]:
    """Backtest over `test_rows` (symbol, ts, close; sorted by symbol, ts) with the model's
    up-probabilities aligned to them. Returns metrics for the strategy and buy-and-hold
    and the two equity curves (one value per portfolio bar).

    Sleeves are aligned by time: a portfolio bar is a timestamp at which at least one
    sleeve realizes a return, and its return is the mean over the sleeves that do, so
    symbols with other calendars, gaps or shorter histories weigh only where they trade.
    """
    frame = test_rows.with_columns(pl.Series("probability", probabilities))
    parts = []
    for part in frame.partition_by("symbol", maintain_order=True):
        close = part.get_column("close").to_numpy().astype(np.float64)
        if close.shape[0] < 2:
            continue
        positions = positions_from_probabilities(
            part.get_column("probability").to_numpy().astype(np.float64), params
        )
        net, gross = sleeve_returns(close, positions, params.cost_rate)
        hold, _ = sleeve_returns(close, np.ones_like(close), params.cost_rate)
        held = positions[:-1]
        parts.append(
            pl.DataFrame(
                {
                    "ts": part.get_column("ts")[1:],
                    "net": net,
                    "gross": gross,
                    "hold": hold,
                    "position": held,
                    "change": np.abs(np.diff(np.concatenate([[0.0], held]))),
                }
            )
        )
    if not parts:
        raise ValueError("the test split has no symbol with two bars or more")
    sleeves = pl.concat(parts)
    portfolio = sleeves.group_by("ts").agg(pl.col("net").mean(), pl.col("hold").mean()).sort("ts")
    strategy = portfolio.get_column("net").to_numpy()
    hold = portfolio.get_column("hold").to_numpy()
    active = sleeves.get_column("position").to_numpy() != 0
    gross = sleeves.get_column("gross").to_numpy()
    changes = sleeves.get_column("change").to_numpy()
    strategy_metrics = performance(strategy, params.periods_per_year)
    strategy_metrics.update(
        {
            "hit_rate": float(np.mean(gross[active] > 0)) if active.any() else 0.0,
            "turnover": float(np.mean(changes)),
            "exposure": float(np.mean(active)),
            "trades": int(np.count_nonzero(changes)),
        }
    )
    hold_metrics = performance(hold, params.periods_per_year)
    hold_metrics.update({"hit_rate": float(np.mean(hold > 0)), "turnover": 0.0, "exposure": 1.0})
    return {
        "strategy": strategy_metrics,
        "buy_and_hold": hold_metrics,
        "bars": int(portfolio.height),
        "strategy_equity": np.cumprod(1.0 + strategy),
        "buy_and_hold_equity": np.cumprod(1.0 + hold),
    }


def equity_chart_png(strategy: FloatArray, buy_and_hold: FloatArray, title: str) -> bytes:
    """The two equity curves as a PNG (for the Dagster UI and MLflow)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 3.5), dpi=100)
    try:
        axes.plot(strategy, label="strategy", linewidth=1.2)
        axes.plot(buy_and_hold, label="buy and hold", linewidth=1.0, alpha=0.8)
        axes.set_title(title)
        axes.set_xlabel("test bars")
        axes.set_ylabel("equity (start = 1)")
        axes.grid(alpha=0.3)
        axes.legend(loc="best")
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)
