"""The registry (`python -m registry_service`) as a child process, and API keys for it made
with its operator CLI: the demo, the stack, tests, benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

from scripts.harness.processes import ChildProcessGroup


def create_key(*, name: str, scopes: str, env: Mapping[str, str] | None = None) -> str:
    """Create an API key with the operator CLI (`create-key`) and return it."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "registry_service",
            "create-key",
            "--name",
            name,
            "--scopes",
            scopes,
        ],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout.strip()


def local_api_key(home: Path, env: Mapping[str, str] | None = None) -> str:
    """The local stack's API key (read, write, deploy): created once with the CLI, kept in
    the state directory `home`, readable by its owner only."""
    key_file = home / "demo-api-key"
    if key_file.exists():
        return key_file.read_text().strip()
    key = create_key(name="local", scopes="read,write,deploy", env=env)
    home.mkdir(parents=True, exist_ok=True)
    key_file.touch(mode=0o600)
    key_file.write_text(key + "\n")
    return key


class RegistryProcess(ChildProcessGroup):
    """A registry server child process; a context manager that stops it on exit."""

    def __init__(
        self,
        *,
        port: int,
        env: Mapping[str, str] | None = None,
        log_file: Path | None = None,
        workers: int = 1,
        host: str = "127.0.0.1",
    ) -> None:
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"
        # Unbuffered, so its log file is complete even when it is killed.
        self._env = {"PYTHONUNBUFFERED": "1", **os.environ, **(env or {})}
        self._log_path = log_file
        self._log: IO[bytes] | None = None
        self._workers = workers
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, ready_timeout: float = 60.0) -> RegistryProcess:
        if self._log_path is not None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self._log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "registry_service",
                "serve",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--workers",
                str(self._workers),
            ],
            env=self._env,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log else subprocess.DEVNULL,
            # Its own process group, so stop() also reaches uvicorn's worker processes.
            start_new_session=True,
        )
        self.wait_ready(ready_timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"registry exited with code {self.process.returncode} before it was ready"
                    + (f"; see {self._log_path}" if self._log_path else "")
                )
            try:
                if httpx.get(f"{self.url}/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"registry at {self.url} not ready after {timeout:.0f}s")

    def __enter__(self) -> RegistryProcess:
        return self.start() if self.process is None else self


@contextmanager
def registry_process(
    home: Path, port: int, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[RegistryProcess, str]]:
    """A registry on a SQLite file under `home`, and a read, write and deploy key for it."""
    env = {
        "TRADE2026_HOME": str(home),
        "REGISTRY_DATABASE_URL": f"sqlite:///{home / 'registry.db'}",
        **(extra_env or {}),
    }
    key = create_key(name="serving-tests", scopes="read,write,deploy", env=env)
    with RegistryProcess(port=port, env=env, log_file=home / "registry.log") as registry:
        yield registry, key
