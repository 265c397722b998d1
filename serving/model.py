"""The live model: an XGBoost booster from MLflow, with the registry deployment that named
it and the strategy rule of that deployment's config."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from trade2026_assets.ml.training_set import FEATURES
from trade2026_assets.strategy import StrategyConfig

MODEL_NAME = "default_ml_strategy"
_VERSION_URI = re.compile(r"models:/(?P<name>[^/@]+)/(?P<version>\d+)")


class ModelLoadError(RuntimeError):
    """A deployment's model cannot be served (missing, unreadable, wrong features)."""


@dataclass(frozen=True)
class Deployment:
    """What the registry says is live: the deployment and the swap that made it so."""

    deployment_id: str
    entity_id: str
    entity_name: str
    entity_version: str
    model_uri: str
    strategy: StrategyConfig
    activated_at: datetime | None
    swap_id: str | None

    @classmethod
    def from_config(
        cls,
        *,
        deployment_id: str,
        entity_id: str,
        entity_name: str,
        entity_version: str,
        config: dict[str, Any],
        activated_at: datetime | None,
        swap_id: str | None,
    ) -> Deployment:
        model_uri = config.get("model_uri")
        if not isinstance(model_uri, str) or not model_uri:
            raise ModelLoadError(f"deployment {deployment_id}: its config names no model_uri")
        try:
            strategy = StrategyConfig(
                **{
                    key: float(config[key])
                    for key in ("buy_threshold", "sell_threshold", "position_size")
                    if key in config
                }
            )
        except (TypeError, ValueError) as exc:
            raise ModelLoadError(f"deployment {deployment_id}: bad strategy config: {exc}") from exc
        return cls(
            deployment_id=deployment_id,
            entity_id=entity_id,
            entity_name=entity_name,
            entity_version=entity_version,
            model_uri=model_uri,
            strategy=strategy,
            activated_at=activated_at,
            swap_id=swap_id,
        )


@dataclass(frozen=True)
class LiveModel:
    deployment: Deployment
    booster: Any
    model_version: str
    # Trees up to the early-stopping best, as training scored them.
    iteration_range: tuple[int, int]
    loaded_at: datetime
    serving_since: datetime | None = None

    def predict(self, rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Up-probabilities of rows whose columns are FEATURES, in that order."""
        return np.asarray(
            self.booster.inplace_predict(rows, iteration_range=self.iteration_range),
            dtype=np.float64,
        )

    def switched_in(self, at: datetime) -> LiveModel:
        return replace(self, serving_since=at)


def load_model(deployment: Deployment, *, tracking_uri: str) -> LiveModel:
    """Load the deployment's model from MLflow and warm it; ModelLoadError if it cannot
    serve this service's features."""
    import mlflow
    import mlflow.xgboost
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri)
    try:
        booster = mlflow.xgboost.load_model(deployment.model_uri)
    except (MlflowException, OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load {deployment.model_uri}: {exc}") from exc
    except Exception as exc:
        # MLflow lets its parsers' errors through (an MLmodel file that is not YAML, or
        # YAML that is not a mapping): as much a model that cannot load as a missing one.
        raise ModelLoadError(
            f"cannot load {deployment.model_uri}: {type(exc).__name__}: {exc}"
        ) from exc
    names = list(getattr(booster, "feature_names", None) or [])
    if names != list(FEATURES):
        raise ModelLoadError(
            f"{deployment.model_uri} takes features {names}, this service serves {list(FEATURES)}"
        )
    # One thread per prediction: requests arrive concurrently on every worker, and
    # XGBoost's OpenMP threads per call would fight over the same cores.
    booster.set_param({"nthread": 1})
    best = getattr(booster, "best_iteration", None)
    iteration_range = (0, int(best) + 1) if best is not None else (0, 0)
    model = LiveModel(
        deployment=deployment,
        booster=booster,
        model_version=_version_of(deployment.model_uri, tracking_uri),
        iteration_range=iteration_range,
        loaded_at=datetime.now(UTC),
    )
    # Warm: the first predictions allocate XGBoost's buffers; requests should not pay.
    for rows in (1, 64):
        model.predict(np.zeros((rows, len(FEATURES)), dtype=np.float32))
    return model


def _version_of(model_uri: str, tracking_uri: str) -> str:
    """The MLflow registered version a `models:/` URI names (an alias is resolved)."""
    match = _VERSION_URI.fullmatch(model_uri)
    if match:
        return match["version"]
    if model_uri.startswith("models:/") and "@" in model_uri:
        from mlflow import MlflowClient

        name, alias = model_uri.removeprefix("models:/").split("@", 1)
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        return str(client.get_model_version_by_alias(name, alias).version)
    return model_uri
