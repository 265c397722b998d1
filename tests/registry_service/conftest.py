from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from registry_service import auth, crud
from registry_service.config import RegistrySettings
from registry_service.db import Database
from registry_service.main import create_app

Headers = dict[str, str]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> RegistrySettings:
    return RegistrySettings(home=tmp_path, database_url=database_url, nats_url=None)


@pytest.fixture
def client(settings: RegistrySettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def database(client: TestClient) -> Database:
    """The app's own database handle, for looking under the API."""
    db: Database = client.app.state.database  # type: ignore[attr-defined]
    return db


@pytest.fixture
def make_key(database: Database) -> Callable[[str], Headers]:
    def make(scopes: str, name: str = "test") -> Headers:
        with database.write_session() as session:
            _, plaintext = crud.create_api_key(session, name=name, scopes=auth.parse_scopes(scopes))
            session.commit()
        return {"Authorization": f"Bearer {plaintext}"}

    return make


@pytest.fixture
def admin(make_key: Callable[[str], Headers]) -> Headers:
    return make_key("admin")


@pytest.fixture
def new_entity(client: TestClient, admin: Headers) -> Callable[..., dict[str, Any]]:
    def create(name: str = "strategy_a", version: str = "1.0.0", **fields: Any) -> dict[str, Any]:
        body = {"name": name, "type": "strategy", "version": version, **fields}
        response = client.post("/api/v1/entities", json=body, headers=admin)
        assert response.status_code == 201, response.text
        entity: dict[str, Any] = response.json()
        return entity

    return create


@pytest.fixture
def deploy(client: TestClient, admin: Headers) -> Callable[..., dict[str, Any]]:
    def create(entity_id: str, environment: str = "production", **fields: Any) -> dict[str, Any]:
        body = {"entity_id": entity_id, "environment": environment, "deployed_by": "test"}
        response = client.post("/api/v1/deployments", json={**body, **fields}, headers=admin)
        assert response.status_code == 201, response.text
        deployment: dict[str, Any] = response.json()
        return deployment

    return create
