"""The embedded stack for interactive use: `make up` starts the Dagster UI with its daemon,
the registry, serving and the MLflow UI in the background and prints their URLs; `make down`
stops them; `python scripts/stack.py status` says what runs.

Everything runs on the embedded profile under TRADE2026_HOME (default .trade2026): the same
state as `make demo`. Ports: DAGSTER_PORT (3070), REGISTRY_PORT (8350), SERVING_PORT
(3000), MLFLOW_PORT (5000). Each process's log is in TRADE2026_HOME/logs/, its process
group id in TRADE2026_HOME/run/, and the ports `up` started them on in
TRADE2026_HOME/run/ports.json: `status`, `down` and a second `up` use those, whatever this
shell exports.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from registry_service.main import DOCS_URL
from scripts.dagster_instance import ensure_instance_yaml
from scripts.harness.processes import descendants, kill_survivors
from scripts.harness.registry import local_api_key
from trade2026_assets.settings import SERVER_VARIABLES

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def state_dir() -> Path:
    return Path(os.environ.get("TRADE2026_HOME", REPO / ".trade2026")).resolve()


def ports(home: Path) -> dict[str, int]:
    """Each service's port: the one it was started on while it runs, else the
    environment's (or the default)."""
    chosen = {
        "dagster": int(os.environ.get("DAGSTER_PORT", "3070")),
        "registry": int(os.environ.get("REGISTRY_PORT", "8350")),
        "serving": int(os.environ.get("SERVING_PORT", "3000")),
        "mlflow": int(os.environ.get("MLFLOW_PORT", "5000")),
    }
    recorded = recorded_ports(home)
    for name in chosen:
        if name in recorded and running_pid(home, name) is not None:
            chosen[name] = recorded[name]
    return chosen


def ports_file(home: Path) -> Path:
    return home / "run" / "ports.json"


def recorded_ports(home: Path) -> dict[str, int]:
    try:
        recorded = json.loads(ports_file(home).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    if not isinstance(recorded, dict):
        return {}
    return {name: port for name, port in recorded.items() if isinstance(port, int)}


def record_port(home: Path, name: str, port: int | None) -> None:
    """Remember (or, with None, forget) the port a service was started on."""
    recorded = recorded_ports(home)
    if port is None:
        recorded.pop(name, None)
    else:
        recorded[name] = port
    ports_file(home).write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")


def embedded_env(home: Path) -> dict[str, str]:
    """The environment every process of the embedded stack runs with."""
    env = {k: v for k, v in os.environ.items() if k not in SERVER_VARIABLES}
    dagster_home = Path(env.get("DAGSTER_HOME", home / "dagster"))
    env.update(
        {
            "TRADE2026_HOME": str(home),
            "DAGSTER_HOME": str(dagster_home),
            "BENTOML_HOME": str(home / "bentoml"),
            "BENTOML_DO_NOT_TRACK": "true",
        }
    )
    return env


@dataclass(frozen=True)
class Service:
    name: str
    command: list[str]
    port: int
    probe: str  # a path that answers 200 once the service is up
    page: str = "/"  # what a person opens (answers 200 too)
    cwd: Path = REPO
    what: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def services(home: Path) -> list[Service]:
    port = ports(home)
    mlflow_db = home / "mlflow" / "mlflow.db"
    return [
        Service(
            "registry",
            [
                sys.executable,
                "-m",
                "registry_service",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port["registry"]),
            ],
            port["registry"],
            "/ready",
            page=DOCS_URL,
            what="registry API and its docs",
        ),
        Service(
            "serving",
            [str(BIN / "bentoml"), "serve", "--host", "127.0.0.1", "--port", str(port["serving"])],
            port["serving"],
            "/livez",
            cwd=REPO / "serving",
            what="serving: /predict, /signal, /v1/model (ready once a model is live)",
        ),
        Service(
            "mlflow",
            [
                str(BIN / "mlflow"),
                "server",
                "--backend-store-uri",
                f"sqlite:///{mlflow_db}",
                "--default-artifact-root",
                (home / "mlflow" / "artifacts").as_uri(),
                "--host",
                "127.0.0.1",
                "--port",
                str(port["mlflow"]),
                "--workers",
                "1",
            ],
            port["mlflow"],
            "/health",
            what="MLflow UI: runs, registered versions, the champion alias",
        ),
        Service(
            "dagster",
            [
                str(BIN / "dagster"),
                "dev",
                "-w",
                "workspace.yaml",
                "-h",
                "127.0.0.1",
                "-p",
                str(port["dagster"]),
            ],
            port["dagster"],
            "/server_info",
            what="Dagster UI + daemon: assets, checks, auto_swap_sensor, schedules",
        ),
    ]


def pid_file(home: Path, name: str) -> Path:
    return home / "run" / f"{name}.pid"


def running_pid(home: Path, name: str) -> int | None:
    path = pid_file(home, name)
    if not path.exists():
        return None
    pid = int(path.read_text().strip() or 0)
    try:
        os.killpg(pid, 0)
    except (ProcessLookupError, PermissionError):
        path.unlink()
        return None
    return pid


def wait_for(url: str, process: subprocess.Popen[bytes], timeout: float) -> bool:
    """True once `url` answers 200; False if the process exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    return False


def up(timeout: float) -> int:
    home = state_dir()
    env = embedded_env(home)
    ensure_instance_yaml(Path(env["DAGSTER_HOME"]))
    key = local_api_key(home, env)
    port = ports(home)
    registry_url = f"http://127.0.0.1:{port['registry']}"
    env.update(
        {
            # The sensor (Dagster) and serving talk to this registry with the local key.
            "TRADE2026_REGISTRY_URL": registry_url,
            "TRADE2026_REGISTRY_API_KEY": key,
            "SERVING_REGISTRY_URL": registry_url,
            "SERVING_REGISTRY_API_KEY": key,
            "TRADE2026_MLFLOW_UI_URL": f"http://127.0.0.1:{port['mlflow']}",
        }
    )
    (home / "logs").mkdir(parents=True, exist_ok=True)
    (home / "run").mkdir(parents=True, exist_ok=True)
    print(f"Trade2026 embedded stack, state in {home}", flush=True)
    failed = []
    for service in services(home):
        log = home / "logs" / f"{service.name}.log"
        if running_pid(home, service.name) is not None:
            print(f"  {service.name:<9} already running  {service.url + service.page}", flush=True)
            continue
        with log.open("ab") as out:
            process = subprocess.Popen(
                service.command,
                cwd=service.cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pid_file(home, service.name).write_text(f"{process.pid}\n")
        record_port(home, service.name, service.port)
        print(f"  {service.name:<9} starting (log: {log}) …", end="", flush=True)
        if wait_for(service.url + service.probe, process, timeout):
            print(" up", flush=True)
        else:
            print(" FAILED: see its log", flush=True)
            failed.append(service.name)
    for service in services(home):
        if service.name not in failed:
            print(f"  {service.url + service.page:<36} {service.what}")
    print(f"API key for curl: {home / 'demo-api-key'}; stop everything: make down")
    return 1 if failed else 0


def down() -> int:
    home = state_dir()
    for name in ("dagster", "serving", "mlflow", "registry"):
        pid = running_pid(home, name)
        if pid is None:
            continue
        stop_group(pid)
        pid_file(home, name).unlink(missing_ok=True)
        record_port(home, name, None)
        print(f"  {name:<9} stopped", flush=True)
    return 0


def stop_group(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM to the process group, then SIGKILL for whatever is left, including the
    processes it started in sessions of their own (BentoML's workers)."""
    started = descendants(pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    kill_survivors(started)


def status() -> int:
    home = state_dir()
    for service in services(home):
        pid = running_pid(home, service.name)
        state = "running" if pid else "stopped"
        if pid is None and answers(service.url + service.probe):
            state = "stopped, but its port answers (a process this stack did not start?)"
        print(f"  {service.name:<9} {state:<8} {service.url + service.page}")
    return 0


def answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1.0)
    except httpx.TransportError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--timeout", type=float, default=180.0, help="Seconds per service.")
    args = parser.parse_args()
    if args.command == "up":
        return up(args.timeout)
    if args.command == "down":
        return down()
    return status()


if __name__ == "__main__":
    sys.exit(main())
