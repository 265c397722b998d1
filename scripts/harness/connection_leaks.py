"""Database connections left to the garbage collector, named by the test that took them.

A SQLAlchemy connection nobody returned is reset when the garbage collector gets to it: at an
arbitrary point of some later test. On SQLite that reset can fail and log a traceback; in the
middle of Hypothesis' or pytest's `ast.parse`, CPython 3.11.7 turns the nested parse into a
SystemError of that other, innocent test. Recording who checked each connection out names the
test that leaked it instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy.event
import sqlalchemy.pool
import sqlalchemy.pool.base

_TAKEN_BY = "trade2026_taken_by"


@dataclass
class ConnectionLeaks:
    """Install once, before any connection is made: a connection's finalizer is bound when
    the connection is checked out."""

    current: str = "<collection>"
    found: list[str] = field(default_factory=list)
    _finalize: Any = None

    def install(self) -> None:
        sqlalchemy.event.listen(sqlalchemy.pool.Pool, "checkout", self._checkout)
        self._finalize = finalize = sqlalchemy.pool.base._finalize_fairy

        def finalize_and_record(*args: Any, **kwargs: Any) -> None:
            record = args[1] if len(args) > 1 else None
            if kwargs.get("is_gc_cleanup") and record is not None and record.needs_gc:
                # A guard installed inside another (a test of the guard) answers for the
                # connections it saw taken; the outer one leaves those to it.
                owner, taken_by = record.info.get(_TAKEN_BY, (self, "an unknown test"))
                if owner is self:
                    self.found.append(f"checked out in {taken_by}, collected in {self.current}")
            finalize(*args, **kwargs)

        sqlalchemy.pool.base._finalize_fairy = finalize_and_record

    def uninstall(self) -> None:
        sqlalchemy.event.remove(sqlalchemy.pool.Pool, "checkout", self._checkout)
        sqlalchemy.pool.base._finalize_fairy = self._finalize

    def _checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        record.info[_TAKEN_BY] = (self, self.current)

    def take(self) -> list[str]:
        found, self.found = self.found, []
        return found
