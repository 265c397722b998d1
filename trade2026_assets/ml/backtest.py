"""Out-of-sample backtest of a strategy's signal rule, with costs, against two benchmarks.

Conventions (docs/training.md explains each number):

* One sleeve per symbol. At the first test bar every sleeve holds 1/K of the capital (K
  symbols with two bars or more); sleeves never move capital between them. The
  portfolio's equity at a timestamp is the sum of the sleeves' equities (their mean, with
  the start at 1), each sleeve's last equity carried over timestamps at which it has no bar
  (before its first bar its capital waits in cash). The portfolio's return at a bar is
  E_t / E_{t-1} - 1. Sleeves are aligned by time, so symbols with other calendars, gaps or
  shorter histories count where they trade.
* A sleeve holds `position` (a fraction of its equity: +size after BUY, -size after SELL,
  0 after HOLD), decided at bar t's close, and earns `position_t * (close_{t+1} / close_t -
  1)` over the next bar. The position decided at the last test bar would earn nothing and
  is not taken.
* Costs are booked at the decision bar t, the bar at whose close the position changes:
  `(fee_bps + slippage_bps) / 1e4` times |position change| of the sleeve's equity at that
  close. A sleeve's net return at bar t is therefore `(1 + gross_t) * (1 - cost_t) - 1`; the
  first test bar carries only the entry cost.
* Equity compounds: E_t = prod(1 + R_s), starting at 1 before the first bar. Total return
  = E_T - 1; annualized = E_T ** (periods_per_year / T) - 1 over the T portfolio bars.
* Sharpe = mean(R) / std(R, ddof=1) * sqrt(periods_per_year), risk-free rate 0.
  Sortino = mean(R) / sqrt(mean(min(R, 0) ** 2)) * sqrt(periods_per_year).
  Max drawdown = min(E_t / max(1, max_{s<=t} E_s) - 1) (negative; the peak starts at 1).
* Activity, the same definitions for the strategy and both benchmarks, over sleeve-bars
  (one symbol's return over one bar):
  hit rate = of the sleeve-bars with a position, the share with a positive gross return
  (with its Wilson 95 % interval); exposure = the share of sleeve-bars with a position;
  average position = mean |position| over sleeve-bars; turnover = sum of |position change|
  over sleeve-bars; trades = position changes; entries = trades that open a position (from
  flat, or across zero); average holding period = sleeve-bars in a position per entry.
* Costs in money: `costs_paid` is what the trades cost as a fraction of the initial
  capital; `gross_return` = total_return + costs_paid (the profit before costs on the
  path taken); `cost_share` = costs_paid / gross_return, the share of the profit before
  costs paid in costs (NaN when there was no such profit). `return_per_exposure` =
  total_return / average position: the return per unit of capital actually deployed.
* Benchmarks. `buy_and_hold`: each sleeve buys its symbol with all its capital at the first
  test bar (paying the entry cost) and holds it, never rebalanced. `equal_weight_rebalanced`:
  the mean of the symbols' returns at each bar, as if the portfolio were rebalanced to equal
  weights at every bar; the rebalancing trades show in its turnover but are not charged (only
  the entries are), so it is a reference, not an investable book.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from trade2026_assets.strategy.rule import SignalRule

FloatArray = npt.NDArray[np.float64]

WILSON_Z = 1.959963984540054  # the 97.5 % normal quantile: a two-sided 95 % interval


@dataclass(frozen=True)
class BacktestParams:
    """The strategy's signal rule and costs, and how to annualize."""

    rule: SignalRule = field(default_factory=SignalRule)
    fee_bps: float = 1.0
    slippage_bps: float = 1.0
    periods_per_year: float = 365.25 * 24

    def __post_init__(self) -> None:
        if self.fee_bps < 0 or self.slippage_bps < 0:
            raise ValueError("fee_bps and slippage_bps must be >= 0")
        if self.periods_per_year <= 0:
            raise ValueError("periods_per_year must be > 0")

    @property
    def cost_rate(self) -> float:
        return (self.fee_bps + self.slippage_bps) / 10_000

    def describe(self) -> dict[str, float]:
        return {
            **self.rule.model_dump(),
            "fee_bps": self.fee_bps,
            "slippage_bps": self.slippage_bps,
            "periods_per_year": self.periods_per_year,
        }


def positions_from_probabilities(probabilities: FloatArray, params: BacktestParams) -> FloatArray:
    """The position after each bar under the strategy's rule (`SignalRule.position`, for
    a whole series at once)."""
    return params.rule.positions(probabilities)


@dataclass(frozen=True)
class Sleeve:
    """One symbol's book over its n test bars (index 0 = the first test bar)."""

    held: FloatArray  # position over the bar ending at t (0 at bar 0)
    gross: FloatArray  # held_t * asset return of bar t (0 at bar 0)
    change: FloatArray  # |position change| at bar t's close
    cost: FloatArray  # cost of that change, a fraction of the equity at bar t's close
    net: FloatArray  # (1 + gross) * (1 - cost) - 1
    entry: npt.NDArray[np.bool_]  # the change at bar t opens a position


def simulate_sleeve(close: FloatArray, positions: FloatArray, cost_rate: float) -> Sleeve:
    """One sleeve: `positions[t]` is decided at bar t's close (the last one is not taken);
    costs are booked at the decision bar."""
    if close.shape[0] < 2:
        raise ValueError("a sleeve needs two bars or more")
    taken = np.concatenate([positions[:-1], positions[-2:-1]])
    previous = np.concatenate([[0.0], taken[:-1]])
    held = previous
    asset = np.concatenate([[0.0], close[1:] / close[:-1] - 1.0])
    gross = held * asset
    change = np.abs(taken - previous)
    cost = cost_rate * change
    entry = (taken != 0) & (np.sign(taken) != np.sign(previous))
    return Sleeve(
        held=held,
        gross=gross,
        change=change,
        cost=cost,
        net=(1.0 + gross) * (1.0 - cost) - 1.0,
        entry=entry,
    )


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


def drawdown(equity: FloatArray) -> FloatArray:
    """E_t / max(1, max_{s<=t} E_s) - 1 of an equity curve that starts at 1."""
    if equity.shape[0] == 0:
        return np.zeros(0)
    peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
    return np.asarray(equity / peak - 1.0, dtype=np.float64)


def wilson_interval(successes: int, trials: int, z: float = WILSON_Z) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ((0, 1) with no trials)."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1.0 + z**2 / trials
    centre = (p + z**2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def activity(sleeves: pl.DataFrame) -> dict[str, float]:
    """The activity metrics of a book from its sleeve-bars (columns held, gross, change,
    entry; bar 0 of each sleeve carries only its entry): one definition for the strategy
    and the benchmarks."""
    realized = sleeves.filter(~pl.col("first"))
    held = realized.get_column("held").to_numpy()
    gross = realized.get_column("gross").to_numpy()
    active = held != 0
    bars = int(realized.height)
    hits = int(np.count_nonzero(gross[active] > 0))
    exposed = int(np.count_nonzero(active))
    low, high = wilson_interval(hits, exposed)
    change = sleeves.get_column("change").to_numpy()
    entries = int(sleeves.get_column("entry").sum())
    average_position = float(np.mean(np.abs(held))) if bars else 0.0
    return {
        "hit_rate": hits / exposed if exposed else 0.0,
        "hit_rate_low": low,
        "hit_rate_high": high,
        "positioned_bars": exposed,
        "exposure": exposed / bars if bars else 0.0,
        "average_position": average_position,
        "turnover": float(np.sum(change)) / bars if bars else 0.0,
        "trades": int(np.count_nonzero(change)),
        "entries": entries,
        "average_holding_bars": exposed / entries if entries else 0.0,
    }


def _book(
    returns: FloatArray, costs_paid: float, sleeves: pl.DataFrame, periods_per_year: float
) -> dict[str, float]:
    metrics: dict[str, float] = performance(returns, periods_per_year)
    metrics.update(activity(sleeves))
    gross_return = metrics["total_return"] + costs_paid
    metrics.update(
        {
            "gross_return": gross_return,
            "costs_paid": costs_paid,
            "cost_share": costs_paid / gross_return if gross_return > 0 else math.nan,
            "return_per_exposure": (
                metrics["total_return"] / metrics["average_position"]
                if metrics["average_position"] > 0
                else 0.0
            ),
        }
    )
    return metrics


def _summed(sleeves: pl.DataFrame, timestamps: pl.DataFrame, count: int) -> FloatArray:
    """Portfolio equity of sleeves holding 1/count of the capital each, summed at each of
    `timestamps`."""
    equity = (
        sleeves.select(
            "symbol",
            "ts",
            ((1.0 + pl.col("net")).cum_prod().over("symbol")).alias("sleeve_equity"),
        )
        .pivot(on="symbol", index="ts", values="sleeve_equity")
        .join(timestamps, on="ts", how="right")
        .sort("ts")
    )
    symbols = [c for c in equity.columns if c != "ts"]
    filled = equity.with_columns(pl.col(symbols).forward_fill().fill_null(1.0))
    return filled.select(pl.sum_horizontal(symbols) / count).to_series().to_numpy()


def run_backtest(
    test_rows: pl.DataFrame, probabilities: FloatArray, params: BacktestParams
) -> dict[str, Any]:
    """Backtest over `test_rows` (symbol, ts, close; sorted by symbol, ts) with the model's
    up-probabilities aligned to them (conventions in the module docstring).

    Returns metrics for the strategy and both benchmarks ("strategy", "buy_and_hold",
    "equal_weight_rebalanced"), the number of portfolio bars ("bars"), the per-bar net
    returns and equity curves (numpy, one value per portfolio bar), the portfolio frame
    ("portfolio": ts and each book's return and equity) and the strategy's sleeve-bars
    ("sleeves": symbol, ts, close, held, gross, change, cost, net, entry, first) for
    breakdowns.
    """
    frame = test_rows.with_columns(pl.Series("probability", probabilities))
    rate = params.cost_rate
    strategy_parts: list[pl.DataFrame] = []
    hold_parts: list[pl.DataFrame] = []
    for part in frame.partition_by("symbol", maintain_order=True):
        close = part.get_column("close").to_numpy().astype(np.float64)
        n = close.shape[0]
        if n < 2:
            continue
        base = {
            "symbol": part.get_column("symbol"),
            "ts": part.get_column("ts"),
            "close": close,
            "first": np.arange(n) == 0,
        }
        positions = positions_from_probabilities(
            part.get_column("probability").to_numpy().astype(np.float64), params
        )
        for parts, sleeve in (
            (strategy_parts, simulate_sleeve(close, positions, rate)),
            (hold_parts, simulate_sleeve(close, np.ones(n), rate)),
        ):
            parts.append(
                pl.DataFrame(
                    {
                        **base,
                        "held": sleeve.held,
                        "gross": sleeve.gross,
                        "change": sleeve.change,
                        "cost": sleeve.cost,
                        "net": sleeve.net,
                        "entry": sleeve.entry,
                    }
                )
            )
    if not strategy_parts:
        raise ValueError("the test split has no symbol with two bars or more")
    count = len(strategy_parts)
    strategy_sleeves = pl.concat(strategy_parts)
    hold_sleeves = pl.concat(hold_parts)
    timestamps = strategy_sleeves.select("ts").unique().sort("ts")

    def summed(sleeves: pl.DataFrame) -> tuple[FloatArray, FloatArray, float]:
        equity = _summed(sleeves, timestamps, count)
        returns = equity / np.concatenate([[1.0], equity[:-1]]) - 1.0
        # A cost is paid on the sleeve's equity before it, at the decision bar's close.
        before = sleeves.with_columns(
            (
                (1.0 + pl.col("net")).cum_prod().over("symbol")
                / (1.0 - pl.col("cost"))
                * pl.col("cost")
            ).alias("amount")
        )
        costs_paid = float(before.get_column("amount").sum()) / count
        return returns, equity, costs_paid

    strategy, strategy_equity, strategy_costs = summed(strategy_sleeves)
    hold, hold_equity, hold_costs = summed(hold_sleeves)

    # Equal weights at every bar: the mean of the realized sleeve returns; the trades that
    # restore equal weights after each bar are counted (turnover) but not charged.
    rebalanced_frame = (
        hold_sleeves.with_columns(
            ((1.0 + pl.col("gross")) * pl.col("cost")).alias("cost_fraction"),
            (1.0 + pl.col("gross")).alias("growth"),
        )
        .with_columns(pl.col("growth").mean().over("ts").alias("mean_growth"))
        .with_columns(
            pl.when(pl.col("first"))
            .then(pl.col("change"))
            .otherwise((pl.col("growth") / pl.col("mean_growth") - 1.0).abs())
            .alias("change"),
        )
    )
    per_bar = (
        rebalanced_frame.group_by("ts")
        .agg(pl.col("net").mean(), pl.col("cost_fraction").mean())
        .join(timestamps, on="ts", how="right")
        .sort("ts")
        .fill_null(0.0)
    )
    rebalanced = per_bar.get_column("net").to_numpy()
    rebalanced_equity = np.cumprod(1.0 + rebalanced)
    previous = np.concatenate([[1.0], rebalanced_equity[:-1]])
    rebalanced_costs = float(np.sum(previous * per_bar.get_column("cost_fraction").to_numpy()))
    # The rebalancing trades are position changes too; entries are the first buys only.
    rebalanced_frame = rebalanced_frame.with_columns(
        pl.when(pl.col("change") < 1e-15).then(0.0).otherwise(pl.col("change")).alias("change")
    )

    ppy = params.periods_per_year
    portfolio = timestamps.with_columns(
        pl.Series("strategy", strategy),
        pl.Series("strategy_equity", strategy_equity),
        pl.Series("buy_and_hold", hold),
        pl.Series("buy_and_hold_equity", hold_equity),
        pl.Series("equal_weight_rebalanced", rebalanced),
        pl.Series("equal_weight_rebalanced_equity", rebalanced_equity),
    )
    return {
        "strategy": _book(strategy, strategy_costs, strategy_sleeves, ppy),
        "buy_and_hold": _book(hold, hold_costs, hold_sleeves, ppy),
        "equal_weight_rebalanced": _book(rebalanced, rebalanced_costs, rebalanced_frame, ppy),
        "bars": int(portfolio.height),
        "symbols": count,
        "strategy_returns": strategy,
        "strategy_equity": strategy_equity,
        "buy_and_hold_returns": hold,
        "buy_and_hold_equity": hold_equity,
        "equal_weight_rebalanced_returns": rebalanced,
        "equal_weight_rebalanced_equity": rebalanced_equity,
        "portfolio": portfolio,
        "sleeves": strategy_sleeves,
    }
