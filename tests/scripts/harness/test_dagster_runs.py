"""The Dagster run helpers leave no database connection for the garbage collector."""

import gc
from typing import Any

import dagster as dg
import pytest
import sqlalchemy.pool.base

from scripts.harness.dagster_runs import run_job


@dg.asset
def one() -> int:
    return 1


def test_a_run_without_an_instance_returns_its_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A connection the garbage collector finalizes is reset at an arbitrary point of some
    # later test; on SQLite that reset can fail and log a traceback in the middle of another
    # module's `ast.parse`, which CPython 3.11.7 turns into a SystemError.
    collected: list[Any] = []
    finalize = sqlalchemy.pool.base._finalize_fairy

    def spy(*args: Any, **kwargs: Any) -> None:
        if kwargs.get("is_gc_cleanup") and args[1] is not None and args[1].needs_gc:
            collected.append(args[1])
        finalize(*args, **kwargs)

    monkeypatch.setattr(sqlalchemy.pool.base, "_finalize_fairy", spy)
    defs = dg.Definitions(assets=[one], jobs=[dg.define_asset_job("one_job", selection=[one])])

    # An undisposed instance's connection outlives a collection; it goes when a later
    # instance is made, so make one.
    for _ in range(2):
        assert run_job(defs, "one_job").success
        gc.collect()
    with dg.DagsterInstance.ephemeral():
        gc.collect()

    assert collected == []
