"""The outbox relay against the real NATS JetStream on this machine (a stream of its own)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from fastapi.testclient import TestClient
from nats.js.api import StreamConfig
from sqlalchemy import update

from registry_service import auth, crud
from registry_service.config import RegistrySettings
from registry_service.db import Database
from registry_service.main import create_app
from registry_service.models import OutboxEvent
from registry_service.relay import OutboxRelay
from scripts.harness.services import NATS_TEST_URL, delete_stream, free_port

API = "/api/v1"


@pytest.fixture
def stream() -> Iterator[tuple[str, str]]:
    """A JetStream stream name and subject prefix of the test's own, deleted afterwards."""
    token = uuid.uuid4().hex[:10]
    name, prefix = f"T26TEST_{token}", f"t26test.{token}"
    yield name, prefix
    delete_stream(name)


async def stream_messages(name: str) -> list[tuple[str | None, dict[str, Any], str]]:
    """Every message in the stream: (subject, body, Nats-Msg-Id)."""
    nc = await nats.connect(NATS_TEST_URL, connect_timeout=2)
    js = nc.jetstream()
    info = await js.stream_info(name)
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(name, seq)
        out.append((msg.subject, json.loads(msg.data or b"{}"), (msg.headers or {})["Nats-Msg-Id"]))
    await nc.close()
    return out


def make_relay(database: Database, stream: tuple[str, str], url: str) -> OutboxRelay:
    return OutboxRelay(
        database, nats_url=url, stream=stream[0], subject_prefix=stream[1], connect_timeout=1
    )


def test_relay_publishes_each_event_with_its_id_as_message_id(
    client: TestClient,
    database: Database,
    new_entity: Callable[..., Any],
    deploy: Callable[..., Any],
    stream: tuple[str, str],
) -> None:
    deploy(new_entity()["entity_id"], "staging")
    events = client.get(f"{API}/events").json()["items"]
    published = asyncio.run(make_relay(database, stream, NATS_TEST_URL).publish_pending())
    assert published == len(events) == 3
    messages = asyncio.run(stream_messages(stream[0]))
    assert [m[2] for m in messages] == [e["event_id"] for e in events]
    assert messages[0][0] == f"{stream[1]}.entity.created"
    assert messages[1][0] == f"{stream[1]}.deployment.created"
    assert messages[1][1]["payload"]["environment"] == "staging"
    assert all(e["published_at"] for e in client.get(f"{API}/events").json()["items"])
    assert client.get("/ready").json()["unpublished_events"] == 0


def test_events_wait_while_nats_is_down_and_arrive_exactly_once(
    client: TestClient,
    database: Database,
    new_entity: Callable[..., Any],
    stream: tuple[str, str],
) -> None:
    closed_port = f"nats://127.0.0.1:{free_port()}"
    down = make_relay(database, stream, closed_port)

    async def relay_until_stopped(relay: OutboxRelay, seconds: float) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop, interval=0.05))
        await asyncio.sleep(seconds)
        stop.set()
        await task

    # NATS unreachable: the registry keeps accepting changes, the relay keeps retrying.
    created = [new_entity("strategy_a", f"1.0.{i}")["entity_id"] for i in range(5)]
    asyncio.run(relay_until_stopped(down, 0.5))
    with pytest.raises(nats.errors.NoServersError):  # a single pass says why
        asyncio.run(down.publish_pending())
    assert client.get("/ready").json()["unpublished_events"] == 5
    created += [new_entity("strategy_a", f"2.0.{i}")["entity_id"] for i in range(5)]

    # NATS back: everything goes out once.
    asyncio.run(relay_until_stopped(make_relay(database, stream, NATS_TEST_URL), 1.0))
    assert client.get("/ready").json()["unpublished_events"] == 0
    # A relay that died after publishing but before marking re-publishes; JetStream dedups.
    with database.write_session() as session:
        session.execute(update(OutboxEvent).values(published_at=None))
        session.commit()
    asyncio.run(make_relay(database, stream, NATS_TEST_URL).publish_pending())

    events = client.get(f"{API}/events").json()["items"]
    messages = asyncio.run(stream_messages(stream[0]))
    ids = [m[2] for m in messages]
    assert len(ids) == len(set(ids)) == 10
    assert set(ids) == {e["event_id"] for e in events}
    assert {m[1]["subject_id"] for m in messages} == set(created)


def test_swap_events_reach_nats(
    client: TestClient,
    database: Database,
    admin: dict[str, str],
    new_entity: Callable[..., Any],
    deploy: Callable[..., Any],
    stream: tuple[str, str],
) -> None:
    e1 = new_entity("strategy_a", "1.0.0")["entity_id"]
    e2 = new_entity("strategy_b", "1.1.0")["entity_id"]
    deploy(e1, "production")
    deploy(e2, "staging")
    body = {"from_entity_id": e1, "to_entity_id": e2, "reason": "r", "initiated_by": "t"}
    swap = client.post(f"{API}/swaps", json=body, headers=admin).json()
    client.post(
        f"{API}/swaps/{swap['swap_id']}/rollback",
        json={"reason": "r", "initiated_by": "t"},
        headers=admin,
    )
    client.post(f"{API}/swaps", json=body | {"from_entity_id": e2}, headers=admin)  # fails
    asyncio.run(make_relay(database, stream, NATS_TEST_URL).publish_pending())
    subjects = [m[0] for m in asyncio.run(stream_messages(stream[0]))]
    prefix = stream[1]
    swap_subjects = [s for s in subjects if s and s.startswith(f"{prefix}.swap.")]
    assert swap_subjects == [
        f"{prefix}.swap.completed",
        f"{prefix}.swap.rolled_back",
        f"{prefix}.swap.failed",
    ]
    assert f"{prefix}.deployment.reactivated" in subjects


def ready_when(client: TestClient, predicate: Callable[[dict[str, Any]], bool]) -> Any:
    """Poll /ready until `predicate` holds for its body (the relay runs in the background)."""
    deadline = time.monotonic() + 30
    while True:
        response = client.get("/ready")
        if predicate(response.json()) or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def test_readiness_reports_a_relay_that_jetstream_refuses_and_its_backlog(
    tmp_path: Path, database_url: str, stream: tuple[str, str]
) -> None:
    name, prefix = stream
    blocker = f"{name}_BLOCKER"

    async def add_blocking_stream() -> None:
        # Another stream already owns part of the relay's subjects: the relay's cannot exist.
        nc = await nats.connect(NATS_TEST_URL, connect_timeout=2)
        await nc.jetstream().add_stream(StreamConfig(name=blocker, subjects=[f"{prefix}.entity.>"]))
        await nc.close()

    asyncio.run(add_blocking_stream())
    settings = RegistrySettings(
        home=tmp_path,
        database_url=database_url,
        nats_url=NATS_TEST_URL,
        nats_stream=name,
        nats_subject_prefix=prefix,
        relay_interval_seconds=0.05,
    )
    try:
        with TestClient(create_app(settings)) as client:
            key = {"Authorization": f"Bearer {create_admin_key(client)}"}
            body = {"name": "strategy_a", "type": "strategy", "version": "1.0.0"}
            assert client.post(f"{API}/entities", json=body, headers=key).status_code == 201
            failing = ready_when(client, lambda b: b["relay"]["state"] == "failing")
            assert failing.status_code == 200  # the API still serves; events wait
            report = failing.json()
            assert report["status"] == "degraded"
            assert "overlap" in report["relay"]["error"]
            assert report["relay"]["failing_since"] is not None
            assert report["unpublished_events"] == 1
            assert report["oldest_unpublished_age_seconds"] >= 0

            delete_stream(blocker)
            recovered = ready_when(client, lambda b: b["relay"]["state"] == "ok")
            assert recovered.json()["status"] == "ready", recovered.text
            published = ready_when(client, lambda b: b["unpublished_events"] == 0).json()
            assert published["unpublished_events"] == 0
            assert published["oldest_unpublished_age_seconds"] is None
    finally:
        delete_stream(blocker)


def create_admin_key(client: TestClient) -> str:
    database: Database = client.app.state.database  # type: ignore[attr-defined]
    with database.write_session() as session:
        _, plaintext = crud.create_api_key(session, name="t", scopes=auth.parse_scopes("admin"))
        session.commit()
    return plaintext


def test_readiness_says_whether_a_relay_runs_here(client: TestClient) -> None:
    assert client.get("/ready").json()["relay"] == {
        "state": "disabled",
        "error": None,
        "failing_since": None,
        "last_success_at": None,
    }


def test_the_relay_outlives_a_database_error(stream: tuple[str, str]) -> None:
    unreachable = Database(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    relay = make_relay(unreachable, stream, NATS_TEST_URL)

    async def run_briefly() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop, interval=0.05))
        await asyncio.sleep(0.5)
        assert not task.done()  # still retrying, not dead
        stop.set()
        await task

    asyncio.run(run_briefly())
    assert relay.health.state == "failing"
    assert "OperationalError" in (relay.health.error or "")
