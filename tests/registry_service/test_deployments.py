from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from registry_service.db import Database
from registry_service.models import Deployment, utcnow
from tests.registry_service.conftest import Headers

API = "/api/v1"
NewEntity = Callable[..., dict[str, Any]]
Deploy = Callable[..., dict[str, Any]]


def test_seed_entity_deployment_flow(
    client: TestClient, new_entity: NewEntity, admin: Headers
) -> None:
    e1 = new_entity("strategy_a", "1.0.0")["entity_id"]
    e2 = new_entity("strategy_b", "1.1.0")["entity_id"]
    for entity_id, environment in ((e1, "production"), (e2, "staging")):
        response = client.post(
            f"{API}/deployments",
            json={"entity_id": entity_id, "environment": environment, "deployed_by": "test"},
            headers=admin,
        )
        assert response.status_code == 201
    assert client.get(f"{API}/deployments").json()["total"] == 2
    assert client.get(f"{API}/deployments", params={"status": "active"}).json()["total"] == 2
    assert client.get(f"{API}/entities/{e1}").json()["status"] == "active"
    assert client.get(f"{API}/entities/{e2}").json()["status"] == "deployed"


def test_deployment_snapshots_config_and_defaults_slot_to_name(
    client: TestClient, new_entity: NewEntity, deploy: Deploy, admin: Headers
) -> None:
    entity = new_entity(config={"model_uri": "models:/default_ml_strategy/1"})
    deployment = deploy(entity["entity_id"])
    assert deployment["slot"] == "strategy_a"
    assert deployment["version"] == "1.0.0"
    assert deployment["config_snapshot"] == {"model_uri": "models:/default_ml_strategy/1"}
    client.patch(
        f"{API}/entities/{entity['entity_id']}",
        json={"config": {"model_uri": "models:/default_ml_strategy/2"}},
        headers=admin,
    )
    stored = client.get(f"{API}/deployments/{deployment['deployment_id']}").json()
    assert stored["config_snapshot"] == {"model_uri": "models:/default_ml_strategy/1"}


def test_list_filters(client: TestClient, new_entity: NewEntity, deploy: Deploy) -> None:
    a = new_entity("strategy_a")["entity_id"]
    b = new_entity("strategy_b")["entity_id"]
    deploy(a, "production")
    deploy(a, "staging")
    deploy(b, "development")
    listed = client.get(f"{API}/deployments", params={"entity_id": a}).json()
    assert listed["total"] == 2
    assert {d["environment"] for d in listed["items"]} == {"production", "staging"}
    assert (
        client.get(f"{API}/deployments", params={"environment": "development"}).json()["total"] == 1
    )
    assert client.get(f"{API}/deployments", params={"slot": "strategy_b"}).json()["total"] == 1
    assert client.get(f"{API}/deployments", params={"environment": "moon"}).status_code == 422


def test_occupied_slot_is_409(
    client: TestClient, new_entity: NewEntity, deploy: Deploy, admin: Headers
) -> None:
    a = new_entity("strategy_a", "1.0.0")["entity_id"]
    b = new_entity("strategy_a", "1.1.0")["entity_id"]
    live = deploy(a, "production")
    response = client.post(
        f"{API}/deployments",
        json={"entity_id": b, "environment": "production", "deployed_by": "test"},
        headers=admin,
    )
    assert response.status_code == 409
    assert "slot 'strategy_a' in production" in response.json()["detail"]
    assert response.json()["details"]["active_deployment_id"] == live["deployment_id"]
    # Another slot in the same environment is free.
    deploy(b, "production", slot="strategy_a_canary")


def test_deactivate_then_redeploy_and_retire(
    client: TestClient, new_entity: NewEntity, deploy: Deploy, admin: Headers
) -> None:
    entity_id = new_entity()["entity_id"]
    deployment = deploy(entity_id)
    url = f"{API}/deployments/{deployment['deployment_id']}/deactivate"
    response = client.post(url, json={"reason": "maintenance"}, headers=admin)
    assert response.status_code == 200
    assert response.json()["status"] == "inactive"
    assert response.json()["deactivated_at"] is not None
    assert client.post(url, headers=admin).status_code == 409
    assert client.get(f"{API}/entities/{entity_id}").json()["status"] == "inactive"
    deploy(entity_id)
    assert client.get(f"{API}/entities/{entity_id}").json()["status"] == "active"


def test_retired_entity_cannot_be_deployed(
    client: TestClient, new_entity: NewEntity, admin: Headers
) -> None:
    entity_id = new_entity()["entity_id"]
    client.post(f"{API}/entities/{entity_id}/retire", headers=admin)
    response = client.post(
        f"{API}/deployments",
        json={"entity_id": entity_id, "environment": "staging", "deployed_by": "test"},
        headers=admin,
    )
    assert response.status_code == 409
    assert "retired" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"entity_id": str(uuid.uuid4()), "environment": "staging", "deployed_by": "t"}, 404),
        ({"entity_id": "nope", "environment": "staging", "deployed_by": "t"}, 422),
        ({"entity_id": None, "environment": "qa", "deployed_by": "t"}, 422),
        ({"environment": "staging", "deployed_by": "t"}, 422),
    ],
)
def test_bad_deployment_requests(
    client: TestClient, admin: Headers, body: dict[str, Any], status: int
) -> None:
    response = client.post(f"{API}/deployments", json=body, headers=admin)
    assert response.status_code == status
    assert client.get(f"{API}/deployments").json()["total"] == 0


def test_one_active_per_slot_is_enforced_by_the_database(
    database: Database, new_entity: NewEntity, deploy: Deploy
) -> None:
    entity = new_entity()
    deploy(entity["entity_id"])
    row = {
        "deployment_id": uuid.uuid4(),
        "entity_id": uuid.UUID(entity["entity_id"]),
        "entity_name": "strategy_a",
        "version": "1.0.0",
        "environment": "production",
        "slot": "strategy_a",
        "status": "active",
        "config_snapshot": {},
        "deployed_by": "sql",
        "deployed_at": utcnow(),
        "updated_at": utcnow(),
    }
    with database.write_session() as session:
        with pytest.raises(IntegrityError):
            session.execute(insert(Deployment).values(**row))
        session.rollback()
    # Inactive rows in the same slot are history and are allowed.
    with database.write_session() as session:
        session.execute(insert(Deployment).values(**{**row, "status": "inactive"}))
        session.commit()


def test_concurrent_deploys_to_one_slot_leave_exactly_one(
    client: TestClient, new_entity: NewEntity, admin: Headers
) -> None:
    ids = [new_entity("strategy_a", f"1.0.{i}")["entity_id"] for i in range(12)]

    def attempt(entity_id: str) -> int:
        response = client.post(
            f"{API}/deployments",
            json={"entity_id": entity_id, "environment": "production", "deployed_by": "race"},
            headers=admin,
        )
        status: int = response.status_code
        return status

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(attempt, ids))
    assert sorted(codes) == [201] + [409] * 11
    active = client.get(
        f"{API}/deployments", params={"environment": "production", "status": "active"}
    ).json()
    assert active["total"] == 1
