"""MLflow as a Dagster resource: experiment tracking and the model registry.

Nothing is imported or connected until a method is called: `import mlflow` takes most of a
second, and Dagster loads this module on every code-server start.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from trade2026_assets.mlflow_requests import bound_mlflow_requests

if TYPE_CHECKING:
    from mlflow import MlflowClient


_MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
# What an experiment holds, as MLflow's UI writes it when "Machine learning" is chosen for it.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
# MLflow 3.17's UI takes the landing view from a per-browser "workflow type" (GenAI by
# default: the traces overview), not from that tag; a link naming the type lands on runs.
LANDS_ON_RUNS = "workflowType=machine_learning"


class MlflowResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where runs and registered models live (embedded: SQLite + local artifacts)."""

    tracking_uri: str = Field(
        description="MLflow tracking URI: sqlite:///… for the embedded profile, http://… for "
        "a tracking server. The registry uses the same URI."
    )
    artifact_location: str = Field(
        default="",
        description="Where a newly created experiment stores artifacts (file:///… for the "
        "embedded profile); empty lets the tracking server decide.",
    )
    experiment: str = Field(default="trade2026", description="Experiment name.")
    request_timeout_s: int = Field(
        default=60,
        ge=1,
        description="Budget of one request to a tracking server (an upload of a model is one).",
    )
    request_retries: int = Field(
        default=3, ge=0, description="Retries of a tracking-server request that failed."
    )
    ui_url: str = Field(
        default="http://127.0.0.1:5000",
        description="MLflow UI base URL used for links in asset metadata.",
    )

    def client(self) -> MlflowClient:
        from mlflow import MlflowClient

        self._ensure_local_store()
        self._bound_requests()
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def experiment_id(self) -> str:
        """The experiment's id, created if missing; either way marked as model training."""
        client = self.client()
        experiment = client.get_experiment_by_name(self.experiment)
        if experiment is None:
            return str(
                client.create_experiment(
                    self.experiment,
                    artifact_location=self.artifact_location or None,
                    tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING},
                )
            )
        if experiment.tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING:
            # Created before the tag was set (or by hand).
            client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)
        return str(experiment.experiment_id)

    @contextmanager
    def active(self) -> Iterator[Any]:
        """The `mlflow` module pointed at this tracking URI, for the flavour APIs
        (`mlflow.xgboost.log_model`) that only speak through the module's global state."""
        import mlflow

        self._ensure_local_store()
        self._bound_requests()
        # `set_tracking_uri` also writes MLFLOW_TRACKING_URI into os.environ, which would
        # leak into whatever this process configures next: put the environment back.
        saved = {name: os.environ.get(name) for name in _MLFLOW_ENV}
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        try:
            yield mlflow
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def _bound_requests(self) -> None:
        bound_mlflow_requests(timeout_s=self.request_timeout_s, max_retries=self.request_retries)

    def _ensure_local_store(self) -> None:
        # SQLite needs its directory; a server needs nothing from us.
        prefix = "sqlite:///"
        if self.tracking_uri.startswith(prefix):
            Path(self.tracking_uri[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)

    def experiment_url(self, experiment_id: str) -> str:
        """The experiment's runs (not the GenAI overview a bare experiment link opens)."""
        return f"{self.ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs?{LANDS_ON_RUNS}"

    def run_url(self, experiment_id: str, run_id: str) -> str:
        return (
            f"{self.ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}?{LANDS_ON_RUNS}"
        )

    def model_version_url(self, registered_model: str, version: str) -> str:
        return (
            f"{self.ui_url.rstrip('/')}/#/models/{registered_model}/versions/{version}"
            f"?{LANDS_ON_RUNS}"
        )


def run_name(strategy: str, version: str | None, dagster_run_id: str) -> str:
    """An MLflow run's name: `<strategy> · v3 · run 1a2b3c4d` (the version once
    the model is registered; the Dagster run id shortened as Dagster's UI shows it)."""
    parts = [strategy, *([f"v{version}"] if version else []), f"run {dagster_run_id[:8]}"]
    return " · ".join(parts)
