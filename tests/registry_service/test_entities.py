from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.registry_service.conftest import Headers

API = "/api/v1"


def test_create_returns_the_stored_entity(client: TestClient, admin: Headers) -> None:
    body = {
        "name": "strategy_a",
        "type": "strategy",
        "version": "1.0.0",
        "description": "mean reversion",
        "config": {"threshold": 0.6, "symbols": ["AAPL"]},
    }
    created = client.post(f"{API}/entities", json=body, headers=admin)
    assert created.status_code == 201
    entity = created.json()
    assert {k: entity[k] for k in body} == body
    assert entity["status"] == "registered"
    assert entity["created_at"].endswith("Z")
    fetched = client.get(f"{API}/entities/{entity['entity_id']}")
    assert fetched.status_code == 200
    assert fetched.json() == entity


def test_duplicate_name_and_version_is_409_and_stores_nothing(
    client: TestClient, admin: Headers, new_entity: Callable[..., dict[str, Any]]
) -> None:
    first = new_entity("strategy_a", "1.0.0")
    again = client.post(
        f"{API}/entities",
        json={"name": "strategy_a", "type": "model", "version": "1.0.0"},
        headers=admin,
    )
    assert again.status_code == 409
    assert again.json()["code"] == "conflict"
    assert again.json()["details"]["entity_id"] == first["entity_id"]
    assert client.get(f"{API}/entities", params={"name": "strategy_a"}).json()["total"] == 1
    # A new version of the same name is a new entity.
    new_entity("strategy_a", "1.0.1")


@pytest.mark.parametrize(
    "version", ["1.0.0", "0.1.0-rc.1", "2.0.0+build.7", "10.20.30-alpha.1+meta"]
)
def test_semantic_versions_accepted(
    new_entity: Callable[..., dict[str, Any]], version: str
) -> None:
    assert new_entity("strategy_a", version)["version"] == version


@pytest.mark.parametrize("version", ["1.0", "01.0.0", "1.0.0-", "v1.0.0", "1.0.0.0", ""])
def test_invalid_versions_rejected_with_reason(
    client: TestClient, admin: Headers, version: str
) -> None:
    response = client.post(
        f"{API}/entities",
        json={"name": "s", "type": "strategy", "version": version},
        headers=admin,
    )
    assert response.status_code == 422
    assert "version" in response.json()["detail"]


def test_list_filters_and_paginates_with_total(
    client: TestClient, new_entity: Callable[..., dict[str, Any]], admin: Headers
) -> None:
    for i in range(5):
        new_entity("strategy_a", f"1.0.{i}")
    client.post(
        f"{API}/entities",
        json={"name": "xgb", "type": "model", "version": "1.0.0"},
        headers=admin,
    )
    page = client.get(f"{API}/entities", params={"type": "strategy", "limit": 2, "offset": 0})
    assert page.status_code == 200
    assert page.json()["total"] == 5
    assert len(page.json()["items"]) == 2
    seen: set[str] = set()
    for offset in range(0, 5, 2):
        items = client.get(
            f"{API}/entities", params={"type": "strategy", "limit": 2, "offset": offset}
        ).json()["items"]
        seen.update(item["version"] for item in items)
    assert seen == {f"1.0.{i}" for i in range(5)}
    assert client.get(f"{API}/entities", params={"name": "xgb"}).json()["total"] == 1
    assert client.get(f"{API}/entities", params={"status": "retired"}).json()["total"] == 0
    assert client.get(f"{API}/entities").json()["total"] == 6


def test_update_changes_description_and_config(
    client: TestClient, admin: Headers, new_entity: Callable[..., dict[str, Any]]
) -> None:
    entity = new_entity(config={"a": 1})
    response = client.patch(
        f"{API}/entities/{entity['entity_id']}",
        json={"description": "tuned", "config": {"a": 2}},
        headers=admin,
    )
    assert response.status_code == 200
    updated = response.json()
    assert updated["description"] == "tuned"
    assert updated["config"] == {"a": 2}
    assert updated["updated_at"] > entity["updated_at"]


def test_lifecycle_registered_validated_retired(
    client: TestClient, admin: Headers, new_entity: Callable[..., dict[str, Any]]
) -> None:
    entity_id = new_entity()["entity_id"]
    url = f"{API}/entities/{entity_id}"
    assert client.patch(url, json={"status": "validated"}, headers=admin).json()["status"] == (
        "validated"
    )
    back = client.patch(url, json={"status": "registered"}, headers=admin)
    assert back.status_code == 409
    assert "cannot move from 'validated' to 'registered'" in back.json()["detail"]
    retired = client.post(f"{url}/retire", json={"reason": "superseded"}, headers=admin)
    assert retired.status_code == 200
    assert retired.json()["status"] == "retired"
    # Retired is final and read-only.
    assert client.post(f"{url}/retire", headers=admin).status_code == 409
    assert client.patch(url, json={"description": "x"}, headers=admin).status_code == 409


@pytest.mark.parametrize("status", ["deployed", "active", "inactive"])
def test_deployment_driven_statuses_cannot_be_set_by_hand(
    client: TestClient, admin: Headers, new_entity: Callable[..., dict[str, Any]], status: str
) -> None:
    entity_id = new_entity()["entity_id"]
    response = client.patch(f"{API}/entities/{entity_id}", json={"status": status}, headers=admin)
    assert response.status_code == 409
    assert "set by the registry from deployments" in response.json()["detail"]
    assert client.get(f"{API}/entities/{entity_id}").json()["status"] == "registered"


BAD_CREATE_BODIES: list[tuple[str, Any, str]] = [
    ("unknown field", {"name": "s", "type": "strategy", "version": "1.0.0", "x": 1}, "x"),
    ("wrong type", {"name": "s", "type": "strategy", "version": "1.0.0", "config": []}, "config"),
    ("unknown type", {"name": "s", "type": "robot", "version": "1.0.0"}, "type"),
    ("missing name", {"type": "strategy", "version": "1.0.0"}, "name"),
    ("name with spaces", {"name": "a b", "type": "strategy", "version": "1.0.0"}, "name"),
    ("number as name", {"name": 7, "type": "strategy", "version": "1.0.0"}, "name"),
    ("not an object", [1, 2, 3], "body"),
    (
        "NUL in description",
        {"name": "s", "type": "strategy", "version": "1.0.0", "description": "a\x00b"},
        "description",
    ),
]


@pytest.mark.parametrize(
    ("case", "body", "field"), BAD_CREATE_BODIES, ids=[c[0] for c in BAD_CREATE_BODIES]
)
def test_bad_create_bodies_are_422_naming_the_field_and_store_nothing(
    client: TestClient, admin: Headers, case: str, body: Any, field: str
) -> None:
    response = client.post(f"{API}/entities", json=body, headers=admin)
    assert response.status_code == 422, case
    assert response.json()["code"] == "validation_error"
    assert field in response.json()["detail"]
    assert client.get(f"{API}/entities").json()["total"] == 0
    assert client.get(f"{API}/events").json()["items"] == []


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"{not json", "JSON decode error"),
        (b'{"name":"s","type":"strategy","version":"1.0.0","config":{"x":NaN}}', "finite"),
        (b"", "Field required"),
    ],
)
def test_malformed_json_is_422(
    client: TestClient, admin: Headers, raw: bytes, problem: str
) -> None:
    response = client.post(
        f"{API}/entities",
        content=raw,
        headers={**admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert problem in response.json()["detail"]


def test_form_labelled_json_is_read_as_json(client: TestClient, admin: Headers) -> None:
    # `curl -d` (the seed's examples) labels JSON as a form.
    response = client.post(
        f"{API}/entities",
        content=b'{"name":"strategy_a","type":"strategy","version":"1.0.0"}',
        headers={**admin, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 201


def test_oversized_body_is_413_and_stores_nothing(client: TestClient, admin: Headers) -> None:
    big = {"name": "s", "type": "strategy", "version": "1.0.0", "config": {"x": "a" * 2_000_000}}
    response = client.post(f"{API}/entities", json=big, headers=admin)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert client.get(f"{API}/entities").json()["total"] == 0


def test_chunked_oversized_body_is_413(client: TestClient, admin: Headers) -> None:
    def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 65536

    response = client.post(
        f"{API}/entities", content=chunks(), headers={**admin, "Content-Type": "application/json"}
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/entities/not-a-uuid", 422),
        ("/entities/00000000-0000-0000-0000-000000000000", 404),
        ("/entities?limit=0", 422),
        ("/entities?limit=100000", 422),
        ("/entities?type=robot", 422),
        ("/nowhere", 404),
    ],
)
def test_bad_reads_are_json_4xx(client: TestClient, path: str, status: int) -> None:
    response = client.get(f"{API}{path}")
    assert response.status_code == status
    assert "detail" in response.json()
    assert "code" in response.json()
