"""A strategy's tear sheet from its backtest: how much its Sharpe can be trusted, where its
return came from (per symbol, per period), how it depends on its thresholds, and its equity
curve with drawdown, rendered once as tables, a PNG, a self-contained HTML page and a
one-line headline. The arithmetic is hand-written numpy (`backtest`, `sharpe_statistics`),
checked against hand computations and vectorbt in the tests.
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass
from typing import Any

import polars as pl

from trade2026_assets.ml import sharpe_statistics as ss
from trade2026_assets.ml import sparkline
from trade2026_assets.ml.backtest import BacktestParams, FloatArray, drawdown, run_backtest

THRESHOLD_STEP = 0.05
CONFIDENCE = 0.9


@dataclass(frozen=True)
class TearSheet:
    statistics: dict[str, float]
    per_symbol: pl.DataFrame
    per_period: pl.DataFrame
    sensitivity: pl.DataFrame
    chart_png: bytes
    headline: str


def sharpe_statistics(
    returns: FloatArray, periods_per_year: float, trials: int
) -> dict[str, float]:
    """Sharpe (annualized) with its standard error, PSR against 0, DSR over `trials`, and the
    block-bootstrap interval."""
    low, high = ss.block_bootstrap_interval(
        returns, periods_per_year=periods_per_year, confidence=CONFIDENCE
    )
    return {
        "sharpe": ss.annualize(ss.per_bar_sharpe(returns), periods_per_year),
        "sharpe_standard_error": ss.annualize(ss.sharpe_standard_error(returns), periods_per_year),
        "sharpe_interval_low": low,
        "sharpe_interval_high": high,
        "probabilistic_sharpe": ss.probabilistic_sharpe_ratio(returns),
        "deflated_sharpe": ss.deflated_sharpe_ratio(returns, max(1, trials)),
        "trials": float(max(1, trials)),
    }


def per_symbol(result: dict[str, Any]) -> pl.DataFrame:
    """Each sleeve's own compounded net return, trades, exposure and hit rate."""
    sleeves: pl.DataFrame = result["sleeves"]
    realized = ~pl.col("first")
    return (
        sleeves.group_by("symbol", maintain_order=True)
        .agg(
            ((1.0 + pl.col("net")).product() - 1.0).alias("net_return"),
            ((1.0 + pl.col("gross")).product() - 1.0).alias("gross_return"),
            (pl.col("change") > 0).sum().alias("trades"),
            ((pl.col("held") != 0) & realized).sum().alias("positioned_bars"),
            realized.sum().alias("bars"),
            ((pl.col("held") != 0) & (pl.col("gross") > 0)).sum().alias("hits"),
            (pl.col("close").last() / pl.col("close").first() - 1.0).alias("buy_and_hold"),
        )
        .with_columns(
            (pl.col("positioned_bars") / pl.col("bars")).alias("exposure"),
            pl.when(pl.col("positioned_bars") > 0)
            .then(pl.col("hits") / pl.col("positioned_bars"))
            .otherwise(0.0)
            .alias("hit_rate"),
        )
        .drop("hits")
    )


def period_of(portfolio: pl.DataFrame) -> str:
    """Calendar months when the test spans three or more, else weeks, else days."""
    ts = portfolio.get_column("ts")
    for every in ("1mo", "1w"):
        if ts.dt.truncate(every).n_unique() >= 3:
            return every
    return "1d"


def per_period(result: dict[str, Any]) -> pl.DataFrame:
    """Compounded returns of the strategy and both benchmarks per calendar period, with the
    strategy's trades."""
    portfolio: pl.DataFrame = result["portfolio"]
    every = period_of(portfolio)
    trades = (
        result["sleeves"]
        .group_by(pl.col("ts").dt.truncate(every).alias("period"))
        .agg((pl.col("change") > 0).sum().alias("trades"))
    )
    books = ["strategy", "buy_and_hold", "equal_weight_rebalanced"]
    return (
        portfolio.group_by(pl.col("ts").dt.truncate(every).alias("period"))
        .agg(
            pl.len().alias("bars"),
            *[((1.0 + pl.col(book)).product() - 1.0).alias(book) for book in books],
        )
        .join(trades, on="period", how="left")
        .sort("period")
        .with_columns(pl.col("period").dt.strftime("%Y-%m-%d"))
    )


def sensitivity(
    test_rows: pl.DataFrame, probabilities: FloatArray, params: BacktestParams
) -> pl.DataFrame:
    """The backtest on a 3x3 grid of buy/sell thresholds around the declared ones (orderings
    the rule refuses are skipped)."""
    rule = params.rule
    cells = []
    for buy in (rule.buy_threshold + d for d in (-THRESHOLD_STEP, 0.0, THRESHOLD_STEP)):
        for sell in (rule.sell_threshold + d for d in (-THRESHOLD_STEP, 0.0, THRESHOLD_STEP)):
            if not 0.0 <= sell <= buy <= 1.0:
                continue
            varied = BacktestParams(
                rule=rule.model_copy(update={"buy_threshold": buy, "sell_threshold": sell}),
                fee_bps=params.fee_bps,
                slippage_bps=params.slippage_bps,
                periods_per_year=params.periods_per_year,
            )
            strategy = run_backtest(test_rows, probabilities, varied)["strategy"]
            cells.append(
                {
                    "buy_threshold": round(buy, 6),
                    "sell_threshold": round(sell, 6),
                    "sharpe": strategy["sharpe"],
                    "total_return": strategy["total_return"],
                    "trades": strategy["trades"],
                    "exposure": strategy["exposure"],
                }
            )
    return pl.DataFrame(cells)


def chart_png(result: dict[str, Any], title: str) -> bytes:
    """Equity curves (the strategy on its own axis, so a small-exposure line is visible)
    over a drawdown panel."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(9, 5), dpi=100, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    try:
        strategy = result["strategy_equity"]
        line = top.plot(strategy, label="strategy (left axis)", color="C0", linewidth=1.3)
        top.set_ylabel("strategy equity")
        other = top.twinx()
        lines = line
        lines += other.plot(
            result["buy_and_hold_equity"], label="buy and hold", color="C1", linewidth=1.0
        )
        lines += other.plot(
            result["equal_weight_rebalanced_equity"],
            label="equal weight, rebalanced",
            color="C2",
            linewidth=1.0,
            alpha=0.7,
        )
        other.set_ylabel("benchmark equity")
        top.legend(lines, [x.get_label() for x in lines], loc="best", fontsize=8)
        top.set_title(title)
        top.grid(alpha=0.3)
        bottom.fill_between(range(len(strategy)), drawdown(strategy), color="C3", alpha=0.5)
        bottom.set_ylabel("drawdown")
        bottom.set_xlabel("test bars")
        bottom.grid(alpha=0.3)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)


# The small charts' lines: the strategy on its own scale (a small position moves its equity
# by a fraction of the benchmarks'), both benchmarks on a shared one.
STRATEGY_COLOR, HOLD_COLOR, REBALANCED_COLOR, DRAWDOWN_COLOR = (
    "royalblue",
    "darkorange",
    "seagreen",
    "crimson",
)


def equity_lines(result: dict[str, Any]) -> list[sparkline.Series]:
    return [
        sparkline.Series(result["buy_and_hold_equity"], HOLD_COLOR, "benchmarks"),
        sparkline.Series(result["equal_weight_rebalanced_equity"], REBALANCED_COLOR, "benchmarks"),
        sparkline.Series(result["strategy_equity"], STRATEGY_COLOR, "strategy"),
    ]


def drawdown_lines(result: dict[str, Any]) -> list[sparkline.Series]:
    return [
        sparkline.Series(
            drawdown(result["strategy_equity"]), DRAWDOWN_COLOR, "drawdown", area=True, reduce="min"
        )
    ]


def chart_legend(result: dict[str, Any]) -> str:
    """What the small charts' colours and scales are (they carry no axes)."""
    scales = sparkline.ranges([*equity_lines(result), *drawdown_lines(result)])

    def span(scale: str, fmt: str) -> str:
        low, high = scales.get(scale, (math.nan, math.nan))
        return f"{low:{fmt}} to {high:{fmt}}"

    return (
        f"equity_curve: {STRATEGY_COLOR} strategy (its own scale, equity "
        f"{span('strategy', '.4f')}); {HOLD_COLOR} buy and hold and {REBALANCED_COLOR} equal "
        f"weight rebalanced (one scale, {span('benchmarks', '.4f')}). strategy_drawdown: "
        f"{DRAWDOWN_COLOR}, {span('drawdown', '.2%')}. Over {len(result['strategy_equity'])} "
        "test bars; the full chart is equity_curve.png in the model's MLflow run."
    )


def _number(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.2f}"


def headline(statistics: dict[str, float], buy_and_hold_return: float) -> str:
    """One line: Sharpe with its interval, deflated Sharpe, trades, exposure, buy-and-hold."""
    return (
        f"Sharpe {_number(statistics['sharpe'])} ({CONFIDENCE:.0%} CI "
        f"{_number(statistics['sharpe_interval_low'])} to "
        f"{_number(statistics['sharpe_interval_high'])}), "
        f"deflated Sharpe {_number(statistics['deflated_sharpe'])} "
        f"({int(statistics['trials'])} trials), {int(statistics['trades'])} trades, "
        f"exposure {statistics['exposure']:.1%}, buy-and-hold {buy_and_hold_return:+.2%}"
    )


def build(
    test_rows: pl.DataFrame,
    probabilities: FloatArray,
    params: BacktestParams,
    result: dict[str, Any],
    *,
    trials: int,
    title: str,
) -> TearSheet:
    statistics = {
        **result["strategy"],
        **sharpe_statistics(result["strategy_returns"], params.periods_per_year, trials),
    }
    return TearSheet(
        statistics=statistics,
        per_symbol=per_symbol(result),
        per_period=per_period(result),
        sensitivity=sensitivity(test_rows, probabilities, params),
        chart_png=chart_png(result, title),
        headline=headline(statistics, result["buy_and_hold"]["total_return"]),
    )


def markdown_table(frame: pl.DataFrame) -> str:
    def cell(value: object) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    rows = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    rows += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join(rows)


def _html_table(frame: pl.DataFrame) -> str:
    def cell(value: object) -> str:
        return html.escape(f"{value:.4g}" if isinstance(value, float) else str(value))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in frame.iter_rows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(sheet: TearSheet, benchmarks: dict[str, dict[str, float]], title: str) -> str:
    """A self-contained page (the chart inlined)."""
    image = base64.b64encode(sheet.chart_png).decode()
    books = {"strategy": sheet.statistics, **benchmarks}
    names = sorted(set().union(*(b.keys() for b in books.values())))
    summary = pl.DataFrame(
        {
            "metric": names,
            **{k: [float(v.get(n, math.nan)) for n in names] for k, v in books.items()},
        }
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}</style>"
        f"</head><body><h1>{html.escape(title)}</h1><p>{html.escape(sheet.headline)}</p>"
        f"<img alt='equity and drawdown' src='data:image/png;base64,{image}'>"
        f"<h2>Summary</h2>{_html_table(summary)}"
        f"<h2>Per symbol</h2>{_html_table(sheet.per_symbol)}"
        f"<h2>Per period</h2>{_html_table(sheet.per_period)}"
        f"<h2>Threshold sensitivity</h2>{_html_table(sheet.sensitivity)}"
        "</body></html>"
    )
