"""`dagster dev` over the repository's workspace.yaml as a child process, on a loopback port
of its own, for tests that drive the UI or its GraphQL API."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from scripts.harness.processes import ChildProcessGroup
from scripts.harness.services import free_port

REPO = Path(__file__).resolve().parents[2]


def new_dagster_home(home: Path) -> Path:
    """`home/dagster` with an instance configuration that sends no telemetry."""
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return dagster_home


class DagsterDev(ChildProcessGroup):
    """`dagster dev` (webserver and daemon) with `env` added to the environment; up once
    `/server_info` answers. The UI's community dialog is marked seen, as a user who
    dismissed it, so it does not cover what a browser test clicks."""

    def __init__(
        self, env: Mapping[str, str], *, log_file: Path, start_timeout_s: float = 120.0
    ) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(base_url=self.url, timeout=30)
        self._env = {**os.environ, **env}
        self._command = [
            sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml",
            "-h", "127.0.0.1", "-p", str(port),
        ]  # fmt: skip
        self._log_path = log_file
        self._start_timeout_s = start_timeout_s

    def __enter__(self) -> DagsterDev:
        self._log = self._log_path.open("ab")
        self.process = subprocess.Popen(
            self._command,
            cwd=REPO,
            env=self._env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_up()
            self.graphql("mutation { setNuxSeen }")
        except BaseException:
            # `with` calls no __exit__ when __enter__ raises.
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self.http.close()
        super().stop(timeout)

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = self.http.post("/graphql", json={"query": query, "variables": variables})
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    def _wait_up(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self._start_timeout_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"dagster dev exited:\n{self._log_path.read_text()}")
            try:
                if self.http.get("/server_info").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"dagster dev not up; see {self._log_path}")
            time.sleep(0.5)
