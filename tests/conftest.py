"""Shared fixtures: real databases (SQLite file, PostgreSQL database of its own), real NATS."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.harness.connection_leaks import ConnectionLeaks
from scripts.harness.services import POSTGRES_ADMIN_URL, temporary_postgres_database

LEAKS = ConnectionLeaks()


def pytest_configure(config: pytest.Config) -> None:
    LEAKS.install()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    LEAKS.current = item.nodeid
    return (yield)


@pytest.fixture(autouse=True, scope="module")
def _no_connection_left_to_the_garbage_collector() -> Iterator[None]:
    """A module's tests return every database connection they take: whatever the garbage
    collector has to finalize fails here, at the end of the module, named by its test."""
    yield
    gc.collect()
    if found := LEAKS.take():
        pytest.fail("database connections left to the garbage collector:\n" + "\n".join(found))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database of the test's own, dropped afterwards."""
    with temporary_postgres_database(POSTGRES_ADMIN_URL, prefix="t26_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each API test runs on the embedded SQLite and on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(autouse=True, scope="session")
def _one_strategy_unless_asked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Most tests build the code location over a universe of their own (other symbols than
    the demo's), which the shipped `swing_logit` (SYNB, SYNC, SYND) does not fit: they see
    the shipped default strategy alone, which trades any universe. Tests of several
    strategies pass their own directory (`strategies_dir=` or TRADE2026_STRATEGIES_DIR)."""
    import os
    import shutil

    from trade2026_assets.settings import STRATEGIES_DIR

    directory = tmp_path_factory.mktemp("strategies")
    shutil.copy(STRATEGIES_DIR / "default_ml_strategy.yaml", directory)
    saved = os.environ.get("TRADE2026_STRATEGIES_DIR")
    os.environ.setdefault("TRADE2026_STRATEGIES_DIR", str(directory))
    yield
    if saved is None:
        os.environ.pop("TRADE2026_STRATEGIES_DIR", None)
