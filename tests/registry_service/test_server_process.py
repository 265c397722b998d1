"""The real `python -m registry_service serve` process, driven over HTTP like curl would."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest

from scripts.harness.registry import RegistryProcess, create_key
from scripts.harness.services import NATS_TEST_URL, free_port


@pytest.fixture
def server_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {**os.environ, "TRADE2026_HOME": str(tmp_path), "REGISTRY_DATABASE_URL": database_url}
    env.pop("NATS_URL", None)
    return env


@pytest.fixture
def server(server_env: dict[str, str], tmp_path: Path) -> Iterator[RegistryProcess]:
    with RegistryProcess(
        port=free_port(), env=server_env, log_file=tmp_path / "registry.log"
    ) as process:
        yield process


def test_seed_curl_flows_against_a_running_server(
    server: RegistryProcess, server_env: dict[str, str]
) -> None:
    key = create_key(name="seed", scopes="read,write,deploy", env=server_env)
    api = f"{server.url}/api/v1"
    # Exactly the seed's requests: JSON bodies sent the way `curl -d` sends them.
    form = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-www-form-urlencoded"}
    with httpx.Client(timeout=10) as http:
        e1 = http.post(
            f"{api}/entities",
            content=b'{"name":"strategy_a","type":"strategy","version":"1.0.0"}',
            headers=form,
        ).json()["entity_id"]
        e2 = http.post(
            f"{api}/entities",
            content=b'{"name":"strategy_b","type":"strategy","version":"1.1.0"}',
            headers=form,
        ).json()["entity_id"]
        for entity_id, environment in ((e1, "production"), (e2, "staging")):
            body = (
                f'{{"entity_id":"{entity_id}","environment":"{environment}","deployed_by":"test"}}'
            )
            assert http.post(f"{api}/deployments", content=body, headers=form).status_code == 201
        assert http.get(f"{api}/deployments").json()["total"] == 2
        assert http.get(f"{api}/deployments?status=active").json()["total"] == 2
        assert http.get(f"{api}/entities/{e1}").json()["status"] == "active"
        # The seed's swap test: E1 inactive, E2 active.
        swap = (
            f'{{"from_entity_id":"{e1}","to_entity_id":"{e2}","reason":"test",'
            '"initiated_by":"test"}'
        )
        assert http.post(f"{api}/swaps", content=swap, headers=form).status_code == 201
        assert http.get(f"{api}/entities/{e1}").json()["status"] == "inactive"
        assert http.get(f"{api}/entities/{e2}").json()["status"] == "active"
        back = swap.replace(e1, "E1").replace(e2, e1).replace("E1", e2)
        assert http.post(f"{api}/swaps", content=back, headers=form).status_code == 201
        assert http.get(f"{api}/entities/{e1}").json()["status"] == "active"
        assert http.post(f"{api}/entities", content=b"{}").status_code == 401
        assert http.get(f"{server.url}/health").json()["status"] == "ok"
        assert http.get(f"{server.url}/ready").json()["status"] == "ready"


def test_server_relays_events_to_nats_in_process(tmp_path: Path) -> None:
    token = uuid.uuid4().hex[:10]
    stream, prefix = f"T26TEST_{token}", f"t26test.{token}"
    env = {
        **os.environ,
        "TRADE2026_HOME": str(tmp_path),
        "NATS_URL": NATS_TEST_URL,
        "REGISTRY_NATS_STREAM": stream,
        "REGISTRY_NATS_SUBJECT_PREFIX": prefix,
        "REGISTRY_RELAY_INTERVAL_SECONDS": "0.1",
    }
    env.pop("REGISTRY_DATABASE_URL", None)
    key = create_key(name="relay", scopes="write", env=env)

    async def stream_count() -> int:
        nc = await nats.connect(NATS_TEST_URL, connect_timeout=2)
        try:
            info = await nc.jetstream().stream_info(stream)
            return int(info.state.messages)
        except nats.js.errors.NotFoundError:
            return 0
        finally:
            await nc.close()

    async def delete_stream() -> None:
        nc = await nats.connect(NATS_TEST_URL, connect_timeout=2)
        await nc.jetstream().delete_stream(stream)
        await nc.close()

    try:
        with RegistryProcess(port=free_port(), env=env, log_file=tmp_path / "r.log") as server:
            with httpx.Client(timeout=10, headers={"Authorization": f"Bearer {key}"}) as http:
                for i in range(3):
                    http.post(
                        f"{server.url}/api/v1/entities",
                        json={"name": "s", "type": "strategy", "version": f"1.0.{i}"},
                    ).raise_for_status()
            deadline = time.monotonic() + 15
            while asyncio.run(stream_count()) < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert asyncio.run(stream_count()) == 3
    finally:
        asyncio.run(delete_stream())
