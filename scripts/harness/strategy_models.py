"""Models for serving to serve: small boosters registered in the real MLflow store under a
state directory, and the registry entity that puts one live."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from registry_service.client import RegistryClient
from trade2026_assets.feature_catalog import DEFAULT_FEATURES as FEATURES
from trade2026_assets.strategy.declaration import DEFAULT_STRATEGY, StrategyDeclaration
from trade2026_assets.tracking import MlflowResource

MODEL = DEFAULT_STRATEGY
# Declaration changes that make the default strategy's model deliberately weaker on the
# synthetic market (4,000 bars, predictability 0.2): two one-split trees, each drawing 2 of
# the 10 features (walk-forward AUC ~0.53 against the default's ~0.58), so the paired
# comparison tells them apart; small trees over all ten features tie with the default. Its
# features stay the declared ones, which a running serving process takes. Its gates are
# loosened (2 standard errors, a point under the majority class allowed): its accuracy gain
# is too small for the default bound, and the loops that use it test the loop, not the gates.
WEAKER_DEFAULT: dict[str, Any] = {
    "model": {"params": {"num_boost_round": 2, "max_depth": 1, "colsample_bytree": 0.2, "seed": 0}},
    "gates": {"k": 2.0, "baseline_margin": -0.01},
}


def register_models(home: Path, count: int) -> list[str]:
    """`count` small boosters that answer differently, registered as versions 1..count of
    the default strategy's model in the MLflow store the pipeline uses under `home`; their URIs."""
    import mlflow.xgboost
    import xgboost as xgb

    uris = []
    with mlflow_store(home) as mlflow:
        experiment = _experiment(mlflow, home)
        for version in range(1, count + 1):
            uris.append(_version_uri(_register(mlflow, xgb, experiment, version)))
    return uris


def _experiment(mlflow: Any, home: Path) -> str:
    """The tests' experiment, its artifacts under `home` (not the working directory)."""
    found = mlflow.get_experiment_by_name("serving-tests")
    if found is not None:
        return str(found.experiment_id)
    artifacts = (home / "mlflow" / "artifacts").as_uri()
    return str(mlflow.create_experiment("serving-tests", artifact_location=artifacts))


def register_unparsable_model(home: Path) -> str:
    """One more registered version whose `MLmodel` file is not YAML (as if truncated or
    edited by hand); its URI."""
    import mlflow.xgboost
    import xgboost as xgb

    with mlflow_store(home) as mlflow:
        info = _register(mlflow, xgb, _experiment(mlflow, home), 7)
        location = mlflow.get_logged_model(info.model_id).artifact_location
    mlmodel = Path(urlparse(location).path) / "MLmodel"
    assert mlmodel.is_file(), mlmodel
    mlmodel.write_text("artifact_path: model\nflavors: [unclosed\n")
    return _version_uri(info)


def mlflow_store(home: Path) -> Any:
    """The `mlflow` module on the pipeline's store under `home`, for a `with` block; the
    process's MLflow environment is put back afterwards (as the pipeline's resource does),
    so later tests do not log into this store."""
    return MlflowResource(
        tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
        artifact_location=(home / "mlflow" / "artifacts").as_uri(),
    ).active()


def _version_uri(info: Any) -> str:
    return f"models:/{MODEL}/{info.registered_model_version}"


def _register(mlflow: Any, xgb: Any, experiment_id: str, version: int) -> Any:
    """A small booster logged and registered as the next version; its ModelInfo."""
    rng = np.random.default_rng(version)
    rows = rng.normal(size=(400, len(FEATURES))).astype(np.float32)
    labels = (rows[:, version % len(FEATURES)] > 0).astype(np.int8)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2, "nthread": 1},
        xgb.DMatrix(rows, label=labels, feature_names=list(FEATURES)),
        num_boost_round=5,
    )
    with mlflow.start_run(experiment_id=experiment_id):
        return mlflow.xgboost.log_model(
            booster, name="model", registered_model_name=MODEL, pip_requirements=["xgboost"]
        )


def register_strategy_model(home: Path, declaration: StrategyDeclaration, seed: int) -> str:
    """A small model of the declaration's family over its features, logged with its
    family's MLflow flavor and registered as the next version of its registered model;
    its URI. Different seeds answer differently."""
    rng = np.random.default_rng(seed)
    features = declaration.features
    rows = rng.normal(size=(400, len(features))).astype(np.float32)
    labels = (rows[:, seed % len(features)] > 0).astype(np.int8)
    with mlflow_store(home) as mlflow:
        experiment = _experiment(mlflow, home)
        with mlflow.start_run(experiment_id=experiment):
            if declaration.model.family == "xgboost":
                import mlflow.xgboost
                import xgboost as xgb

                booster = xgb.train(
                    {"objective": "binary:logistic", "max_depth": 2, "nthread": 1},
                    xgb.DMatrix(rows, label=labels, feature_names=list(features)),
                    num_boost_round=5,
                )
                info = mlflow.xgboost.log_model(
                    booster,
                    name="model",
                    registered_model_name=declaration.registered_model,
                    pip_requirements=["xgboost"],
                )
            else:
                import mlflow.sklearn
                from sklearn.linear_model import LogisticRegression
                from sklearn.pipeline import make_pipeline
                from sklearn.preprocessing import StandardScaler

                pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(rows, labels)
                info = mlflow.sklearn.log_model(
                    pipeline,
                    name="model",
                    registered_model_name=declaration.registered_model,
                    pip_requirements=["scikit-learn"],
                )
    return declaration.model_uri(str(info.registered_model_version))


def declared_entity(
    client: RegistryClient, declaration: StrategyDeclaration, model_version: str
) -> str:
    """The registry entity of one model version of a declared strategy, its config as
    the declaration derives it (what the auto-swap sensor registers); its id."""
    entity = client.create_entity(
        name=declaration.entity_name,
        type="strategy",
        version=f"1.0.{model_version}",
        description=f"serves {declaration.model_uri(model_version)}",
        config=declaration.entity_config(model_version),
    )
    return str(entity.entity_id)


def strategy_entity(client: RegistryClient, version: str, model_uri: str) -> str:
    entity = client.create_entity(
        name=MODEL,
        type="strategy",
        version=version,
        description=f"serves {model_uri}",
        config={"model_uri": model_uri, "buy_threshold": 0.6, "sell_threshold": 0.4},
    )
    return str(entity.entity_id)
