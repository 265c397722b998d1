"""Start `bentoml serve` (from `serving/`) as a child process: the demo, tests, benchmarks."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

import httpx

from registry_service.process import ChildProcessGroup

SERVING_DIR = Path(__file__).resolve().parent
# Servers of the production profile that the embedded serving process must not pick up
# from the caller's shell.
_PROFILE_VARIABLES = ("MLFLOW_TRACKING_URI", "CLICKHOUSE_URL", "FEAST_REDIS_CONNECTION_STRING")


def descendants(pid: int) -> list[int]:
    """The processes `pid` started, and theirs (Linux /proc): BentoML's workers run in
    sessions of their own, so its process group does not name them."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name (2nd field) may hold spaces: read after its ')'.
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_survivors(pids: list[int], timeout: float = 10.0) -> None:
    """SIGKILL whichever of `pids` still run, and wait until they are gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        # A zombie (dead, not yet reaped by its parent) no longer runs.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


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
    ) -> None:
        self.port = port
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
        self.process = subprocess.Popen(
            [str(bentoml), "serve", "--host", self.host, "--port", str(self.port)],
            cwd=SERVING_DIR,
            env=self._env,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log else subprocess.DEVNULL,
            # Its own process group, so stop() reaches BentoML's worker processes too.
            start_new_session=True,
        )
        return self

    def stop(self, timeout: float = 15.0) -> None:
        # The workers are found before their parent goes (they die with it, see
        # serving.service; this also covers a worker that did not).
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

    def wait_ready(self, timeout: float = 120.0) -> None:
        """A model is loaded (`/readyz` answers 200)."""
        self._wait("/readyz", "ready", timeout, lambda status: status == 200)

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
