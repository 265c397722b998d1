"""`training_set` → `xgb_model` → `strategy_backtest`, with their quality gates.

Each asset finds what its upstream produced through the upstream's latest materialization
metadata (a content hash, an MLflow model version), and reads the data itself from the
warehouse or the model registry: nothing large travels through an IO manager.
"""

import base64
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
from pydantic import Field, ValidationError

from trade2026_assets.assets.evidence import config_failure, log_failed, refuse_publish
from trade2026_assets.ml import model as ml
from trade2026_assets.ml.backtest import BacktestParams, equity_chart_png, run_backtest
from trade2026_assets.ml.training_set import (
    FEATURES,
    SPLITS,
    TrainingSetParams,
    boundary_gaps,
    content_hash,
    feature_frame,
    split_by_time,
)
from trade2026_assets.tracking import MlflowResource
from trade2026_assets.warehouse import (
    TRAINING_SETS,
    WAREHOUSE_POOL,
    Published,
    WarehouseResource,
    read_versions,
    to_frame,
)

FEATURES_SQL = """
SELECT symbol, ts, close, ret_1, volatility, rsi, macd, macd_signal, macd_hist,
       bb_upper, bb_middle, bb_lower, indicator_set
FROM features
WHERE symbol IN {symbols:Array(String)}
ORDER BY symbol, ts
"""
# What training reads: split, features, label; strings as plain String (ClickHouse hands
# LowCardinality columns to Arrow far slower), in a fixed order so training is repeatable.
MODEL_ROWS_SQL = """
SELECT toUInt8(indexOf(['train', 'validation', 'test'], split)) AS split_code,
       ret_1, ret_1_lag1, ret_1_lag2, volatility, rsi, macd_norm, macd_signal_norm,
       macd_hist_norm, bb_pctb, bb_width, label
FROM training_sets
WHERE training_set = {training_set:String}
ORDER BY training_set, split, symbol, ts
"""
TEST_ROWS_SQL = """
SELECT toString(split) AS split, toString(symbol) AS symbol, ts, close,
       ret_1, ret_1_lag1, ret_1_lag2, volatility, rsi, macd_norm, macd_signal_norm,
       macd_hist_norm, bb_pctb, bb_width, label
FROM training_sets
WHERE training_set = {training_set:String} AND split = 'test'
ORDER BY symbol, ts
"""
TRAINING_SET_HASH = "training_set_hash"
MODEL_VERSION = "model_version"


def latest_metadata(context: dg.AssetExecutionContext, asset: str, key: str) -> Any:
    """A value from this run's materialization of `asset`, else from its latest one (so
    that two runs at once each follow their own lineage)."""
    asset_key = dg.AssetKey(asset)
    materialization = None
    records = context.instance.get_records_for_run(
        run_id=context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    for record in records:
        candidate = record.event_log_entry.asset_materialization
        if candidate is not None and candidate.asset_key == asset_key:
            materialization = candidate
    if materialization is None:
        event = context.instance.get_latest_materialization_event(asset_key)
        materialization = event.asset_materialization if event else None
    if materialization is None or key not in materialization.metadata:
        raise dg.Failure(description=f"{asset} has not been materialized yet (no {key})")
    return materialization.metadata[key].value


def load_training_set(warehouse: WarehouseResource, training_set: str, sql: str) -> pl.DataFrame:
    frame = warehouse.query_frame(sql, {"training_set": training_set})
    if frame.height == 0:
        raise dg.Failure(description=f"training set {training_set} is not in the warehouse")
    return frame


def model_rows(warehouse: WarehouseResource, training_set: str) -> pl.DataFrame:
    """The rows a model trains on (MODEL_ROWS_SQL), through a local Arrow cache.

    A training set never changes under its content hash, so its rows can be kept as an
    Arrow IPC file named by that hash (`WarehouseResource.cache_dir`): reading it is a
    memory copy, where a fresh chDB session spends most of a second decompressing. The
    warehouse stays the record; without a cache directory, or with no file yet, the rows
    come from it (and are cached).
    """
    if not warehouse.cache_dir:
        return load_training_set(warehouse, training_set, MODEL_ROWS_SQL)
    path = Path(warehouse.cache_dir) / "training_sets" / f"{training_set}.arrow"
    if path.exists():
        return pl.read_ipc(path)
    frame = load_training_set(warehouse, training_set, MODEL_ROWS_SQL)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole, then renamed: a reader never sees half a file.
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    frame.write_ipc(partial)
    partial.replace(path)
    return frame


# -- training_set ------------------------------------------------------------------------


class TrainingSetConfig(dg.Config):
    horizon: int = 1
    validation_fraction: float = 0.2
    test_fraction: float = 0.2
    embargo_bars: int | None = Field(
        default=None, description="Bars dropped before each boundary; unset = the horizon."
    )

    def params(self) -> TrainingSetParams:
        try:
            return TrainingSetParams(**self.model_dump())
        except ValidationError as exc:
            raise config_failure(exc, "training set parameters") from exc


def no_leakage_result(frame: pl.DataFrame, horizon: int) -> dg.AssetCheckResult:
    gaps = boundary_gaps(frame)
    worst = min(gaps.values())
    return dg.AssetCheckResult(
        check_name="no_leakage",
        passed=worst >= horizon,
        metadata={
            "min_gap_bars": worst,
            "threshold_bars": horizon,
            "gaps_bars": dg.MetadataValue.json(gaps),
            "rule": "every split boundary leaves at least `horizon` bars between the last "
            "row before it and the first row after it",
        },
    )


def stale_inputs(
    partitions: list[str],
    downstream: dict[str, Published],
    upstream_versions: dict[str, Published],
    *,
    upstream: str,
    asset: str,
) -> list[str]:
    """Per partition, why `asset`'s published data was not derived from `upstream`'s
    published data (both versions named); empty when every partition matches."""
    problems = []
    for partition in partitions:
        mine = downstream.get(partition)
        theirs = upstream_versions.get(partition)
        if mine is None:
            problems.append(f"{partition}: {asset} has no recorded version")
        elif theirs is None:
            problems.append(f"{partition}: {upstream} has no recorded version")
        elif mine.inputs.get(upstream) != theirs.data_version:
            problems.append(
                f"{partition}: {asset} was derived from {upstream} version "
                f"{mine.inputs.get(upstream) or '?'}, but the published {upstream} are version "
                f"{theirs.data_version}"
            )
    return problems


def build_training_set(symbols: list[str]) -> dg.AssetsDefinition:
    @dg.asset(
        name="training_set",
        pool=WAREHOUSE_POOL,
        deps=["indicators"],
        group_name="ml",
        kinds={"clickhouse", "polars"},
        check_specs=[
            dg.AssetCheckSpec(
                "no_leakage",
                asset="training_set",
                blocking=True,
                description="splits are separated by at least the label horizon",
            )
        ],
        metadata={"warehouse_table": TRAINING_SETS.name},
        description="Point-in-time features and next-bar direction labels from `features`, "
        "split by time (train/validation/test) with an embargo; stored under its content "
        "hash in the warehouse table `training_sets`.",
    )
    def training_set(
        context: dg.AssetExecutionContext,
        config: TrainingSetConfig,
        warehouse: WarehouseResource,
    ) -> Iterator[dg.MaterializeResult[None] | dg.AssetCheckResult]:
        params = config.params()
        with warehouse.session() as session:
            # The features, and the versions they and the bars were published under, read
            # in one session: a set is built from one consistent publication.
            features = to_frame(session.query_arrow(FEATURES_SQL, {"symbols": symbols}))
            feature_versions = read_versions(session, "indicators", symbols)
            bars_versions = read_versions(session, "market_bars", symbols)
        stale = stale_inputs(
            symbols, feature_versions, bars_versions, upstream="market_bars", asset="indicators"
        )
        if stale:
            raise dg.Failure(
                description="features do not match the published bars: "
                + "; ".join(stale)
                + ". Re-materialize `indicators` for these symbols."
            )
        indicator_sets = features.get_column("indicator_set").unique().to_list()
        if len(indicator_sets) != 1:
            raise dg.Failure(
                description=f"features hold {len(indicator_sets)} indicator sets "
                f"{indicator_sets}; re-materialize `indicators` for every symbol with one"
            )
        try:
            frame = split_by_time(feature_frame(features, params.horizon), params)
        except ValueError as exc:
            raise dg.Failure(description=str(exc)) from exc
        digest = content_hash(frame, params, indicator_sets[0])
        leakage = no_leakage_result(frame, params.horizon)
        if not leakage.passed:
            yield from refuse_publish(
                context, [leakage], [leakage], kept=f"training set {digest} was not stored"
            )
        stored = frame.with_columns(pl.lit(digest).alias("training_set"))
        close = features.select(pl.col("symbol").cast(pl.String), "ts", "close")
        stored = stored.join(close, on=["symbol", "ts"], how="left")
        with warehouse.staged(table=TRAINING_SETS, partitions=[digest]) as staged:
            staged.insert(stored.to_arrow())
            staged.publish(
                versions={
                    digest: Published(
                        digest,
                        {
                            f"indicators/{symbol}": feature_versions[symbol].data_version
                            for symbol in symbols
                        },
                    )
                },
                asset="training_set",
                run_id=context.run.run_id,
            )
        model_rows(warehouse, digest)  # fills the model's cache from what was stored
        counts = frame.group_by("split").agg(pl.len(), pl.col("label").mean().alias("up"))
        by_split = {row["split"]: row for row in counts.iter_rows(named=True)}
        bounds = frame.group_by("split").agg(pl.col("ts").min(), pl.col("ts").max().alias("to"))
        context.log.info("training set %s: %d rows", digest, frame.height)
        yield dg.MaterializeResult(
            data_version=dg.DataVersion(digest),
            metadata={
                TRAINING_SET_HASH: digest,
                # Read by xgb_model: a set that failed its leakage check is never trained on.
                "no_leakage_passed": leakage.passed,
                "indicator_set": indicator_sets[0],
                "features": dg.MetadataValue.json(list(FEATURES)),
                "label": f"close[t+{params.horizon}] > close[t]",
                "params": dg.MetadataValue.json(params.model_dump()),
                "rows": frame.height,
                "rows_by_split": dg.MetadataValue.json(
                    {split: by_split[split]["len"] for split in SPLITS if split in by_split}
                ),
                "share_up_by_split": dg.MetadataValue.json(
                    {split: by_split[split]["up"] for split in SPLITS if split in by_split}
                ),
                "time_range_by_split": dg.MetadataValue.json(
                    {
                        row["split"]: [row["ts"].isoformat(), row["to"].isoformat()]
                        for row in bounds.iter_rows(named=True)
                    }
                ),
                "feature_versions": dg.MetadataValue.json(
                    {symbol: feature_versions[symbol].data_version for symbol in symbols}
                ),
            },
        )
        yield leakage

    return training_set


# -- xgb_model ---------------------------------------------------------------------------


def replaced_features(warehouse: WarehouseResource, training_set: str) -> list[str]:
    """Per symbol, the features a training set was built from that are no longer the
    published ones (both versions named)."""
    with warehouse.session() as session:
        recorded = read_versions(session, "training_set", [training_set]).get(training_set)
        if recorded is None:
            return [f"training set {training_set} has no recorded inputs"]
        symbols = [key.split("/", 1)[1] for key in recorded.inputs if key.startswith("indicators/")]
        current = read_versions(session, "indicators", symbols)
    return [
        f"{symbol}: built from indicators version {recorded.inputs[f'indicators/{symbol}']}, "
        f"published now: {current[symbol].data_version if symbol in current else 'none'}"
        for symbol in symbols
        if symbol not in current
        or current[symbol].data_version != recorded.inputs[f"indicators/{symbol}"]
    ]


class XgbModelConfig(dg.Config):
    num_boost_round: int = 100
    max_depth: int = 5
    learning_rate: float = 0.1
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 1.0
    early_stopping_rounds: int = 10
    seed: int = 42
    nthread: int = 2
    baseline_margin: float = Field(
        default=0.005, description="Test accuracy must beat the majority class by this much."
    )
    auc_margin: float = Field(default=0.01, description="Test AUC must exceed 0.5 by this much.")
    min_test_rows: int = Field(
        default=200,
        ge=1,
        description="The gates fail on fewer test rows than this: a score on a handful of "
        "rows says nothing.",
    )
    champion_margin: float = Field(
        default=0.005,
        ge=0,
        description="beats_champion needs the test AUC to exceed the champion's by at least "
        "this much; a smaller difference either way is a tie, and a tie keeps the champion.",
    )

    def params(self) -> ml.XgbParams:
        try:
            return ml.XgbParams(
                **self.model_dump(
                    exclude={"baseline_margin", "auc_margin", "min_test_rows", "champion_margin"}
                ),
            )
        except ValidationError as exc:
            raise config_failure(exc, "XGBoost parameters") from exc


TRAIN_METRICS_SAMPLE = 200_000


class _PhaseClock:
    """Wall time per phase of an asset, reported in its metadata."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now


MODEL_CHECKS = [
    dg.AssetCheckSpec(
        "beats_majority_baseline",
        asset="xgb_model",
        blocking=True,
        description="test accuracy beats always predicting the majority class by the margin",
    ),
    dg.AssetCheckSpec(
        "test_auc_above_chance",
        asset="xgb_model",
        blocking=True,
        description="test AUC exceeds 0.5 by the margin",
    ),
    dg.AssetCheckSpec(
        "beats_champion",
        asset="xgb_model",
        blocking=False,
        description="test AUC beats the current `champion` version's on the same test split",
    ),
]


def model_splits(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Train, validation and test rows of a frame read with MODEL_ROWS_SQL."""
    train, validation, test = (frame.filter(pl.col("split_code") == code) for code in (1, 2, 3))
    return train, validation, test


def load_champion(mlflow: MlflowResource) -> tuple[str, Any] | None:
    """The version under the `champion` alias and its booster, or None if there is none."""
    from mlflow.exceptions import MlflowException

    try:
        champion = mlflow.client().get_model_version_by_alias(mlflow.registered_model, "champion")
    except MlflowException as exc:
        # No alias (or no registered model yet) means no champion; any other error surfaces.
        if exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            return None
        raise
    with mlflow.active() as mlflow_module:
        booster = mlflow_module.xgboost.load_model(
            f"models:/{mlflow.registered_model}/{champion.version}"
        )
    return str(champion.version), booster


def champion_outcome(candidate: float, champion: float, margin: float) -> str:
    """'won', 'tie' or 'lost': a difference smaller than `margin` either way is a tie."""
    if candidate - champion >= margin and candidate > champion:
        return "won"
    if champion - candidate >= margin and champion > candidate:
        return "lost"
    return "tie"


def champion_comparison(
    mlflow: MlflowResource, test_rows: pl.DataFrame, candidate_auc: float, margin: float
) -> dg.AssetCheckResult:
    champion = load_champion(mlflow)
    if champion is None:
        return dg.AssetCheckResult(
            check_name="beats_champion",
            passed=True,
            metadata={
                "champion": "none yet",
                "outcome": "no champion",
                "candidate_test_auc": candidate_auc,
            },
        )
    version, booster = champion
    labels = test_rows.get_column("label").to_numpy()
    champion_auc = ml.classification_metrics(labels, ml.predict(booster, test_rows))["auc"]
    outcome = champion_outcome(candidate_auc, champion_auc, margin)
    return dg.AssetCheckResult(
        check_name="beats_champion",
        passed=outcome == "won",
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{outcome} against champion version {version} "
        f"(AUC {candidate_auc:.4f} vs {champion_auc:.4f}, margin {margin:g})",
        metadata={
            "outcome": outcome,
            "champion_version": version,
            "champion_test_auc": champion_auc,
            "candidate_test_auc": candidate_auc,
            "auc_gain": candidate_auc - champion_auc,
            "margin": margin,
        },
    )


def build_xgb_model() -> dg.AssetsDefinition:
    @dg.asset(
        name="xgb_model",
        deps=["training_set"],
        group_name="ml",
        kinds={"xgboost", "mlflow"},
        check_specs=MODEL_CHECKS,
        description="XGBoost classifier of next-bar direction, tracked in MLflow and "
        "registered as a new version of `default_ml_strategy`; versions that pass the "
        "blocking gates get the alias `challenger`.",
    )
    def xgb_model(
        context: dg.AssetExecutionContext,
        config: XgbModelConfig,
        warehouse: WarehouseResource,
        mlflow: MlflowResource,
    ) -> Iterator[dg.MaterializeResult[None] | dg.AssetCheckResult]:
        params = config.params()
        clock = _PhaseClock()
        training_set = str(latest_metadata(context, "training_set", TRAINING_SET_HASH))
        indicator_set = str(latest_metadata(context, "training_set", "indicator_set"))
        if latest_metadata(context, "training_set", "no_leakage_passed") is not True:
            raise dg.Failure(
                description=f"training set {training_set} failed its no_leakage check; "
                "re-materialize training_set with embargo_bars >= horizon"
            )
        replaced = replaced_features(warehouse, training_set)
        if replaced:
            raise dg.Failure(
                description=f"training set {training_set} was built from features that were "
                "replaced since: " + "; ".join(replaced) + ". Re-materialize training_set."
            )
        clock.lap("lineage")
        frame = model_rows(warehouse, training_set)
        train_rows, validation_rows, test_rows = model_splits(frame)
        clock.lap("read")
        booster = ml.train(train_rows, validation_rows, params)
        clock.lap("train")
        metrics: dict[str, float] = {}
        # In-sample metrics only show over-fitting: a seeded sample is as good as all rows.
        train_sample = (
            train_rows.sample(TRAIN_METRICS_SAMPLE, seed=params.seed)
            if train_rows.height > TRAIN_METRICS_SAMPLE
            else train_rows
        )
        for name, rows in (
            ("train", train_sample),
            ("validation", validation_rows),
            ("test", test_rows),
        ):
            scores = ml.classification_metrics(
                rows.get_column("label").to_numpy(), ml.predict(booster, rows)
            )
            metrics.update({f"{name}_{key}": value for key, value in scores.items()})
        baseline = ml.majority_baseline(
            train_rows.get_column("label").to_numpy(), test_rows.get_column("label").to_numpy()
        )
        metrics["test_majority_baseline_accuracy"] = baseline
        metrics["best_iteration"] = float(booster.best_iteration)
        importance = booster.get_score(importance_type="gain")
        clock.lap("score")

        experiment_id = mlflow.experiment_id()
        tags = {
            "dagster_run_id": context.run.run_id,
            "training_set": training_set,
            "indicator_set": indicator_set,
            "features": ",".join(FEATURES),
        }
        with mlflow.active() as mlflow_module:
            import xgboost as xgb

            with mlflow_module.start_run(experiment_id=experiment_id, tags=tags) as run:
                mlflow_module.log_params(
                    {
                        **params.model_dump(),
                        **config.model_dump(
                            include={
                                "baseline_margin",
                                "auc_margin",
                                "min_test_rows",
                                "champion_margin",
                            }
                        ),
                    }
                )
                mlflow_module.log_metrics(metrics)
                mlflow_module.log_dict(importance, "feature_importance.json")
                info = mlflow_module.xgboost.log_model(
                    booster,
                    name="model",
                    # Without explicit requirements MLflow spends ~10 s inferring them.
                    pip_requirements=[f"xgboost=={xgb.__version__}"],
                    registered_model_name=mlflow.registered_model,
                )
        version = str(info.registered_model_version)
        client = mlflow.client()
        client.set_model_version_tag(mlflow.registered_model, version, "training_set", training_set)
        client.set_model_version_tag(
            mlflow.registered_model, version, "dagster_run_id", context.run.run_id
        )

        # Below the minimum sample no score is evidence, however good it looks.
        enough = test_rows.height >= config.min_test_rows
        sample = {"test_rows": test_rows.height, "min_test_rows": config.min_test_rows}
        gates = [
            dg.AssetCheckResult(
                check_name="beats_majority_baseline",
                passed=enough and metrics["test_accuracy"] >= baseline + config.baseline_margin,
                metadata={
                    "test_accuracy": metrics["test_accuracy"],
                    "majority_baseline_accuracy": baseline,
                    "margin": config.baseline_margin,
                    "threshold": baseline + config.baseline_margin,
                    **sample,
                },
            ),
            dg.AssetCheckResult(
                check_name="test_auc_above_chance",
                passed=enough and metrics["test_auc"] >= 0.5 + config.auc_margin,
                metadata={
                    "test_auc": metrics["test_auc"],
                    "margin": config.auc_margin,
                    "threshold": 0.5 + config.auc_margin,
                    **sample,
                },
            ),
        ]
        if all(gate.passed for gate in gates):
            client.set_registered_model_alias(mlflow.registered_model, "challenger", version)
        clock.lap("mlflow")
        context.log.info(
            "model version %s: test accuracy %.4f (baseline %.4f), AUC %.4f",
            version,
            metrics["test_accuracy"],
            baseline,
            metrics["test_auc"],
        )
        yield dg.MaterializeResult(
            data_version=dg.DataVersion(f"{mlflow.registered_model}-{version}"),
            metadata={
                MODEL_VERSION: version,
                "model_uri": f"models:/{mlflow.registered_model}/{version}",
                "indicator_set": indicator_set,
                "mlflow_run_id": run.info.run_id,
                "mlflow_run": dg.MetadataValue.url(mlflow.run_url(experiment_id, run.info.run_id)),
                "mlflow_model_version": dg.MetadataValue.url(mlflow.model_version_url(version)),
                TRAINING_SET_HASH: training_set,
                "challenger": all(gate.passed for gate in gates),
                # Read by strategy_backtest: a version that failed a gate is not backtested.
                "gates_passed": all(gate.passed for gate in gates),
                "metrics": dg.MetadataValue.json(metrics),
                "feature_importance_gain": dg.MetadataValue.json(importance),
                "seconds_by_phase": dg.MetadataValue.json(clock.laps),
                **{key: metrics[key] for key in ("test_accuracy", "test_auc", "test_log_loss")},
            },
        )
        champion = champion_comparison(
            mlflow, test_rows, metrics["test_auc"], config.champion_margin
        )
        log_failed(context, [*gates, champion])
        yield from gates
        yield champion

    return xgb_model


# -- strategy_backtest -------------------------------------------------------------------


class BacktestConfig(dg.Config):
    buy_threshold: float = 0.6
    sell_threshold: float = 0.4
    position_size: float = 0.02
    fee_bps: float = 1.0
    slippage_bps: float = 1.0
    periods_per_year: float = Field(
        default=0.0,
        description="Bars per year for annualizing; 0 = from the test split (bars per "
        "symbol over elapsed years, median symbol).",
    )


# Symbols whose bars per year differ by more than this factor are not one frequency.
MAX_FREQUENCY_RATIO = 2.0


def _periods_per_year(test_rows: pl.DataFrame, configured: float) -> float:
    """Bars per year: as configured, or as the test split shows (per symbol, bars over
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
            f"~{fastest:,.0f}): backtest symbols of one frequency together, or set "
            "periods_per_year"
        )
    return float(rates.median())  # type: ignore[arg-type]


def build_strategy_backtest() -> dg.AssetsDefinition:
    @dg.asset(
        name="strategy_backtest",
        deps=["xgb_model", "training_set"],
        group_name="ml",
        kinds={"mlflow"},
        check_specs=[
            dg.AssetCheckSpec(
                "beats_champion_sharpe",
                asset="strategy_backtest",
                blocking=False,
                description="the candidate's backtest Sharpe beats the champion's on the "
                "same test split",
            )
        ],
        description="The default strategy (BUY > 0.6, SELL < 0.4, 2% size) out of sample "
        "on the test split, with costs, against buy-and-hold; equity chart in the metadata "
        "and in the model's MLflow run.",
    )
    def strategy_backtest(
        context: dg.AssetExecutionContext,
        config: BacktestConfig,
        warehouse: WarehouseResource,
        mlflow: MlflowResource,
    ) -> Iterator[dg.MaterializeResult[None] | dg.AssetCheckResult]:
        version = str(latest_metadata(context, "xgb_model", MODEL_VERSION))
        training_set = str(latest_metadata(context, "xgb_model", TRAINING_SET_HASH))
        if latest_metadata(context, "xgb_model", "gates_passed") is not True:
            raise dg.Failure(
                description=f"model version {version} failed a blocking gate of xgb_model; "
                "it is not backtested"
            )
        test_rows = load_training_set(warehouse, training_set, TEST_ROWS_SQL)
        try:
            params = BacktestParams(
                buy_threshold=config.buy_threshold,
                sell_threshold=config.sell_threshold,
                position_size=config.position_size,
                fee_bps=config.fee_bps,
                slippage_bps=config.slippage_bps,
                periods_per_year=_periods_per_year(test_rows, config.periods_per_year),
            )
        except ValueError as exc:
            raise dg.Failure(description=f"invalid backtest parameters: {exc}") from exc
        model_uri = f"models:/{mlflow.registered_model}/{version}"
        with mlflow.active() as mlflow_module:
            booster = mlflow_module.xgboost.load_model(model_uri)
        try:
            result = run_backtest(test_rows, ml.predict(booster, test_rows), params)
        except ValueError as exc:
            raise dg.Failure(description=f"cannot backtest: {exc}") from exc
        chart = equity_chart_png(
            result["strategy_equity"],
            result["buy_and_hold_equity"],
            f"{mlflow.registered_model} v{version}: test split",
        )
        client = mlflow.client()
        run_id = client.get_model_version(mlflow.registered_model, version).run_id
        if run_id is None:
            raise dg.Failure(description=f"model version {version} names no MLflow run")
        flat = {f"backtest_{k}": float(v) for k, v in result["strategy"].items()}
        flat.update({f"buy_and_hold_{k}": float(v) for k, v in result["buy_and_hold"].items()})
        with tempfile.TemporaryDirectory() as tmp:
            chart_path = Path(tmp) / "equity_curve.png"
            chart_path.write_bytes(chart)
            client.log_artifact(run_id, str(chart_path))
        for key, value in flat.items():
            client.log_metric(run_id, key, value)
        client.log_dict(run_id, {"params": params.__dict__, **flat}, "backtest.json")
        image = base64.b64encode(chart).decode()
        yield dg.MaterializeResult(
            metadata={
                MODEL_VERSION: version,
                "model_uri": model_uri,
                "test_bars": result["bars"],
                "params": dg.MetadataValue.json(params.__dict__),
                "strategy": dg.MetadataValue.json(result["strategy"]),
                "buy_and_hold": dg.MetadataValue.json(result["buy_and_hold"]),
                "sharpe": result["strategy"]["sharpe"],
                "total_return": result["strategy"]["total_return"],
                "max_drawdown": result["strategy"]["max_drawdown"],
                "equity_curve": dg.MetadataValue.md(
                    f"![equity curve](data:image/png;base64,{image})"
                ),
            }
        )
        yield champion_sharpe(mlflow, test_rows, params, result["strategy"]["sharpe"])

    return strategy_backtest


def champion_sharpe(
    mlflow: MlflowResource, test_rows: pl.DataFrame, params: BacktestParams, sharpe: float
) -> dg.AssetCheckResult:
    champion = load_champion(mlflow)
    if champion is None:
        return dg.AssetCheckResult(
            check_name="beats_champion_sharpe",
            passed=True,
            metadata={"champion": "none yet", "candidate_sharpe": sharpe},
        )
    version, booster = champion
    theirs = run_backtest(test_rows, ml.predict(booster, test_rows), params)["strategy"]["sharpe"]
    return dg.AssetCheckResult(
        check_name="beats_champion_sharpe",
        passed=sharpe > theirs,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "champion_version": version,
            "champion_sharpe": float(theirs),
            "candidate_sharpe": sharpe,
        },
    )
