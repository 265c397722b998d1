"""`<strategy>/model`: the declared model family evaluated walk-forward on the strategy's
training set (train and validation rows, purged folds), then fitted on train with early
stopping on validation, scored on the holdout (the test split, reported only), tracked in
MLflow and registered as a new version of the strategy's registered model; a version that
passes the blocking gates (judged on the folds) gets the alias `challenger`."""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dagster as dg
import numpy as np
import polars as pl

from trade2026_assets.defs.evidence import log_failed
from trade2026_assets.defs.ml import version_description
from trade2026_assets.defs.ml.backtest_asset import periods_per_year
from trade2026_assets.defs.ml.gates import (
    CHALLENGER_ALIAS,
    champion_comparison,
    champion_on_folds,
    champion_sharpe_comparison,
    fold_table,
    load_champion_declaration,
    model_check_specs,
    model_gates,
    registered_versions,
)
from trade2026_assets.defs.ml.metadata import numbers, table
from trade2026_assets.defs.ml.reads import (
    MODEL_VERSION,
    TRAINING_SET_HASH,
    latest_metadata,
    model_rows,
    model_splits,
)
from trade2026_assets.ml import classifiers, promotion
from trade2026_assets.ml.metrics import classification_metrics, majority_baseline
from trade2026_assets.ml.walk_forward import Fold
from trade2026_assets.strategy.declaration import StrategyDeclaration
from trade2026_assets.tracking import MlflowResource, run_name
from trade2026_assets.warehouse import WarehouseResource, read_versions

# In-sample metrics only show over-fitting: a seeded sample is as good as all rows.
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


@dataclass(frozen=True)
class Registered:
    version: str
    run_id: str
    experiment_id: str


def replaced_features(
    warehouse: WarehouseResource, training_set_asset: str, training_set: str
) -> list[str]:
    """Per symbol, the features a training set was built from that are no longer the
    published ones (both versions named)."""
    with warehouse.session() as session:
        recorded = read_versions(session, training_set_asset, [training_set]).get(training_set)
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


def score(
    model: classifiers.Classifier,
    train: pl.DataFrame,
    validation: pl.DataFrame,
    test: pl.DataFrame,
    seed: int,
) -> dict[str, float]:
    """Accuracy, AUC and log loss per split, the majority baseline and the fit's summary."""
    metrics: dict[str, float] = {}
    sample = (
        train.sample(TRAIN_METRICS_SAMPLE, seed=seed)
        if train.height > TRAIN_METRICS_SAMPLE
        else train
    )
    for name, rows in (("train", sample), ("validation", validation), ("test", test)):
        scores = classification_metrics(
            rows.get_column("label").to_numpy(), classifiers.predict_frame(model, rows)
        )
        metrics.update({f"{name}_{key}": value for key, value in scores.items()})
    metrics["holdout_rows"] = float(test.height)
    metrics["test_majority_baseline_accuracy"] = majority_baseline(
        train.get_column("label").to_numpy(), test.get_column("label").to_numpy()
    )
    metrics.update(model.summary())
    return metrics


def register(
    mlflow: MlflowResource,
    declaration: StrategyDeclaration,
    model: classifiers.Classifier,
    *,
    metrics: dict[str, float],
    folds: promotion.Evaluation,
    tags: dict[str, str],
    example: pl.DataFrame,
) -> Registered:
    """One MLflow run with the declaration's parameters, the metrics and the model (its
    family's flavor, `example` its input example), registered as a new version tagged with
    what it learned from; the run is named after the version it registered."""
    experiment_id = mlflow.experiment_id()
    dagster_run_id = tags["dagster_run_id"]
    with (
        mlflow.active() as mlflow_module,
        mlflow_module.start_run(
            experiment_id=experiment_id,
            tags=tags,
            run_name=run_name(declaration.name, None, dagster_run_id),
        ) as run,
    ):
        mlflow_module.log_params(
            {
                "strategy": declaration.name,
                "model_family": declaration.model.family,
                **declaration.model.params.model_dump(),
                **declaration.gates.model_dump(),
                **{f"evaluation_{k}": v for k, v in declaration.evaluation.model_dump().items()},
            }
        )
        mlflow_module.log_metrics(metrics)
        # One series per metric, one step per walk-forward fold.
        for score in folds.scores:
            for name in (*promotion.METRICS, "sharpe"):
                mlflow_module.log_metric(f"fold_{name}", getattr(score, name), step=score.fold)
        mlflow_module.log_dict(model.importance(), "feature_importance.json")
        mlflow_module.log_dict(declaration.model_dump(mode="json"), "strategy.json")
        info = model.log_to(
            mlflow_module, registered_model=declaration.registered_model, example=example
        )
    version = str(info.registered_model_version)
    client = mlflow.client()
    client.update_run(run.info.run_id, name=run_name(declaration.name, version, dagster_run_id))
    for key in ("training_set", "dagster_run_id", "features", "model_family", "indicator_set"):
        client.set_model_version_tag(declaration.registered_model, version, key, tags[key])
    return Registered(version, run.info.run_id, experiment_id)


@dataclass(frozen=True)
class WalkForwardEvidence:
    folds: list[Fold]
    evaluation: promotion.Evaluation
    periods_per_year: float


def walk_forward(
    declaration: StrategyDeclaration,
    train: pl.DataFrame,
    validation: pl.DataFrame,
    test: pl.DataFrame,
) -> WalkForwardEvidence:
    """The declaration's folds and its scores on them (`promotion.walk_forward`, which
    drops the holdout before it cuts a fold)."""
    rows = pl.concat(
        [
            frame.with_columns(pl.lit(split).alias("split"))
            for split, frame in (("train", train), ("validation", validation), ("test", test))
        ]
    )
    try:
        bars_per_year = periods_per_year(
            promotion.evidence_rows(rows), declaration.costs.periods_per_year
        )
    except dg.Failure as exc:
        # The backtest's rule, applied to the rows the folds are cut from.
        raise dg.Failure(
            description="cannot evaluate walk-forward: "
            + (exc.description or "").replace("the test split", "the train and validation rows")
        ) from exc
    try:
        result = promotion.walk_forward(declaration, rows, periods_per_year=bars_per_year)
    except ValueError as exc:
        raise dg.Failure(description=f"cannot evaluate walk-forward: {exc}") from exc
    return WalkForwardEvidence(result.folds, result.evaluation, bars_per_year)


def model_metadata(
    declaration: StrategyDeclaration,
    mlflow: MlflowResource,
    registered: Registered,
    fitted: classifiers.Classifier,
    metrics: dict[str, float],
    evidence: WalkForwardEvidence,
    laps: dict[str, float],
) -> dict[str, Any]:
    """The materialization's metadata: the version, the fold table, every metric as a
    typed number (the walk-forward means and standard errors, the accuracy gain over the
    majority baseline, the holdout's scores: reported, judged by no gate) and the feature
    importance as a table."""
    version = registered.version
    gain = evidence.evaluation.values("accuracy") - evidence.evaluation.values("majority_baseline")
    importance = sorted(fitted.importance().items(), key=lambda item: -abs(item[1]))
    return {
        MODEL_VERSION: version,
        "model_uri": declaration.model_uri(version),
        "model_family": declaration.model.family,
        "mlflow_run_id": registered.run_id,
        "mlflow_run": dg.MetadataValue.url(
            mlflow.run_url(registered.experiment_id, registered.run_id)
        ),
        "mlflow_model_version": dg.MetadataValue.url(
            mlflow.model_version_url(declaration.registered_model, version)
        ),
        **numbers(
            {
                "wf_accuracy_gain_mean": float(np.mean(gain)),
                "wf_accuracy_gain_se": promotion.standard_error(gain),
            }
        ),
        **numbers(metrics),
        "holdout_rows": int(metrics.get("holdout_rows", 0)),
        "wf_folds": len(evidence.evaluation.scores),
        "walk_forward_folds": fold_table(evidence.evaluation),
        "feature_importance": table(
            pl.DataFrame(
                {
                    "feature": [name for name, _ in importance],
                    "importance": [float(value) for _, value in importance],
                },
                schema={"feature": pl.String, "importance": pl.Float64},
            )
        ),
        "seconds_by_phase": dg.MetadataValue.json(laps),
    }


def build_model(declaration: StrategyDeclaration) -> dg.AssetsDefinition:
    key = dg.AssetKey(declaration.asset_key_path("model"))
    training_set_key = dg.AssetKey(declaration.asset_key_path("training_set"))
    family = declaration.model.family

    @dg.asset(
        key=key,
        deps=[training_set_key],
        group_name=declaration.group,
        kinds={"xgboost" if family == "xgboost" else "scikitlearn", "mlflow"},
        check_specs=model_check_specs(key),
        metadata={
            "model_family": family,
            "registered_model": declaration.registered_model,
            "features": dg.MetadataValue.json(list(declaration.features)),
        },
        description=f"{declaration.name}: {family} classifier of the direction over "
        f"{declaration.label.horizon} bar(s), tracked in MLflow and registered as a new "
        f"version of `{declaration.registered_model}`; versions that pass the blocking gates "
        "get the alias `challenger`.",
    )
    def model(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        mlflow: MlflowResource,
    ) -> Iterator[dg.MaterializeResult[None] | dg.AssetCheckResult]:
        clock = _PhaseClock()
        training_set = str(latest_metadata(context, training_set_key, TRAINING_SET_HASH))
        indicator_set = str(latest_metadata(context, training_set_key, "indicator_set"))
        if latest_metadata(context, training_set_key, "no_leakage_passed") is not True:
            raise dg.Failure(
                description=f"training set {training_set} failed its no_leakage check; "
                "declare split.embargo_bars >= label.horizon and re-materialize it"
            )
        replaced = replaced_features(warehouse, training_set_key.to_user_string(), training_set)
        if replaced:
            raise dg.Failure(
                description=f"training set {training_set} was built from features that were "
                "replaced since: " + "; ".join(replaced) + ". Re-materialize the training set."
            )
        clock.lap("lineage")
        train, validation, test = model_splits(model_rows(warehouse, training_set))
        clock.lap("read")
        # The folds come from train and validation only: the holdout chooses nothing.
        evidence = walk_forward(declaration, train, validation, test)
        clock.lap("walk_forward")
        fitted = classifiers.fit(declaration.model, declaration.features, train, validation)
        clock.lap("train")
        metrics = {
            **score(fitted, train, validation, test, seed=declaration.model.params.seed),
            **evidence.evaluation.summary(),
        }
        clock.lap("score")
        registered = register(
            mlflow,
            declaration,
            fitted,
            metrics=metrics,
            folds=evidence.evaluation,
            tags={
                "strategy": declaration.name,
                "dagster_run_id": context.run.run_id,
                "training_set": training_set,
                "indicator_set": indicator_set,
                "features": ",".join(declaration.features),
                "model_family": family,
            },
            # A real feature row: what the version page offers a pyfunc caller to send.
            example=validation.head(1),
        )
        version = registered.version
        gates = model_gates(evidence.evaluation, declaration.gates)
        passed = all(gate.passed for gate in gates)
        if passed:
            mlflow.client().set_registered_model_alias(
                declaration.registered_model, CHALLENGER_ALIAS, version
            )
        clock.lap("mlflow")
        champion = champion_on_folds(
            load_champion_declaration(mlflow, declaration),
            declaration,
            evidence.folds,
            evidence.periods_per_year,
        )
        against_champion = [
            champion_comparison(champion, evidence.evaluation, declaration.gates),
            champion_sharpe_comparison(
                champion,
                evidence.evaluation,
                declaration.gates,
                trials=registered_versions(mlflow, declaration),
            ),
        ]
        version_description.write_description(
            mlflow,
            declaration,
            version,
            version_description.describe(
                declaration,
                metrics,
                [*gates, *against_champion],
                version_description.TrainingSetFacts(
                    training_set=training_set,
                    indicator_set=indicator_set,
                    dagster_run_id=context.run.run_id,
                    rows={
                        "train": train.height,
                        "validation": validation.height,
                        "test": test.height,
                    },
                ),
            ),
        )
        clock.lap("champion")
        context.log.info(
            "%s version %s: walk-forward AUC %.4f ± %.4f, holdout AUC %.4f (reported only)",
            declaration.registered_model,
            version,
            metrics["wf_auc_mean"],
            metrics["wf_auc_se"],
            metrics["test_auc"],
        )
        yield dg.MaterializeResult(
            data_version=dg.DataVersion(f"{declaration.registered_model}-{version}"),
            metadata=model_metadata(
                declaration, mlflow, registered, fitted, metrics, evidence, clock.laps
            )
            | {
                TRAINING_SET_HASH: training_set,
                "indicator_set": indicator_set,
                "challenger": passed,
                # Read by the backtest: a version that failed a gate is not backtested.
                "gates_passed": passed,
            },
        )
        log_failed(context, [*gates, *against_champion])
        yield from gates
        yield from against_champion

    return model
