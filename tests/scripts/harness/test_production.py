"""The production harness's MLflow server process leaves nothing behind when it fails to
start in time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scripts.harness.production import MlflowServer
from scripts.harness.services import free_port


def test_an_mlflow_server_that_is_not_up_in_time_is_stopped(tmp_path: Path) -> None:
    server = MlflowServer(
        port=free_port(),
        backend_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifacts=tmp_path / "artifacts",
        log_file=tmp_path / "mlflow.log",
        start_timeout_s=0.0,
    )
    with pytest.raises(TimeoutError, match="mlflow server not up"), server:
        pass
    assert server.process is not None
    assert server.process.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(server.process.pid, 0)
