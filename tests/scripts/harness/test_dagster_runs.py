"""The Dagster run helpers leave no database connection for the garbage collector."""

import gc
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest
import sqlalchemy.event
import sqlalchemy.pool

from scripts.harness.connection_leaks import ConnectionLeaks
from scripts.harness.dagster_runs import resource_of, run_job


@dg.asset
def one() -> int:
    return 1


class Greeting(dg.ConfigurableResource):  # type: ignore[type-arg]
    word: str


@pytest.fixture
def leaks() -> Iterator[ConnectionLeaks]:
    """The connections taken while the test ran that the garbage collector had to finalize
    (why that matters: `scripts/harness/connection_leaks.py`)."""
    guard = ConnectionLeaks(current="this test")
    guard.install()
    yield guard
    guard.uninstall()


def test_a_run_without_an_instance_returns_its_connections(leaks: ConnectionLeaks) -> None:
    defs = dg.Definitions(assets=[one], jobs=[dg.define_asset_job("one_job", selection=[one])])
    for _ in range(2):
        assert run_job(defs, "one_job").success
        gc.collect()
    # An undisposed instance's connection outlives a collection; it goes when a later
    # instance is made, so make one.
    with dg.DagsterInstance.ephemeral():
        gc.collect()
    assert leaks.take() == []


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
