"""Each service of the production profile gets only the credentials it uses, and the app
containers refuse the example's placeholder secrets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from scripts.harness.services import POSTGRES_ADMIN_URL
from tests.docker.conftest import DOCKER, PLACEHOLDER, secret_names, secret_value

# Which secret each service is given (anywhere in its environment or command).
EXPECTED = {
    "postgres": {
        "POSTGRES_PASSWORD", "REGISTRY_DB_PASSWORD", "DAGSTER_DB_PASSWORD",
        "MLFLOW_DB_PASSWORD", "FEAST_DB_PASSWORD",
    },
    "clickhouse": {"CLICKHOUSE_PASSWORD"},
    "redis": {"REDIS_FEAST_PASSWORD", "REDIS_READER_PASSWORD"},
    "nats": {"NATS_REGISTRY_PASSWORD", "NATS_SERVING_PASSWORD"},
    "mlflow": {
        "MLFLOW_DB_PASSWORD", "MLFLOW_ADMIN_PASSWORD", "MLFLOW_SERVING_PASSWORD",
        "MLFLOW_FLASK_SECRET_KEY",
    },
    "registry": {"REGISTRY_DB_PASSWORD", "NATS_REGISTRY_PASSWORD"},
    # Sensors: the instance, MLflow, the registry (they deploy).
    "dagster-code": {"DAGSTER_DB_PASSWORD", "MLFLOW_ADMIN_PASSWORD", "TRADE2026_REGISTRY_API_KEY"},
    "dagster-webserver": {"DAGSTER_DB_PASSWORD"},
    # What the run workers it launches write with.
    "dagster-daemon": {
        "DAGSTER_DB_PASSWORD", "CLICKHOUSE_PASSWORD", "REDIS_FEAST_PASSWORD",
        "FEAST_DB_PASSWORD", "MLFLOW_ADMIN_PASSWORD", "TRADE2026_REGISTRY_API_KEY",
    },
    "serving": {
        "REDIS_READER_PASSWORD", "FEAST_DB_PASSWORD", "MLFLOW_SERVING_PASSWORD",
        "SERVING_REGISTRY_API_KEY", "NATS_SERVING_PASSWORD", "SERVING_API_KEYS",
    },
    "serving-lb": set(),
    "feast": {"REDIS_READER_PASSWORD", "FEAST_DB_PASSWORD"},
}  # fmt: skip
APP_SERVICES = ("mlflow", "registry", "dagster-code", "dagster-webserver", "dagster-daemon",
                "serving", "feast")  # fmt: skip


def secrets_of(service: dict[str, Any]) -> set[str]:
    text = json.dumps([service.get("environment", {}), service.get("command")])
    return {name for name in secret_names() if secret_value(name) in text}


def test_each_service_gets_only_the_secrets_it_uses(secret_config: dict[str, Any]) -> None:
    services = secret_config["services"]
    assert set(services) == set(EXPECTED)
    given = {name: secrets_of(service) for name, service in services.items()}
    assert given == EXPECTED
    # Serving in particular: no PostgreSQL superuser, no ClickHouse password, not the
    # platform's registry key (write, deploy), not MLflow's admin.
    serving = services["serving"]["environment"]
    assert serving["CLICKHOUSE_PASSWORD"] == ""
    assert serving["MLFLOW_TRACKING_USERNAME"] == "serving"
    assert "username=reader" in serving["FEAST_REDIS_CONNECTION_STRING"]
    assert serving["SERVING_NATS_URL"].startswith("nats://serving:")
    # Its own routes need a key in production.
    assert serving["SERVING_REQUIRE_API_KEY"] == "true"


def test_every_database_url_uses_the_role_of_its_database(
    secret_config: dict[str, Any],
) -> None:
    urls = [
        value
        for service in secret_config["services"].values()
        for value in service.get("environment", {}).values()
        if isinstance(value, str) and value.startswith("postgresql")
    ]
    assert len(urls) >= 5
    for url in urls:
        match = re.fullmatch(r"postgresql(?:\+\w+)?://(\w+)(?::\w+)?@postgres:5432/(\w+)", url)
        assert match, url
        assert match[1] == match[2], url  # role `registry` for database `registry`, ...
    dagster = secret_config["services"]["dagster-webserver"]["environment"]
    assert dagster["DAGSTER_POSTGRES_USER"] == dagster["DAGSTER_POSTGRES_DB"] == "dagster"


def test_the_run_workers_get_every_variable_they_are_given_from_the_daemon(
    config: dict[str, Any],
) -> None:
    # DockerRunLauncher copies these names from the daemon's environment into each run.
    instance = yaml.safe_load((DOCKER / "dagster.yaml").read_text())
    daemon = config["services"]["dagster-daemon"]["environment"]
    missing = [
        name for name in instance["run_launcher"]["config"]["env_vars"] if name not in daemon
    ]
    assert missing == []
    # The production feature store yaml needs every ClickHouse variable it names.
    names = re.findall(r"\$\{(\w+)\}", (DOCKER.parent / "feature_repo" /
                                       "feature_store.production.yaml").read_text())  # fmt: skip
    for service in ("dagster-daemon", "dagster-code", "serving", "feast"):
        env = config["services"][service]["environment"]
        assert [name for name in names if name not in env] == [], service


def run_entrypoint(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # `true` as the role: the entrypoint checks the environment, then runs it as given.
    return subprocess.run(
        ["sh", str(DOCKER / "entrypoint.sh"), "true"],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


@pytest.mark.parametrize("service", APP_SERVICES)
def test_the_app_containers_refuse_the_placeholder_secrets(
    service: str, config: dict[str, Any], secret_config: dict[str, Any]
) -> None:
    refused = run_entrypoint(config["services"][service]["environment"])
    assert refused.returncode != 0
    line = refused.stderr.strip()
    assert "\n" not in line  # one clear line
    name = re.search(r"entrypoint: (\w+) holds the placeholder", line)
    assert name, line
    assert PLACEHOLDER in config["services"][service]["environment"][name[1]]
    started = run_entrypoint(secret_config["services"][service]["environment"])
    assert started.returncode == 0, started.stderr
    assert started.stderr == ""


def test_postgres_refuses_to_initialise_with_the_placeholder_secrets(
    config: dict[str, Any],
) -> None:
    env = config["services"]["postgres"]["environment"]
    refused = subprocess.run(
        ["sh", str(DOCKER / "postgres-init.sh")],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert refused.returncode != 0
    assert re.fullmatch(r"postgres-init: POSTGRES_PASSWORD is empty or the placeholder .*\n",
                        refused.stderr)  # fmt: skip


def test_each_component_role_owns_its_database_and_nothing_else(tmp_path: Path) -> None:
    # postgres-init.sql on this machine's PostgreSQL, under names of the test's own.
    prefix = f"t26dk{uuid.uuid4().hex[:8]}_"
    components = ("registry", "dagster", "mlflow", "feast")
    passwords = {f"{name}_password": secret_value(name) for name in components}
    admin = psycopg.conninfo.conninfo_to_dict(POSTGRES_ADMIN_URL)
    # Only a script that takes the prefix may run on the shared server.
    assert ":'prefix' || name" in (DOCKER / "postgres-init.sql").read_text()
    try:
        subprocess.run(
            ["psql", "-v", "ON_ERROR_STOP=1", "-h", str(admin.get("host", "127.0.0.1")),
             "-p", str(admin.get("port", 5432)), "-U", str(admin.get("user", "postgres")),
             "-d", "postgres", "-v", f"prefix={prefix}",
             *[arg for name, value in passwords.items() for arg in ("-v", f"{name}={value}")],
             "-f", str(DOCKER / "postgres-init.sql")],
            check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as db:
            rows = db.execute(
                "SELECT d.datname, r.rolname, r.rolsuper, r.rolcreatedb, r.rolcreaterole "
                "FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
                "WHERE d.datname LIKE %s ORDER BY 1",
                (prefix + "%",),
            ).fetchall()
        assert [(row[0], row[1]) for row in rows] == sorted(
            (prefix + name, prefix + name) for name in components
        )
        assert not any(flag for row in rows for flag in row[2:])  # no superuser, no CREATE*
        for name in components:
            own = {**admin, "user": prefix + name, "dbname": prefix + name}
            with psycopg.connect(**own, connect_timeout=5) as db:  # type: ignore[arg-type]
                db.execute("CREATE TABLE owned (x int)")  # its schema is its own
            for other in components:
                if other == name:
                    continue
                theirs = {**admin, "user": prefix + name, "dbname": prefix + other}
                with pytest.raises(psycopg.OperationalError, match="permission denied"):
                    psycopg.connect(**theirs, connect_timeout=5)  # type: ignore[arg-type]
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as db:
            for name in components:
                db.execute(f'DROP DATABASE IF EXISTS "{prefix}{name}" WITH (FORCE)')
                db.execute(f'DROP ROLE IF EXISTS "{prefix}{name}"')


@pytest.mark.parametrize("service", ["clickhouse", "redis", "nats"])
def test_the_servers_refuse_the_placeholder_secrets(
    service: str, config: dict[str, Any], secret_config: dict[str, Any]
) -> None:
    entrypoint = config["services"][service]["entrypoint"]
    assert entrypoint[:2] == ["/bin/sh", "/refuse-placeholders.sh"]
    mounts = [volume["target"] for volume in config["services"][service]["volumes"]]
    assert "/refuse-placeholders.sh" in mounts

    def check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", str(DOCKER / "refuse-placeholders.sh"), "true"],
            env={"PATH": os.environ["PATH"], **env},
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip

    refused = check(config["services"][service]["environment"])
    assert refused.returncode == 64
    assert re.fullmatch(r"entrypoint: \w+ holds the placeholder .*\n", refused.stderr)
    started = check(secret_config["services"][service]["environment"])
    assert started.returncode == 0, started.stderr
