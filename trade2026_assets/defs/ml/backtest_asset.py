"""`<strategy>/backtest`: the strategy's signal rule out of sample on its test split, with
its declared costs, against a true buy-and-hold and the equal-weight rebalanced portfolio;
the tear sheet in the metadata and in the model's MLflow run.

The test split is a final holdout: it is reported, and no check on this asset compares
candidates on it (a gate here would select on the holdout).
"""

import base64
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import polars as pl

from trade2026_assets.defs.ml.gates import registered_versions
from trade2026_assets.defs.ml.reads import (
    MODEL_VERSION,
    TEST_ROWS_SQL,
    TRAINING_SET_HASH,
    latest_metadata,
    load_training_set,
)
from trade2026_assets.ml import classifiers, tearsheet
from trade2026_assets.ml.backtest import BacktestParams, run_backtest
from trade2026_assets.strategy.declaration import StrategyDeclaration
from trade2026_assets.tracking import MlflowResource
from trade2026_assets.warehouse import WarehouseResource

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
        image = base64.b64encode(sheet.chart_png).decode()
        statistics = {k: _finite(v) for k, v in sheet.statistics.items()}
        yield dg.MaterializeResult(
            metadata={
                MODEL_VERSION: version,
                "model_uri": model_uri,
                "headline": sheet.headline,
                "test_bars": result["bars"],
                "trials": trials,
                "params": dg.MetadataValue.json(params.describe()),
                **{
                    name: float(value)
                    for name, value in statistics.items()
                    if isinstance(value, float | int) and name != "trials"
                },
                "strategy": dg.MetadataValue.json(statistics),
                **{
                    book: dg.MetadataValue.json({k: _finite(v) for k, v in metrics.items()})
                    for book, metrics in benchmarks.items()
                },
                "buy_and_hold_total_return": result["buy_and_hold"]["total_return"],
                "equal_weight_rebalanced_total_return": result["equal_weight_rebalanced"][
                    "total_return"
                ],
                "per_symbol": dg.MetadataValue.md(tearsheet.markdown_table(sheet.per_symbol)),
                "per_period": dg.MetadataValue.md(tearsheet.markdown_table(sheet.per_period)),
                "threshold_sensitivity": dg.MetadataValue.md(
                    tearsheet.markdown_table(sheet.sensitivity)
                ),
                "equity_curve": dg.MetadataValue.md(
                    f"![equity curve and drawdown](data:image/png;base64,{image})"
                ),
            }
        )

    return backtest


def _finite(value: float) -> float | None:
    """JSON has no NaN: an undefined number is null."""
    return float(value) if math.isfinite(float(value)) else None
