"""The tear sheet's tables, statistics and headline come from the backtest's numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from trade2026_assets.ml import sharpe_statistics as ss
from trade2026_assets.ml import tearsheet
from trade2026_assets.ml.backtest import BacktestParams, run_backtest
from trade2026_assets.strategy.rule import SignalRule


def _case() -> tuple[pl.DataFrame, np.ndarray, BacktestParams]:
    rng = np.random.default_rng(7)
    bars = 24 * 30
    start = datetime(2024, 1, 1, tzinfo=UTC)
    ts = [start + timedelta(hours=i) for i in range(bars)]
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, size=(2, bars)), axis=1))
    rows = pl.DataFrame(
        {"symbol": ["A"] * bars + ["B"] * bars, "ts": ts * 2, "close": close.ravel()}
    )
    params = BacktestParams(rule=SignalRule(position_size=0.5), periods_per_year=24 * 365)
    return rows, rng.uniform(0.3, 0.7, size=2 * bars), params


def test_tear_sheet() -> None:
    rows, probabilities, params = _case()
    result = run_backtest(rows, probabilities, params)
    sheet = tearsheet.build(rows, probabilities, params, result, trials=12, title="t")
    returns = result["strategy_returns"]
    stats = sheet.statistics
    assert stats["sharpe"] == pytest.approx(result["strategy"]["sharpe"])
    assert stats["deflated_sharpe"] == pytest.approx(ss.deflated_sharpe_ratio(returns, 12))
    assert stats["deflated_sharpe"] < stats["probabilistic_sharpe"]
    assert stats["sharpe_interval_low"] < stats["sharpe"] < stats["sharpe_interval_high"]
    # Per symbol: the sleeves' trades add up to the strategy's.
    assert sheet.per_symbol.get_column("trades").sum() == result["strategy"]["trades"]
    # Per period (weeks over 30 days): compounded period returns give the total.
    periods = sheet.per_period
    assert periods.height >= 3
    assert np.prod(1 + periods.get_column("strategy").to_numpy()) - 1 == pytest.approx(
        result["strategy"]["total_return"]
    )
    # The declared thresholds are the grid's centre and reproduce the backtest.
    grid = sheet.sensitivity
    assert grid.height == 9
    centre = grid.filter((pl.col("buy_threshold") == 0.6) & (pl.col("sell_threshold") == 0.4))
    assert centre.get_column("sharpe")[0] == pytest.approx(result["strategy"]["sharpe"])
    assert sheet.chart_png.startswith(b"\x89PNG")
    assert "12 trials" in sheet.headline
    assert f"{result['strategy']['trades']} trades" in sheet.headline
    page = tearsheet.render_html(sheet, {"buy_and_hold": result["buy_and_hold"]}, "t")
    assert "data:image/png;base64," in page


def test_grid_skips_orderings_the_rule_refuses() -> None:
    rows, probabilities, _ = _case()
    params = BacktestParams(rule=SignalRule(buy_threshold=0.5, sell_threshold=0.5))
    grid = tearsheet.sensitivity(rows, probabilities, params)
    assert grid.height == 6
    assert (grid.get_column("sell_threshold") <= grid.get_column("buy_threshold")).all()
