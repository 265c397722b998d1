"""The MLflow resource against a real (SQLite) store: the experiment it creates, or finds,
is marked as model training, and its links open the runs, not MLflow's GenAI overview."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from trade2026_assets.mlflow_requests import BACKOFF_FACTOR, MAX_RETRIES, TIMEOUT
from trade2026_assets.tracking import (
    EXPERIMENT_KIND_TAG,
    MODEL_TRAINING,
    MlflowResource,
    run_name,
)


def _resource(tmp_path: Path, **fields: Any) -> MlflowResource:
    return MlflowResource(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifact_location=(tmp_path / "artifacts").as_uri(),
        **fields,
    )


def test_a_new_experiment_is_marked_as_model_training(tmp_path: Path) -> None:
    mlflow = _resource(tmp_path)
    experiment_id = mlflow.experiment_id()
    # Read back through a client of its own: what the UI's server reads.
    reader = MlflowClient(tracking_uri=mlflow.tracking_uri)
    tags = reader.get_experiment(experiment_id).tags
    assert tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING == "custom_model_development"
    assert mlflow.experiment_id() == experiment_id


def test_an_experiment_created_without_the_mark_gets_it(tmp_path: Path) -> None:
    mlflow = _resource(tmp_path, experiment="made_by_hand")
    reader = MlflowClient(tracking_uri=mlflow.tracking_uri)
    made = reader.create_experiment("made_by_hand")
    assert EXPERIMENT_KIND_TAG not in reader.get_experiment(made).tags
    assert mlflow.experiment_id() == made
    assert reader.get_experiment(made).tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING


def test_links_name_the_model_training_view(tmp_path: Path) -> None:
    mlflow = _resource(tmp_path, ui_url="http://127.0.0.1:5099/")
    assert (
        mlflow.experiment_url("3")
        == "http://127.0.0.1:5099/#/experiments/3/runs?workflowType=machine_learning"
    )
    assert (
        mlflow.run_url("3", "abc")
        == "http://127.0.0.1:5099/#/experiments/3/runs/abc?workflowType=machine_learning"
    )
    assert mlflow.model_version_url("alpha", "2").startswith(
        "http://127.0.0.1:5099/#/models/alpha/versions/2?"
    )


def test_a_run_is_named_after_its_strategy_version_and_dagster_run() -> None:
    run_id = "1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809"
    assert run_name("alpha", "3", run_id) == "alpha · v3 · run 1a2b3c4d"
    # Before the version is registered the run has a name already.
    assert run_name("alpha", None, run_id) == "alpha · run 1a2b3c4d"


def test_a_frozen_tracking_server_fails_a_call_in_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (TIMEOUT, MAX_RETRIES, BACKOFF_FACTOR):
        monkeypatch.delenv(name, raising=False)  # put back after the test
    frozen = socket.socket()  # listens, never accepts: a stopped server to its clients
    frozen.bind(("127.0.0.1", 0))
    frozen.listen(8)
    mlflow = MlflowResource(
        tracking_uri=f"http://127.0.0.1:{frozen.getsockname()[1]}",
        request_timeout_s=1,
        request_retries=1,
    )
    outcome: list[BaseException | str] = []

    def call() -> None:
        try:
            outcome.append(mlflow.experiment_id())
        except Exception as exc:  # noqa: BLE001 - the outcome is the test's evidence
            outcome.append(exc)

    started = time.monotonic()
    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    caller.join(30)
    frozen.close()
    assert not caller.is_alive(), "an MLflow call waited on a frozen server for 30 s"
    assert isinstance(outcome[0], Exception), outcome
    assert time.monotonic() - started < 30
