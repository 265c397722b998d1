"""A strategy's live model: the registry deployment that named it (its config validated as
a `DeploymentConfig`), the model loaded from MLflow through its family's flavor, and the
signal rule of that deployment."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from trade2026_assets.ml.classifiers import Classifier, ModelLoadError
from trade2026_assets.strategy.declaration import DeploymentConfig
from trade2026_assets.strategy.rule import SignalRule

__all__ = ["Deployment", "LiveModel", "ModelLoadError", "load_model"]

_VERSION_URI = re.compile(r"models:/(?P<name>[^/@]+)/(?P<version>\d+)")


@dataclass(frozen=True)
class Deployment:
    """What the registry says is live in a slot: the deployment and the swap that made it so."""

    deployment_id: str
    entity_id: str
    entity_name: str
    entity_version: str
    config: DeploymentConfig
    activated_at: datetime | None
    swap_id: str | None

    @property
    def model_uri(self) -> str:
        return self.config.model_uri

    @property
    def rule(self) -> SignalRule:
        return self.config.rule()

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
        """ModelLoadError naming the deployment and the fields when its config cannot be
        served (no model_uri, an unknown family or feature, thresholds out of order)."""
        try:
            parsed = DeploymentConfig.model_validate(config)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'config'}: "
                f"{e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            raise ModelLoadError(f"deployment {deployment_id}: bad config: {problems}") from exc
        return cls(
            deployment_id=deployment_id,
            entity_id=entity_id,
            entity_name=entity_name,
            entity_version=entity_version,
            config=parsed,
            activated_at=activated_at,
            swap_id=swap_id,
        )


@dataclass(frozen=True)
class LiveModel:
    deployment: Deployment
    model: Classifier
    model_version: str
    loaded_at: datetime
    # The rule, once: it is applied to every probability of every /signal.
    rule: SignalRule
    serving_since: datetime | None = None

    @property
    def family(self) -> str:
        return self.model.family

    @property
    def features(self) -> tuple[str, ...]:
        return self.model.features

    def predict(self, rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Up-probabilities of rows whose columns are `features`, in that order."""
        return self.model.predict(rows)

    def switched_in(self, at: datetime) -> LiveModel:
        return replace(self, serving_since=at)


def load_model(
    deployment: Deployment, *, tracking_uri: str, features: tuple[str, ...]
) -> LiveModel:
    """Load the deployment's model from MLflow and warm it; ModelLoadError if it cannot
    serve `features` (the strategy's declared features, which its routes take)."""
    import mlflow
    import mlflow.sklearn
    import mlflow.xgboost

    config = deployment.config
    if config.features != features:
        raise ModelLoadError(
            f"deployment {deployment.deployment_id} names features {list(config.features)}; "
            f"the strategy declares {list(features)}"
        )
    from trade2026_assets.ml.classifiers import load

    mlflow.set_tracking_uri(tracking_uri)
    model = load(mlflow, family=config.model_family, model_uri=config.model_uri, features=features)
    live = LiveModel(
        deployment=deployment,
        model=model,
        model_version=_version_of(config.model_uri, tracking_uri),
        loaded_at=datetime.now(UTC),
        rule=config.rule(),
    )
    # Warm: the first predictions allocate the model's buffers; requests should not pay.
    for rows in (1, 64):
        live.predict(np.zeros((rows, len(features)), dtype=np.float32))
    return live


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
