"""The real stack serving runs in: models in a real MLflow store, the registry as a process,
and `bentoml serve` as a process, all under one state directory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from registry_service.client import RegistryClient
from registry_service.process import RegistryProcess, create_key
from serving.process import ServingProcess
from trade2026_assets.ml.training_set import FEATURES
from trade2026_assets.tracking import MlflowResource

MODEL = "default_ml_strategy"


def register_models(home: Path, count: int) -> list[str]:
    """`count` small boosters that answer differently, registered as versions 1..count of
    default_ml_strategy in the MLflow store the pipeline uses under `home`; their URIs."""
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


@contextmanager
def registry_process(
    home: Path, port: int, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[RegistryProcess, str]]:
    env = {
        "TRADE2026_HOME": str(home),
        "REGISTRY_DATABASE_URL": f"sqlite:///{home / 'registry.db'}",
        **(extra_env or {}),
    }
    key = create_key(name="serving-tests", scopes="read,write,deploy", env=env)
    with RegistryProcess(port=port, env=env, log_file=home / "registry.log") as registry:
        yield registry, key


def serving_process(
    home: Path, *, port: int, registry_url: str, api_key: str, extra_env: dict[str, str]
) -> ServingProcess:
    env = {
        "TRADE2026_HOME": str(home),
        "SERVING_REGISTRY_URL": registry_url,
        "SERVING_REGISTRY_API_KEY": api_key,
        "BENTOML_HOME": str(home / "bentoml"),
        **extra_env,
    }
    return ServingProcess(port=port, env=env, log_file=home / "serving.log")


def strategy_entity(client: RegistryClient, version: str, model_uri: str) -> str:
    entity = client.create_entity(
        name=MODEL,
        type="strategy",
        version=version,
        description=f"serves {model_uri}",
        config={"model_uri": model_uri, "buy_threshold": 0.6, "sell_threshold": 0.4},
    )
    return str(entity.entity_id)
