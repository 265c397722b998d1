"""The Dagster run helpers leave no database connection for the garbage collector."""

import gc
from typing import Any

import dagster as dg
import pytest
import sqlalchemy.event
import sqlalchemy.pool
import sqlalchemy.pool.base

from scripts.harness.dagster_runs import resource_of, run_job


@dg.asset
def one() -> int:
    return 1


class Greeting(dg.ConfigurableResource):  # type: ignore[type-arg]
    word: str


@pytest.fixture
def collected(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Connections the garbage collector had to finalize while the test ran.

    A connection the garbage collector finalizes is reset at an arbitrary point of some
    later test; on SQLite that reset can fail and log a traceback in the middle of another
    module's `ast.parse` (Hypothesis parses lambdas' sources), which CPython 3.11.7 turns
    into a SystemError in that other test."""
    found: list[Any] = []
    finalize = sqlalchemy.pool.base._finalize_fairy

    def spy(*args: Any, **kwargs: Any) -> None:
        if kwargs.get("is_gc_cleanup") and args[1] is not None and args[1].needs_gc:
            found.append(args[1])
        finalize(*args, **kwargs)

    monkeypatch.setattr(sqlalchemy.pool.base, "_finalize_fairy", spy)
    return found


def collect_twice() -> None:
    # An undisposed instance's connection outlives a collection; it goes when a later
    # instance is made, so make one.
    gc.collect()
    with dg.DagsterInstance.ephemeral():
        gc.collect()


def test_a_run_without_an_instance_returns_its_connections(collected: list[Any]) -> None:
    defs = dg.Definitions(assets=[one], jobs=[dg.define_asset_job("one_job", selection=[one])])
    for _ in range(2):
        assert run_job(defs, "one_job").success
        gc.collect()
    collect_twice()
    assert collected == []


def test_a_resource_read_from_the_definitions_returns_its_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The resource is initialized in an ephemeral instance whose in-memory storages hold a
    # connection each; the resource keeps its init context, so an instance left open lives as
    # long as the resource, and goes with it whenever the garbage collector gets to it.
    outstanding: set[int] = set()

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        outstanding.add(id(record))

    def checkin(dbapi_connection: Any, record: Any) -> None:
        outstanding.discard(id(record))

    monkeypatch.setenv("T26_GREETING", "hello")
    defs = dg.Definitions(resources={"greeting": Greeting(word=dg.EnvVar("T26_GREETING"))})
    sqlalchemy.event.listen(sqlalchemy.pool.Pool, "checkout", checkout)
    sqlalchemy.event.listen(sqlalchemy.pool.Pool, "checkin", checkin)
    gc.disable()
    try:
        greeting = resource_of(defs, "greeting", Greeting)
        assert greeting.word == "hello"
        assert outstanding == set()
    finally:
        gc.enable()
        sqlalchemy.event.remove(sqlalchemy.pool.Pool, "checkout", checkout)
        sqlalchemy.event.remove(sqlalchemy.pool.Pool, "checkin", checkin)
