"""The production profile as processes on this machine's real servers: the registry on a
PostgreSQL database of its own with its outbox relayed to NATS JetStream (a stream of its
own), the Dagster instance on PostgreSQL (dagster-postgres), the Feast online store on Redis
(a project of its own) with its registry on PostgreSQL, MLflow as a tracking server process
on PostgreSQL with proxied artifacts, and `bentoml serve` following the registry over NATS.
ClickHouse stays embedded (chDB): no ClickHouse server can run here.

Used by the production-profile tests and by the soak (`bench/soak.py`). Everything it
creates is removed on exit: databases dropped, the stream deleted, the Feast project's keys
and registry entries torn down.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import httpx

from registry_service.client import RegistryClient
from scripts.harness.dagster_runs import resource_of
from scripts.harness.processes import ChildProcessGroup
from scripts.harness.registry import RegistryProcess, create_key
from scripts.harness.services import (
    NATS_TEST_URL,
    POSTGRES_ADMIN_URL,
    REDIS_TEST_CONNECTION,
    delete_stream,
    free_port,
    temporary_postgres_database,
)
from scripts.harness.serving import ServingProcess
from trade2026_assets.definitions import build_definitions
from trade2026_assets.feature_store.resource import FeatureStoreResource
from trade2026_assets.registry import RegistryResource
from trade2026_assets.settings import AssetsSettings
from trade2026_assets.tracking import MlflowResource

BIN = Path(sys.executable).parent


class MlflowServer(ChildProcessGroup):
    """`mlflow server` on a PostgreSQL backend store, artifacts proxied through it."""

    def __init__(
        self,
        *,
        port: int,
        backend_uri: str,
        artifacts: Path,
        log_file: Path,
        start_timeout_s: float = 120.0,
    ) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._start_timeout_s = start_timeout_s
        self._command = [
            str(BIN / "mlflow"), "server", "--backend-store-uri", backend_uri,
            "--artifacts-destination", str(artifacts), "--serve-artifacts",
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ]  # fmt: skip
        self._log_path = log_file

    def __enter__(self) -> MlflowServer:
        self._log = self._log_path.open("ab")
        self.process = subprocess.Popen(
            self._command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "MLFLOW_LOGGING_LEVEL": "WARNING"},
        )
        try:
            self._wait_up()
        except BaseException:
            # `with` calls no __exit__ when __enter__ raises: stop the server and its workers
            # here, or they outlive the stack (and the database it drops).
            self.stop()
            raise
        return self

    def _wait_up(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self._start_timeout_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited; see {self._log_path}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"mlflow server not up; see {self._log_path}")
            time.sleep(0.3)


@dataclass
class ProductionStack:
    home: Path
    env: dict[str, str]
    settings: AssetsSettings
    defs: dg.Definitions
    instance: dg.DagsterInstance
    registry: RegistryClient
    registry_process: RegistryProcess
    api_key: str
    serving: ServingProcess
    mlflow_server: MlflowServer
    feature_store: FeatureStoreResource
    resources: dict[str, Any]
    stream: str
    logs: dict[str, Path] = field(default_factory=dict)

    def processes(self) -> dict[str, int]:
        """Process-group leader pid of each server this stack started."""
        groups = {
            "registry": self.registry_process,
            "serving": self.serving,
            "mlflow": self.mlflow_server,
        }
        return {name: group.process.pid for name, group in groups.items() if group.process}


@contextmanager
def scoped_environment(values: dict[str, str]) -> Iterator[None]:
    """Set variables for the block (the definitions read them through dagster.EnvVar)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def production_stack(
    home: Path,
    *,
    symbols: list[str],
    synthetic_bars: int,
    serving_poll_s: float = 30.0,
    strategies_dir: Path | None = None,
) -> Iterator[ProductionStack]:
    """The stack, its code location over the strategies declared in `strategies_dir` (the
    settings' default when None); a caller that edits a declaration there builds the
    definitions again from `settings`."""
    tag = uuid.uuid4().hex[:10]
    stream, prefix, project = f"T26_PROD_{tag}", f"t26prod.{tag}", f"t26prod_{tag}"
    logs = {name: home / f"{name}.log" for name in ("registry", "serving", "mlflow")}
    with ExitStack() as stack:
        databases = {
            name: stack.enter_context(temporary_postgres_database(POSTGRES_ADMIN_URL, prefix=name))
            for name in ("t26_registry", "t26_dagster", "t26_mlflow", "t26_feast")
        }
        stack.callback(delete_stream, stream)
        psycopg3 = {
            n: url.replace("postgresql://", "postgresql+psycopg://") for n, url in databases.items()
        }
        mlflow_server = stack.enter_context(
            MlflowServer(
                port=free_port(),
                backend_uri=psycopg3["t26_mlflow"],
                artifacts=home / "mlflow-artifacts",
                log_file=logs["mlflow"],
            )
        )
        env = {
            "TRADE2026_HOME": str(home),
            "TRADE2026_FEAST_PROJECT": project,
            "FEAST_REDIS_CONNECTION_STRING": REDIS_TEST_CONNECTION,
            "FEAST_REGISTRY_URL": psycopg3["t26_feast"],
            "MLFLOW_TRACKING_URI": mlflow_server.url,
            "REGISTRY_DATABASE_URL": databases["t26_registry"],
            "NATS_URL": NATS_TEST_URL,
            "REGISTRY_NATS_STREAM": stream,
            "REGISTRY_NATS_SUBJECT_PREFIX": prefix,
        }
        if strategies_dir is not None:
            # Serving reads the declarations from the environment, as deployed.
            env["TRADE2026_STRATEGIES_DIR"] = str(strategies_dir)
        stack.enter_context(scoped_environment(env))
        key = create_key(name="production-tests", scopes="read,write,deploy", env=env)
        registry_process = stack.enter_context(
            RegistryProcess(port=free_port(), env=env, log_file=logs["registry"])
        )
        client = stack.enter_context(RegistryClient(registry_process.url, api_key=key))
        os.environ["TRADE2026_REGISTRY_API_KEY"] = key
        env["TRADE2026_REGISTRY_API_KEY"] = key
        dagster_home = home / "dagster"
        dagster_home.mkdir(parents=True, exist_ok=True)
        # dagster-postgres speaks psycopg2 (SQLAlchemy 2.1's default PostgreSQL driver is
        # psycopg 3, which sends NOTIFY's payload as a server-side parameter and fails).
        dagster_url = databases["t26_dagster"].replace("postgresql://", "postgresql+psycopg2://")
        (dagster_home / "dagster.yaml").write_text(
            f'storage:\n  postgres:\n    postgres_url: "{dagster_url}"\n'
            # As docker/dagster.yaml: runs left in progress by a dead worker are failed.
            "run_monitoring:\n  enabled: true\n  max_resume_run_attempts: 0\n"
            "telemetry:\n  enabled: false\n"
        )
        instance = stack.enter_context(dg.DagsterInstance.from_config(str(dagster_home)))
        settings = AssetsSettings(
            home=home,
            symbols=",".join(symbols),
            synthetic_bars=synthetic_bars,
            synthetic_predictability=0.2,
            feast_project=project,
            registry_url=registry_process.url,
        )
        defs = build_definitions(settings)
        feature_store = resource_of(defs, "feature_store", FeatureStoreResource)
        stack.callback(feature_store.teardown)
        serving = stack.enter_context(
            ServingProcess(
                port=free_port(),
                env={
                    **env,
                    "SERVING_REGISTRY_URL": registry_process.url,
                    "SERVING_REGISTRY_API_KEY": key,
                    "SERVING_NATS_URL": NATS_TEST_URL,
                    "SERVING_NATS_SUBJECT_PREFIX": prefix,
                    "SERVING_POLL_INTERVAL_S": str(serving_poll_s),
                    "BENTOML_HOME": str(home / "bentoml"),
                },
                log_file=logs["serving"],
                inherit_servers=True,
            )
        )
        serving.wait_up()
        yield ProductionStack(
            home=home,
            env=env,
            settings=settings,
            defs=defs,
            instance=instance,
            registry=client,
            registry_process=registry_process,
            api_key=key,
            serving=serving,
            mlflow_server=mlflow_server,
            feature_store=feature_store,
            resources={
                "registry": resource_of(defs, "registry", RegistryResource),
                "mlflow": resource_of(defs, "mlflow", MlflowResource),
            },
            stream=stream,
            logs=logs,
        )
