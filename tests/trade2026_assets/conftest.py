from collections.abc import Iterator

import dagster as dg
import pytest


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """An in-memory Dagster instance, disposed after the test. One left to the garbage
    collector closes its SQLite connection at an arbitrary later point, where the failed
    reset's logged traceback can land inside another module's `ast.parse`."""
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance
