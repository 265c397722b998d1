"""This machine's shared servers (PostgreSQL, Redis, NATS) as tests and benchmarks use
them: free ports, and databases and streams of their own that they remove afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Iterator

import nats

POSTGRES_ADMIN_URL = os.environ.get(
    "TRADE2026_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# A Feast Redis connection string (host:port[,password=…]).
REDIS_TEST_CONNECTION = os.environ.get("TRADE2026_TEST_REDIS", "127.0.0.1:6379")
NATS_TEST_URL = os.environ.get("TRADE2026_TEST_NATS_URL", "nats://127.0.0.1:4222")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def delete_stream(name: str, url: str = NATS_TEST_URL) -> None:
    """Remove a JetStream stream a test or benchmark made (absent is fine)."""

    async def delete() -> None:
        connection = await nats.connect(url, connect_timeout=2)
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await connection.jetstream().delete_stream(name)
        await connection.close()

    asyncio.run(delete())


@contextlib.contextmanager
def temporary_postgres_database(admin_url: str, *, prefix: str) -> Iterator[str]:
    """A PostgreSQL database of its own (tests, benchmarks), dropped on exit; yields its URL."""
    import psycopg
    from psycopg import sql

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{admin_url.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
