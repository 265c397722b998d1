"""`<strategy>/backtest`: the strategy's signal rule out of sample on its test split, with
its declared costs, against a true buy-and-hold and the equal-weight rebalanced portfolio;
the tear sheet in the metadata and in the model's MLflow run.

The test split is a final holdout: it is reported, and no check on this asset compares
candidates on it (a gate here would select on the holdout).
"""

import math
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from trade2026_assets.defs.ml.gates import registered_versions
from trade2026_assets.defs.ml.metadata import inline_chart, numbers, table
from trade2026_assets.defs.ml.reads import (
    MODEL_VERSION,
    TEST_ROWS_SQL,
    TRAINING_SET_HASH,
    latest_metadata,
    load_training_set,
)
from trade2026_assets.ml import classifiers, sparkline, tearsheet
from trade2026_assets.ml.backtest import BacktestParams, run_backtest
from trade2026_assets.strategy.declaration import StrategyDeclaration
from trade2026_assets.tracking import MlflowResource
from trade2026_assets.warehouse import WarehouseResource

# Typed numbers (plotted over materializations by the UI), per book: the strategy's, with
# how far its Sharpe can be trusted, and each benchmark's.
BOOK_FIGURES = (
    "total_return",
    "annualized_return",
    "sharpe",
    "sortino",
    "max_drawdown",
    "exposure",
    "turnover",
    "hit_rate",
    "trades",
    "costs_paid",
)
STRATEGY_FIGURES = (
    *BOOK_FIGURES,
    "sharpe_standard_error",
    "sharpe_interval_low",
    "sharpe_interval_high",
    "probabilistic_sharpe",
    "deflated_sharpe",
)

# Symbols whose bars per year differ by more than this factor are not one frequency.
MAX_FREQUENCY_RATIO = 2.0


def periods_per_year(test_rows: pl.DataFrame, configured: float) -> float:
    """Bars per year: as declared, or as the test split shows (per symbol, bars over
    elapsed years; the median symbol), so a market that trades 6.5 hours on weekdays
    is not annualized as if it traded around the clock."""
    if configured:
        return configured
    spans = test_rows.group_by("symbol").agg(
        (pl.len() - 1).alias("steps"),
        (pl.col("ts").max() - pl.col("ts").min()).dt.total_milliseconds().alias("span_ms"),
    )
    spans = spans.filter((pl.col("steps") > 0) & (pl.col("span_ms") > 0))
    if spans.height == 0:
        raise dg.Failure(description="cannot infer bars per year from the test split")
    year_ms = 365.25 * 24 * 3600 * 1000
    spans = spans.with_columns(
        (pl.col("steps").cast(pl.Float64) / (pl.col("span_ms").cast(pl.Float64) / year_ms)).alias(
            "rate"
        )
    ).sort("rate")
    rates = spans.get_column("rate")
    slowest, fastest = float(rates[0]), float(rates[-1])
    if fastest > MAX_FREQUENCY_RATIO * slowest:
        # One portfolio bar would be an hour for some sleeves and a day for others: no one
        # annualization fits them all.
        raise dg.Failure(
            description="the test split mixes bar frequencies "
            f"({spans['symbol'][0]} ~{slowest:,.0f} bars a year, {spans['symbol'][-1]} "
            f"~{fastest:,.0f}): trade symbols of one frequency in one strategy, or declare "
            "costs.periods_per_year"
        )
    return float(rates.median())  # type: ignore[arg-type]


def build_backtest(declaration: StrategyDeclaration) -> dg.AssetsDefinition:
    key = dg.AssetKey(declaration.asset_key_path("backtest"))
    model_key = dg.AssetKey(declaration.asset_key_path("model"))
    rule = declaration.signal

    @dg.asset(
        key=key,
        deps=[model_key, dg.AssetKey(declaration.asset_key_path("training_set"))],
        group_name=declaration.group,
        kinds={"mlflow"},
        description=f"{declaration.name} (BUY > {rule.buy_threshold:g}, SELL < "
        f"{rule.sell_threshold:g}, {rule.position_size:.0%} a trade) out of sample on the "
        "test split (a holdout: reported, never used to choose), with its declared costs, "
        "against a true buy-and-hold and the equal-weight rebalanced portfolio; the tear "
        "sheet in the metadata and in the model's MLflow run.",
    )
    def backtest(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        mlflow: MlflowResource,
    ) -> Iterator[dg.MaterializeResult[None]]:
        version = str(latest_metadata(context, model_key, MODEL_VERSION))
        training_set = str(latest_metadata(context, model_key, TRAINING_SET_HASH))
        if latest_metadata(context, model_key, "gates_passed") is not True:
            raise dg.Failure(
                description=f"model version {version} failed a blocking gate of "
                f"{model_key.to_user_string()}; it is not backtested"
            )
        test_rows = load_training_set(warehouse, training_set, TEST_ROWS_SQL)
        params = BacktestParams(
            rule=rule,
            fee_bps=declaration.costs.fee_bps,
            slippage_bps=declaration.costs.slippage_bps,
            periods_per_year=periods_per_year(test_rows, declaration.costs.periods_per_year),
        )
        model_uri = declaration.model_uri(version)
        with mlflow.active() as mlflow_module:
            model = classifiers.load(
                mlflow_module,
                family=declaration.model.family,
                model_uri=model_uri,
                features=declaration.features,
            )
        probabilities = classifiers.predict_frame(model, test_rows)
        try:
            result = run_backtest(test_rows, probabilities, params)
        except ValueError as exc:
            raise dg.Failure(description=f"cannot backtest: {exc}") from exc
        client = mlflow.client()
        run_id = client.get_model_version(declaration.registered_model, version).run_id
        if run_id is None:
            raise dg.Failure(description=f"model version {version} names no MLflow run")
        trials = registered_versions(mlflow, declaration)
        title = f"{declaration.registered_model} v{version}: test split (holdout)"
        sheet = tearsheet.build(
            test_rows, probabilities, params, result, trials=trials, title=title
        )
        benchmarks = {
            "buy_and_hold": result["buy_and_hold"],
            "equal_weight_rebalanced": result["equal_weight_rebalanced"],
        }
        page = tearsheet.render_html(sheet, benchmarks, title)
        flat = {f"backtest_{k}": v for k, v in sheet.statistics.items()}
        for book, metrics in benchmarks.items():
            flat.update({f"{book}_{k}": v for k, v in metrics.items()})
        flat = {k: float(v) for k, v in flat.items() if math.isfinite(float(v))}
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in (
                ("equity_curve.png", sheet.chart_png),
                ("tear_sheet.html", page.encode()),
            ):
                path = Path(tmp) / name
                path.write_bytes(content)
                client.log_artifact(run_id, str(path))
        for name, value in flat.items():
            client.log_metric(run_id, name, value)
        client.log_dict(
            run_id,
            {"params": params.describe(), "headline": sheet.headline, **flat},
            "backtest.json",
        )
        yield dg.MaterializeResult(
            metadata={
                MODEL_VERSION: version,
                "model_uri": model_uri,
                "headline": sheet.headline,
                **charts(result),
                "test_bars": result["bars"],
                "trials": trials,
                "params": dg.MetadataValue.json(params.describe()),
                **numbers(sheet.statistics, STRATEGY_FIGURES, prefix="strategy_"),
                **{
                    name: value
                    for book, metrics in benchmarks.items()
                    for name, value in numbers(metrics, BOOK_FIGURES, prefix=f"{book}_").items()
                },
                "comparison": comparison(sheet.statistics, benchmarks),
                "per_symbol": table(sheet.per_symbol),
                "per_period": table(sheet.per_period),
                "threshold_sensitivity": table(sheet.sensitivity),
            }
        )

    return backtest


def comparison(
    statistics: dict[str, float], benchmarks: dict[str, dict[str, float]]
) -> dg.TableMetadataValue:
    """Every figure the strategy and both benchmarks share, one row each, a column a book."""
    books = {"strategy": statistics, **benchmarks}
    names = [name for name in statistics if all(name in book for book in books.values())]
    return table(
        pl.DataFrame(
            {
                "figure": names,
                **{book: [float(figures[n]) for n in names] for book, figures in books.items()},
            }
        )
    )


def charts(result: dict[str, Any]) -> dict[str, dg.MetadataValue]:
    """The equity curves and the strategy's drawdown, each small enough to show in place,
    and what their colours and scales are."""
    out: dict[str, dg.MetadataValue] = {}
    for name, alt, lines in (
        ("equity_curve", "equity curves", tearsheet.equity_lines(result)),
        ("strategy_drawdown", "strategy drawdown", tearsheet.drawdown_lines(result)),
    ):

        def render(points: int, lines: list[sparkline.Series] = lines) -> str:
            return sparkline.data_uri(sparkline.svg(lines, points=points))

        chart = inline_chart(alt, render)
        if chart is not None:
            out[name] = chart
    out["chart_legend"] = dg.MetadataValue.text(tearsheet.chart_legend(result))
    return out
