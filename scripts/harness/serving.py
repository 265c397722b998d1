"""`bentoml serve` (from `serving/`) as a child process: the demo, tests, benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

import httpx

from scripts.harness.processes import ChildProcessGroup, descendants, kill_survivors
from serving.settings import WORKERS

SERVING_DIR = Path(__file__).resolve().parents[2] / "serving"
# Servers of the production profile that the embedded serving process must not pick up
# from the caller's shell.
_PROFILE_VARIABLES = ("MLFLOW_TRACKING_URI", "CLICKHOUSE_URL", "FEAST_REDIS_CONNECTION_STRING")


class ServingProcess(ChildProcessGroup):
    """A `bentoml serve` child process; a context manager that stops it on exit."""

    def __init__(
        self,
        *,
        port: int,
        env: Mapping[str, str] | None = None,
        log_file: Path | None = None,
        host: str = "127.0.0.1",
        inherit_servers: bool = False,
        target: str | None = None,
        cwd: Path = SERVING_DIR,
    ) -> None:
        """`target` and `cwd`: another service to serve (`module:Class`) and the directory
        it is imported from; by default ours, from `serving/` (its bentofile)."""
        self.port = port
        self.target = target
        self.cwd = cwd
        self.host = host
        self.url = f"http://{host}:{port}"
        base = dict(os.environ)
        if not inherit_servers:
            for name in _PROFILE_VARIABLES:
                base.pop(name, None)
        # Unbuffered: the workers log to stdout, which is a file here; a buffered error
        # line would be lost when the process group is stopped.
        self._env = {
            "BENTOML_DO_NOT_TRACK": "true",
            "PYTHONUNBUFFERED": "1",
            **base,
            **(env or {}),
        }
        self._log_path = log_file
        self._log: IO[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServingProcess:
        if self._log_path is not None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self._log_path.open("ab")
        bentoml = Path(sys.executable).parent / "bentoml"
        target = [self.target] if self.target else []
        self.process = subprocess.Popen(
            [str(bentoml), "serve", *target, "--host", self.host, "--port", str(self.port)],
            cwd=self.cwd,
            env=self._env,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log else subprocess.DEVNULL,
            # Its own process group, so stop() reaches BentoML's worker processes too.
            start_new_session=True,
        )
        return self

    def stop(self, timeout: float = 15.0) -> None:
        # The workers are found before their parent goes (they die with it, see
        # serving/service.py; this also covers a worker that did not).
        workers = descendants(self.process.pid) if self.process is not None else []
        super().stop(timeout)
        kill_survivors(workers)

    def _check_running(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"bentoml serve exited with code {self.process.returncode}"
                + (f"; see {self._log_path}" if self._log_path else "")
            )

    def wait_up(self, timeout: float = 120.0) -> None:
        """Listening, whether or not a model is loaded."""
        self._wait("/livez", "up", timeout, lambda status: True)

    def wait_ready(self, timeout: float = 120.0, *, workers: int = WORKERS) -> None:
        """A model is loaded in every one of the service's `workers`.

        `/readyz` is answered by whichever worker takes the connection, and each worker
        loads on its own: one ready worker says nothing of the other, which may still be
        loading a deployment made after it started. Fresh connections to `GET /strategies`
        (each names its worker and its readiness) reach every worker soon enough."""
        deadline = time.monotonic() + timeout
        self._wait("/readyz", "ready", timeout, lambda status: status == 200)
        ready: set[str] = set()
        unready = "none"
        while len(ready) < workers:
            self._check_running()
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"serving at {self.url}: {len(ready)} of {workers} workers ready "
                    f"after {timeout:.0f}s; the last answer of one that was not: {unready}"
                )
            try:
                answer = httpx.get(f"{self.url}/strategies", timeout=2.0)
            except httpx.TransportError as exc:
                unready = f"{type(exc).__name__}: {exc}"
            else:
                if answer.status_code == 200 and answer.json()["ready"]:
                    ready.add(answer.json()["worker"])
                else:
                    unready = f"{answer.status_code} {answer.text[:300]}"
            time.sleep(0.05)

    def _wait(self, path: str, what: str, timeout: float, done: Callable[[int], bool]) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_running()
            try:
                if done(httpx.get(f"{self.url}{path}", timeout=2.0).status_code):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"serving at {self.url} not {what} after {timeout:.0f}s")

    def __enter__(self) -> ServingProcess:
        return self.start() if self.process is None else self


def serving_process(
    home: Path, *, port: int, registry_url: str, api_key: str, extra_env: dict[str, str]
) -> ServingProcess:
    """`bentoml serve` with its state under `home`, following the registry at `registry_url`."""
    env = {
        "TRADE2026_HOME": str(home),
        "SERVING_REGISTRY_URL": registry_url,
        "SERVING_REGISTRY_API_KEY": api_key,
        "BENTOML_HOME": str(home / "bentoml"),
        **extra_env,
    }
    return ServingProcess(port=port, env=env, log_file=home / "serving.log")
