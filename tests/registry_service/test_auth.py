from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from registry_service.config import RegistrySettings
from registry_service.db import Database
from registry_service.main import create_app
from registry_service.models import ApiKey
from tests.registry_service.conftest import Headers

API = "/api/v1"
ENTITY = {"name": "strategy_a", "type": "strategy", "version": "1.0.0"}

MUTATIONS = [
    ("POST", "/entities", "write"),
    ("PATCH", "/entities/00000000-0000-0000-0000-000000000000", "write"),
    ("POST", "/entities/00000000-0000-0000-0000-000000000000/retire", "write"),
    ("POST", "/deployments", "deploy"),
    ("POST", "/deployments/00000000-0000-0000-0000-000000000000/deactivate", "deploy"),
]


@pytest.mark.parametrize(("method", "path", "scope"), MUTATIONS)
def test_mutations_need_a_valid_key_with_the_scope(
    client: TestClient,
    make_key: Callable[..., Headers],
    method: str,
    path: str,
    scope: str,
) -> None:
    missing = client.request(method, f"{API}{path}", json={})
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    wrong = client.request(
        method, f"{API}{path}", json={}, headers={"Authorization": "Bearer t26_nope_nope"}
    )
    assert wrong.status_code == 401
    other_scope = "deploy" if scope == "write" else "write"
    forbidden = client.request(method, f"{API}{path}", json={}, headers=make_key(other_scope))
    assert forbidden.status_code == 403
    assert f"lacks the '{scope}' scope" in forbidden.json()["detail"]
    # With the scope the request gets past auth (to validation or lookup).
    allowed = client.request(method, f"{API}{path}", json={}, headers=make_key(scope))
    assert allowed.status_code in (404, 422)


def test_admin_grants_every_scope(client: TestClient, make_key: Callable[..., Headers]) -> None:
    response = client.post(f"{API}/entities", json=ENTITY, headers=make_key("admin"))
    assert response.status_code == 201


def test_refused_writes_store_nothing(client: TestClient, make_key: Callable[..., Headers]) -> None:
    client.post(f"{API}/entities", json=ENTITY)
    client.post(f"{API}/entities", json=ENTITY, headers=make_key("read"))
    assert client.get(f"{API}/entities").json()["total"] == 0


def test_reads_are_open_by_default(client: TestClient) -> None:
    assert client.get(f"{API}/entities").status_code == 200


def test_reads_can_require_the_read_scope(tmp_path: Path, database_url: str) -> None:
    settings = RegistrySettings(home=tmp_path, database_url=database_url, reads_require_key=True)
    with TestClient(create_app(settings)) as client:
        assert client.get(f"{API}/entities").status_code == 401
        database: Database = client.app.state.database  # type: ignore[attr-defined]
        from registry_service import auth, crud

        with database.write_session() as session:
            _, read_key = crud.create_api_key(session, name="r", scopes=auth.parse_scopes("read"))
            _, write_key = crud.create_api_key(session, name="w", scopes=auth.parse_scopes("write"))
            session.commit()
        ok = client.get(f"{API}/entities", headers={"Authorization": f"Bearer {read_key}"})
        assert ok.status_code == 200
        no = client.get(f"{API}/entities", headers={"Authorization": f"Bearer {write_key}"})
        assert no.status_code == 403
        # Probes stay open for orchestrators.
        assert client.get("/health").status_code == 200


def test_create_key_cli_prints_only_the_key_and_stores_its_hash(tmp_path: Path) -> None:
    env = {**os.environ, "TRADE2026_HOME": str(tmp_path)}
    env.pop("REGISTRY_DATABASE_URL", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "registry_service",
            "create-key",
            "--name",
            "ci",
            "--scopes",
            "read,write,deploy",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    key = result.stdout.strip()
    assert result.stdout == key + "\n"
    assert key.startswith("t26_")
    database = Database(f"sqlite:///{tmp_path / 'registry.db'}")
    with database.read_session() as session:
        stored = session.scalars(select(ApiKey)).one()
    database.dispose()
    assert stored.name == "ci"
    assert stored.scopes == "deploy,read,write"
    assert key not in (stored.key_hash, stored.prefix)
    assert stored.key_hash != key
    assert len(stored.key_hash) == 64


def test_create_key_cli_rejects_unknown_scope(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "registry_service",
            "create-key",
            "--name",
            "x",
            "--scopes",
            "read,root",
        ],
        env={**os.environ, "TRADE2026_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "unknown scope(s): root" in result.stderr
