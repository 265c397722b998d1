"""The suite's guard names the test that left a connection to the garbage collector."""

import gc
from collections.abc import Iterator

import pytest
import sqlalchemy

from scripts.harness.connection_leaks import ConnectionLeaks


@pytest.fixture
def leaks() -> Iterator[ConnectionLeaks]:
    guard = ConnectionLeaks(current="tests/a.py::test_that_leaks")
    guard.install()
    yield guard
    guard.uninstall()


class Holder:
    def __init__(self, engine: sqlalchemy.Engine) -> None:
        self.connection = engine.connect()
        self.itself = self  # a cycle: only the garbage collector frees it


def test_a_connection_in_a_reference_cycle_is_named_by_its_test(leaks: ConnectionLeaks) -> None:
    engine = sqlalchemy.create_engine("sqlite://")
    Holder(engine)
    leaks.current = "tests/b.py::test_that_is_innocent"
    gc.collect()
    assert leaks.take() == [
        "checked out in tests/a.py::test_that_leaks, collected in tests/b.py::test_that_is_innocent"
    ]
    engine.dispose()


def test_a_returned_connection_is_not_named(leaks: ConnectionLeaks) -> None:
    engine = sqlalchemy.create_engine("sqlite://")
    with engine.connect() as connection:
        connection.exec_driver_sql("select 1")
    holder = Holder(engine)
    holder.connection.close()
    del holder
    gc.collect()
    assert leaks.take() == []
    engine.dispose()
