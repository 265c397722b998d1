"""Shared benchmark plumbing: a registry per backend, keys, percentiles, results files, the
default strategy's declaration with its model edited."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from scripts.harness.registry import RegistryProcess, create_key
from scripts.harness.services import POSTGRES_ADMIN_URL, temporary_postgres_database
from trade2026_assets.settings import STRATEGIES_DIR
from trade2026_assets.strategy.declaration import DEFAULT_STRATEGY

RESULTS_DIR = Path(__file__).parent / "results"


@contextmanager
def database_for(backend: str, home: Path, admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[str]:
    """A fresh SQLite file, or a PostgreSQL database of the benchmark's own (dropped after)."""
    if backend == "sqlite":
        yield f"sqlite:///{home / 'registry.db'}"
        return
    with temporary_postgres_database(admin_url, prefix="t26_bench") as url:
        yield url


@contextmanager
def registry_for(
    backend: str, *, port: int, workers: int = 1, scopes: str = "write,deploy"
) -> Iterator[tuple[RegistryProcess, str]]:
    """A running registry on `backend` and an API key for it."""
    with tempfile.TemporaryDirectory() as tmp, database_for(backend, Path(tmp)) as url:
        env = {**os.environ, "TRADE2026_HOME": tmp, "REGISTRY_DATABASE_URL": url}
        env.pop("NATS_URL", None)
        key = create_key(name="bench", scopes=scopes, env=env)
        log = RESULTS_DIR / f"registry-{backend}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.unlink(missing_ok=True)
        with RegistryProcess(port=port, env=env, workers=workers, log_file=log) as server:
            yield server, key


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), inclusive method."""
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def write_results(name: str, rows: list[dict[str, Any]], **extra: Any) -> Path:
    """`bench/results/<name>.json`: the rows, and `extra` (run conditions, raw runs) beside."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "rows": rows, **extra}, indent=2) + "\n")
    return path


def write_default_strategy(directory: Path, changes: dict[str, Any] | None = None) -> Path:
    """`directory` declaring the shipped default strategy alone, `changes` merged into its
    declaration (nested mappings merge, as a user edits its file); the directory."""
    declared: dict[str, Any] = yaml.safe_load(
        (STRATEGIES_DIR / f"{DEFAULT_STRATEGY}.yaml").read_text()
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{DEFAULT_STRATEGY}.yaml").write_text(
        yaml.safe_dump(_merged(declared, changes or {}))
    )
    return directory


def _merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        out[key] = (
            _merged(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out
