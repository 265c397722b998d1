"""Shared fixtures: real databases (SQLite file, PostgreSQL database of its own), real NATS."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from registry_service.db import temporary_postgres_database

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
