"""Engine and session factories for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

# SQLite statements for the two kinds of transaction; writers take the write lock up
# front so two writers never deadlock upgrading a shared lock.
# Read sessions ("NONE") issue no BEGIN: each read is one statement, one snapshot.
_SQLITE_BEGIN = {"IMMEDIATE": "BEGIN IMMEDIATE", "DEFERRED": "BEGIN", "NONE": None}


class Database:
    """One engine plus the session factories the API uses. Create once per process."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.is_postgres = self.url.get_backend_name() == "postgresql"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            kwargs["pool_size"] = 32
            kwargs["max_overflow"] = 32
        else:
            kwargs["pool_size"] = 16
            kwargs["max_overflow"] = 16
            # No pre-ping: it costs a round-trip per checkout. A dropped connection fails
            # one request (503) and SQLAlchemy then invalidates the pool.
            kwargs["pool_recycle"] = 1800
            # Reads run on the event loop: never let a dead server hang it for long.
            kwargs["connect_args"] = {"connect_timeout": 5}
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            database = self.url.database
            lock_file = (
                Path(database + ".writer-lock") if database and database != ":memory:" else None
            )
            _configure_sqlite(self.engine, writer_lock=WriterLock(lock_file))
        self._write = sessionmaker(
            self.engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False
        )
        # Reads are single statements, so they run without a transaction: on PostgreSQL
        # that saves the BEGIN and ROLLBACK round-trips around every query.
        read_engine = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.is_postgres
            else self.engine.execution_options(sqlite_begin="NONE")
        )
        self._read = sessionmaker(read_engine, expire_on_commit=False)

    @contextlib.contextmanager
    def write_session(self) -> Iterator[Session]:
        """A session for a unit of work that writes; roll back unless committed."""
        with self._write() as session:
            yield session

    @contextlib.contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reads; each statement sees its own committed snapshot."""
        with self._read() as session:
            yield session

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


class WriterLock:
    """One SQLite writer at a time across the threads and processes of this database.

    A thread lock queues the threads of a process (flock is per open file, so it cannot),
    and an exclusive flock on a file beside the database queues the processes, which the
    kernel wakes in turn instead of SQLite's busy handler sleeping and retrying.
    """

    def __init__(self, path: Path | None) -> None:
        self._threads = threading.Lock()
        self._path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self._threads.acquire()
        try:
            if self._path is not None:
                if self._fd is None:
                    self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def release(self) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


def _configure_sqlite(engine: Engine, *, writer_lock: WriterLock) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin hook (below) issue BEGIN itself.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    # SQLite runs one writer at a time. Writers of this process queue on a lock, taken where
    # the write transaction begins (a worker thread, never the event loop) and released at
    # its commit or rollback, instead of racing in SQLite's busy handler, whose growing
    # sleeps starve some writers (p99 over a second with 32 concurrent writers).
    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        statement = _SQLITE_BEGIN[conn.get_execution_options().get("sqlite_begin", "DEFERRED")]
        if statement is None:
            return
        if statement != _SQLITE_BEGIN["IMMEDIATE"]:
            conn.exec_driver_sql(statement)
            return
        writer_lock.acquire()
        conn.info[_HOLDS_WRITER_LOCK] = True
        try:
            conn.exec_driver_sql(statement)
        except BaseException:
            _release_writer_lock(conn)
            raise

    def _release_writer_lock(conn: Connection) -> None:
        if conn.info.pop(_HOLDS_WRITER_LOCK, False):
            writer_lock.release()

    event.listen(engine, "commit", _release_writer_lock)
    event.listen(engine, "rollback", _release_writer_lock)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        # Safety net: a connection never goes back to the pool still holding the lock.
        if record.info.pop(_HOLDS_WRITER_LOCK, False):
            writer_lock.release()


_HOLDS_WRITER_LOCK = "trade2026_holds_writer_lock"
