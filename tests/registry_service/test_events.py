from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.registry_service.conftest import Headers

API = "/api/v1"


def test_every_state_change_writes_one_event(
    client: TestClient,
    new_entity: Callable[..., dict[str, Any]],
    deploy: Callable[..., Any],
    admin: Headers,
) -> None:
    entity = new_entity()
    deployment = deploy(entity["entity_id"])
    client.post(f"{API}/deployments/{deployment['deployment_id']}/deactivate", headers=admin)
    client.post(f"{API}/entities/{entity['entity_id']}/retire", headers=admin)
    events = client.get(f"{API}/events").json()["items"]
    assert [(e["kind"], e["action"]) for e in events] == [
        ("entity", "created"),
        ("deployment", "created"),
        ("entity", "status_changed"),
        ("deployment", "deactivated"),
        ("entity", "status_changed"),
        ("entity", "retired"),
    ]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert events[2]["payload"]["status"] == "active"
    assert events[4]["payload"]["previous_status"] == "active"
    assert events[1]["subject_id"] == deployment["deployment_id"]
    assert all(e["published_at"] is None for e in events)


def test_cursor_pages_through_events_without_gaps(
    client: TestClient, new_entity: Callable[..., dict[str, Any]]
) -> None:
    for i in range(7):
        new_entity("strategy_a", f"1.0.{i}")
    seen: list[int] = []
    cursor = 0
    while True:
        page = client.get(f"{API}/events", params={"after": cursor, "limit": 3}).json()
        seen.extend(e["seq"] for e in page["items"])
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert len(seen) == 7
    assert len(set(seen)) == 7
    assert client.get(f"{API}/events", params={"after": cursor}).json()["items"] == []


def test_failed_request_writes_no_event(
    client: TestClient, new_entity: Callable[..., dict[str, Any]], admin: Headers
) -> None:
    new_entity()
    client.post(
        f"{API}/entities",
        json={"name": "strategy_a", "type": "strategy", "version": "1.0.0"},
        headers=admin,
    )
    assert len(client.get(f"{API}/events").json()["items"]) == 1


def test_events_filter_by_kind(
    client: TestClient, new_entity: Callable[..., dict[str, Any]], deploy: Callable[..., Any]
) -> None:
    deploy(new_entity()["entity_id"])
    kinds = {e["kind"] for e in client.get(f"{API}/events?kind=deployment").json()["items"]}
    assert kinds == {"deployment"}
