"""Swaps under concurrency, faults, a killed server and random operation sequences."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, event, select
from sqlalchemy.engine import Connection

from registry_service.db import Database
from registry_service.models import (
    Deployment,
    Entity,
    OutboxEvent,
    SlotActivation,
    Swap,
    SwapAck,
)
from scripts.harness.registry import RegistryProcess, create_key
from scripts.harness.services import free_port
from tests.registry_service.conftest import Headers
from tests.registry_service.invariants import assert_registry_invariants

API = "/api/v1"


def swap_body(from_id: str, to_id: str, reason: str = "test") -> dict[str, Any]:
    return {
        "from_entity_id": from_id,
        "to_entity_id": to_id,
        "reason": reason,
        "initiated_by": "test",
    }


def candidates(client: TestClient, admin: Headers, count: int) -> list[str]:
    ids = []
    for i in range(count):
        entity = client.post(
            f"{API}/entities",
            json={"name": "cand", "type": "strategy", "version": f"2.0.{i}"},
            headers=admin,
        ).json()
        client.patch(
            f"{API}/entities/{entity['entity_id']}", json={"status": "validated"}, headers=admin
        )
        ids.append(entity["entity_id"])
    return ids


def test_32_concurrent_swaps_on_one_slot(
    client: TestClient,
    admin: Headers,
    database: Database,
    new_entity: Callable[..., dict[str, Any]],
    deploy: Callable[..., Any],
) -> None:
    owner = new_entity("owner", "1.0.0")["entity_id"]
    deploy(owner, "production")
    targets = candidates(client, admin, 32)
    barrier = threading.Barrier(32)

    def race(target: str) -> int:
        barrier.wait()
        status: int = client.post(
            f"{API}/swaps", json=swap_body(owner, target), headers=admin
        ).status_code
        return status

    with ThreadPoolExecutor(max_workers=32) as pool:
        codes = list(pool.map(race, targets))
    assert sorted(codes) == [201] + [409] * 31

    # Then every thread keeps swapping in whatever it finds live: winners and losers mix.
    def churn(target: str) -> list[int]:
        seen = []
        for _ in range(3):
            live = client.get(f"{API}/slots/production/owner/live").json()["deployment"]
            if live["entity_id"] == target:
                continue
            seen.append(
                client.post(
                    f"{API}/swaps", json=swap_body(live["entity_id"], target), headers=admin
                ).status_code
            )
        return seen

    with ThreadPoolExecutor(max_workers=32) as pool:
        churned = [code for codes in pool.map(churn, targets) for code in codes]
    assert set(churned) <= {201, 409}
    assert 201 in churned
    active = client.get(
        f"{API}/deployments", params={"environment": "production", "status": "active"}
    ).json()
    assert active["total"] == 1
    completed = client.get(f"{API}/swaps", params={"status": "completed", "limit": 500}).json()
    assert completed["total"] == 1 + churned.count(201)
    with database.read_session() as session:
        assert_registry_invariants(session)


def table_snapshot(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    tables = {
        "deployments": Deployment,
        "entities": Entity,
        "swaps": Swap,
        "slot_activations": SlotActivation,
        "outbox_events": OutboxEvent,
    }
    snapshot = {}
    with database.read_session() as session:
        for name, model in tables.items():
            rows = session.execute(select(model.__table__)).all()
            snapshot[name] = sorted(tuple(str(v) for v in row) for row in rows)
    return snapshot


def test_swap_failing_halfway_leaves_the_database_as_it_was(
    client: TestClient,
    admin: Headers,
    database: Database,
    new_entity: Callable[..., dict[str, Any]],
    deploy: Callable[..., Any],
) -> None:
    e1 = new_entity("strategy_a", "1.0.0")["entity_id"]
    e2 = new_entity("strategy_b", "1.1.0")["entity_id"]
    deploy(e1, "production")
    deploy(e2, "staging")
    before = table_snapshot(database)

    def fault_after_first_write(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE DEPLOYMENTS"):
            raise RuntimeError("injected fault after the first write of the swap")

    # A client that sees the 500 the way a remote caller would, not the raised exception.
    remote = TestClient(client.app, raise_server_exceptions=False)
    event.listen(database.engine, "after_cursor_execute", fault_after_first_write)
    try:
        response = remote.post(f"{API}/swaps", json=swap_body(e1, e2), headers=admin)
    finally:
        event.remove(database.engine, "after_cursor_execute", fault_after_first_write)
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error", "code": "internal"}
    assert table_snapshot(database) == before
    # And the registry works on.
    assert client.post(f"{API}/swaps", json=swap_body(e1, e2), headers=admin).status_code == 201


def test_sigkill_while_swapping_loses_no_acknowledged_swap(
    postgres_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "TRADE2026_HOME": str(tmp_path), "REGISTRY_DATABASE_URL": postgres_url}
    env.pop("NATS_URL", None)
    key = create_key(name="k", scopes="write,deploy", env=env)
    port = free_port()
    log = tmp_path / "registry.log"
    server = RegistryProcess(port=port, env=env, log_file=log).start()
    http = httpx.Client(
        base_url=f"{server.url}{API}", timeout=5, headers={"Authorization": f"Bearer {key}"}
    )
    ids = []
    for version in ("1.0.0", "1.0.1"):
        entity = http.post(
            "/entities", json={"name": "ks", "type": "strategy", "version": version}
        ).json()
        http.patch(f"/entities/{entity['entity_id']}", json={"status": "validated"})
        ids.append(entity["entity_id"])
    http.post(
        "/deployments", json={"entity_id": ids[0], "environment": "production", "deployed_by": "t"}
    ).raise_for_status()

    acknowledged: list[str] = []
    stop = threading.Event()

    def swap_loop() -> None:
        live, other = ids
        while not stop.is_set():
            try:
                response = http.post("/swaps", json=swap_body(live, other))
            except httpx.TransportError:
                continue  # the server is gone or restarting
            if response.status_code == 201:
                acknowledged.append(response.json()["swap_id"])
                live, other = other, live

    worker = threading.Thread(target=swap_loop)
    worker.start()
    try:
        while len(acknowledged) < 20:
            threading.Event().wait(0.05)
        assert server.process is not None
        server.process.kill()  # SIGKILL, mid-loop
        server.process.wait(10)
        stop.set()
        worker.join(30)
        server = RegistryProcess(port=port, env=env, log_file=log).start()
        with httpx.Client(base_url=f"{server.url}{API}", timeout=10) as reader:
            for swap_id in acknowledged:
                found = reader.get(f"/swaps/{swap_id}")
                assert found.status_code == 200
                assert found.json()["status"] == "completed"
            active = reader.get(
                "/deployments", params={"status": "active", "environment": "production"}
            ).json()
            assert active["total"] == 1
            assert reader.get("/swaps", params={"status": "completed"}).json()["total"] >= len(
                acknowledged
            )
        live = active["items"][0]["entity_id"]
        other = ids[1] if live == ids[0] else ids[0]
        assert http.post("/swaps", json=swap_body(live, other)).status_code == 201
        database = Database(postgres_url)
        with database.read_session() as session:
            assert_registry_invariants(session)
        database.dispose()
    finally:
        stop.set()
        worker.join(30)
        http.close()
        server.stop()


# Property-based: random sequences of deploy/swap/rollback/retire/deactivate ---------------

ENTITIES = 4
Op = tuple[str, int, int]
operations = st.lists(
    st.one_of(
        st.tuples(st.just("deploy"), st.integers(0, ENTITIES - 1), st.integers(0, 1)),
        st.tuples(st.just("swap"), st.integers(0, ENTITIES - 1), st.integers(0, ENTITIES - 1)),
        st.tuples(st.just("rollback"), st.integers(0, 5), st.just(0)),
        st.tuples(st.just("retire"), st.integers(0, ENTITIES - 1), st.just(0)),
        st.tuples(st.just("deactivate"), st.integers(0, ENTITIES - 1), st.integers(0, 1)),
    ),
    min_size=1,
    max_size=18,
)


@pytest.fixture
def reset(database: Database) -> Callable[[], None]:
    def clear() -> None:
        with database.write_session() as session:
            for model in (SwapAck, Swap, SlotActivation, Deployment, OutboxEvent, Entity):
                session.execute(delete(model))
            session.commit()

    return clear


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_random_operation_sequences_keep_the_invariants(
    client: TestClient,
    admin: Headers,
    database: Database,
    reset: Callable[[], None],
    ops: list[Op],
) -> None:
    reset()
    ids = []
    for i in range(ENTITIES):
        entity = client.post(
            f"{API}/entities",
            json={"name": "h", "type": "strategy", "version": f"1.0.{i}"},
            headers=admin,
        ).json()
        client.patch(
            f"{API}/entities/{entity['entity_id']}", json={"status": "validated"}, headers=admin
        )
        ids.append(entity["entity_id"])
    environments = ("staging", "production")
    # Start from a live slot so that swaps are possible from the first operation on.
    for entity_id, environment in ((ids[0], "production"), (ids[1], "staging")):
        client.post(
            f"{API}/deployments",
            json={"entity_id": entity_id, "environment": environment, "deployed_by": "h"},
            headers=admin,
        ).raise_for_status()
    swaps_done: list[str] = []
    for op, a, b in ops:
        if op == "deploy":
            response = client.post(
                f"{API}/deployments",
                json={"entity_id": ids[a], "environment": environments[b], "deployed_by": "h"},
                headers=admin,
            )
        elif op == "swap":
            response = client.post(f"{API}/swaps", json=swap_body(ids[a], ids[b]), headers=admin)
            if response.status_code == 201:
                swaps_done.append(response.json()["swap_id"])
        elif op == "rollback":
            if not swaps_done:
                continue
            target = swaps_done[a % len(swaps_done)]
            response = client.post(
                f"{API}/swaps/{target}/rollback",
                json={"reason": "h", "initiated_by": "h"},
                headers=admin,
            )
        elif op == "retire":
            response = client.post(f"{API}/entities/{ids[a]}/retire", headers=admin)
        else:
            live = client.get(
                f"{API}/deployments",
                params={"entity_id": ids[a], "environment": environments[b], "status": "active"},
            ).json()
            if not live["items"]:
                continue
            response = client.post(
                f"{API}/deployments/{live['items'][0]['deployment_id']}/deactivate", headers=admin
            )
        assert response.status_code < 500, (op, response.text)
        assert response.status_code in (200, 201, 400, 409), (op, response.text)
        with database.read_session() as session:
            assert_registry_invariants(session)
