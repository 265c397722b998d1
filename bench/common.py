"""Shared benchmark plumbing: a registry per backend, keys, percentiles, results files."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from registry_service.process import RegistryProcess

RESULTS_DIR = Path(__file__).parent / "results"
DEFAULT_POSTGRES = os.environ.get(
    "TRADE2026_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def database_for(backend: str, home: Path, admin_url: str = DEFAULT_POSTGRES) -> Iterator[str]:
    """A fresh SQLite file, or a PostgreSQL database of the benchmark's own (dropped after)."""
    if backend == "sqlite":
        yield f"sqlite:///{home / 'registry.db'}"
        return
    name = f"t26_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{admin_url.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def registry_for(
    backend: str, *, port: int, workers: int = 1, scopes: str = "write,deploy"
) -> Iterator[tuple[RegistryProcess, str]]:
    """A running registry on `backend` and an API key for it."""
    with tempfile.TemporaryDirectory() as tmp, database_for(backend, Path(tmp)) as url:
        env = {**os.environ, "TRADE2026_HOME": tmp, "REGISTRY_DATABASE_URL": url}
        env.pop("NATS_URL", None)
        key = subprocess.run(
            [
                sys.executable,
                "-m",
                "registry_service",
                "create-key",
                "--name",
                "bench",
                "--scopes",
                scopes,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
        log = RESULTS_DIR / f"registry-{backend}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.unlink(missing_ok=True)
        with RegistryProcess(port=port, env=env, workers=workers, log_file=log) as server:
            yield server, key


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), inclusive method."""
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def write_results(name: str, rows: list[dict[str, Any]]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "rows": rows}, indent=2) + "\n")
    return path
