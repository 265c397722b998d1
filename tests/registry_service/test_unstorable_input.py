"""Input that cannot be stored and returned identically is refused before anything is
written; a stored row that cannot be rendered never stops a read."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text, update

from registry_service.api.answers import commit_answer
from registry_service.db import Database
from registry_service.errors import UnstorableValueError
from registry_service.models import Deployment, Entity, OutboxEvent, utcnow
from registry_service.schemas import DB_INT_MAX, EntityPublic
from tests.registry_service.conftest import Headers

API = "/api/v1"
SURROGATE = '"\\ud800"'  # a JSON string holding a lone surrogate, as the wire carries it


def with_surrogate(template: str, **fields: str) -> str:
    """A JSON body from `template`, its `$S` a lone surrogate and `$name` the given fields."""
    for name, value in fields.items():
        template = template.replace(f"${name}", value)
    return template.replace("$S", SURROGATE)


def raw_post(client: TestClient, path: str, body: str, headers: Headers) -> Any:
    return client.post(
        f"{API}{path}",
        content=body.encode(),
        headers={**headers, "Content-Type": "application/json"},
    )


def counts(client: TestClient) -> tuple[int, int]:
    entities = client.get(f"{API}/entities").json()["total"]
    events = len(client.get(f"{API}/events").json()["items"])
    return entities, events


@pytest.mark.parametrize(
    "body",
    [
        '{"name":"a","type":"strategy","version":"1.0.0","config":{"x":$S}}',
        '{"name":"a","type":"strategy","version":"1.0.0","config":{$S:1}}',
        '{"name":"a","type":"strategy","version":"1.0.0","config":{"x":[{"y":$S}]}}',
        '{"name":"a","type":"strategy","version":"1.0.0","description":$S}',
    ],
)
def test_a_lone_surrogate_is_refused_with_422_and_nothing_is_written(
    client: TestClient, admin: Headers, body: str
) -> None:
    before = counts(client)
    response = raw_post(client, "/entities", with_surrogate(body), admin)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert "unicode" in response.json()["detail"].lower()
    assert "portal" not in response.text  # no database internals
    assert counts(client) == before
    assert client.get(f"{API}/entities").status_code == 200


def test_a_lone_surrogate_is_refused_in_every_written_text(
    client: TestClient, admin: Headers, new_entity: Callable[..., dict[str, Any]]
) -> None:
    entity = new_entity()
    patched = client.patch(
        f"{API}/entities/{entity['entity_id']}",
        content=with_surrogate('{"config":{"x":$S}}').encode(),
        headers={**admin, "Content-Type": "application/json"},
    )
    assert patched.status_code == 422, patched.text
    deploy = raw_post(
        client,
        "/deployments",
        with_surrogate(
            '{"entity_id":"$id","environment":"staging","deployed_by":$S}', id=entity["entity_id"]
        ),
        admin,
    )
    assert deploy.status_code == 422, deploy.text
    assert client.get(f"{API}/entities/{entity['entity_id']}").json() == entity
    assert client.get(f"{API}/deployments").json()["total"] == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_stored_row_that_cannot_be_rendered_never_stops_a_read(
    client: TestClient,
    database: Database,
    new_entity: Callable[..., dict[str, Any]],
    deploy: Callable[..., dict[str, Any]],
) -> None:
    # Rows an earlier release stored (SQLite keeps a JSON "\ud800" escape as text).
    good = new_entity("strategy_a", "1.0.0")
    bad = new_entity("strategy_b", "1.0.0")
    deployment = deploy(bad["entity_id"], "production")
    # JSON as SQLite keeps it: json.dumps escapes the surrogate and writes NaN.
    poisoned = {"x": "\ud800", "n": math.nan}
    with database.write_session() as session:
        session.execute(
            update(Entity)
            .where(Entity.entity_id == uuid.UUID(bad["entity_id"]))
            .values(config=poisoned)
        )
        session.execute(
            update(Deployment)
            .where(Deployment.deployment_id == uuid.UUID(deployment["deployment_id"]))
            .values(config_snapshot=poisoned)
        )
        session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.subject_id == uuid.UUID(bad["entity_id"]))
            .values(payload=poisoned)
        )
        session.commit()

    listed = client.get(f"{API}/entities")
    assert listed.status_code == 200, listed.text
    assert {e["entity_id"] for e in listed.json()["items"]} == {
        good["entity_id"],
        bad["entity_id"],
    }
    one = client.get(f"{API}/entities/{bad['entity_id']}")
    assert one.status_code == 200
    assert one.json()["config"] == {"x": "\ufffd", "n": None}
    assert client.get(f"{API}/events").status_code == 200
    assert client.get(f"{API}/deployments").status_code == 200
    live = client.get(f"{API}/slots/production/strategy_b/live")
    assert live.status_code == 200, live.text
    assert live.json()["deployment"]["config_snapshot"] == {"x": "\ufffd", "n": None}


def test_a_change_whose_answer_cannot_render_is_rolled_back(database: Database) -> None:
    now = utcnow()
    row = Entity(
        name="a",
        type="strategy",
        version="1.0.0",
        config={},
        status="registered",
        created_at=now,
        updated_at=now,
    )
    with database.write_session() as session:
        session.add(row)
        session.flush()
        answer = EntityPublic.model_validate(row).model_copy(update={"config": {"x": "\ud800"}})
        with pytest.raises(UnstorableValueError):
            commit_answer(session, answer)
    with database.read_session() as session:
        assert session.scalar(text("SELECT count(*) FROM entities")) == 0


@pytest.mark.parametrize(
    "path",
    ["/entities?offset={}", "/deployments?offset={}", "/swaps?offset={}", "/events?after={}"],
)
def test_integers_in_queries_are_bounded(client: TestClient, path: str) -> None:
    for huge in (DB_INT_MAX + 1, 10**30):
        response = client.get(API + path.format(huge))
        assert response.status_code == 422, response.text
        assert str(DB_INT_MAX) in response.json()["detail"]
    at_bound = client.get(API + path.format(DB_INT_MAX))
    assert at_bound.status_code == 200, at_bound.text
    assert at_bound.json()["items"] == []


@pytest.mark.parametrize(
    "at", ["0.5", "1700000000", "2026-01-01T00:00:00", "2026-01-01", "0001-01-01T00:00:00+01:00"]
)
def test_only_an_rfc3339_instant_with_a_zone_is_a_date_time(client: TestClient, at: str) -> None:
    response = client.get(f"{API}/slots/production/strategy_a/live", params={"at": at})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["query", "at"]


def test_an_instant_with_a_zone_is_answered_in_utc(client: TestClient) -> None:
    response = client.get(
        f"{API}/slots/production/strategy_a/live", params={"at": "2026-01-01T12:00:00+02:00"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["at"] == "2026-01-01T10:00:00Z"


@pytest.mark.parametrize("serving_since", [0.5, 1700000000, "9999-12-31T23:59:59-01:00"])
def test_acknowledgement_times_are_rfc3339_instants(
    client: TestClient, admin: Headers, serving_since: Any
) -> None:
    url = f"{API}/swaps/00000000-0000-0000-0000-000000000000/ack"
    response = client.post(
        url, json={"consumer": "w", "serving_since": serving_since}, headers=admin
    )
    assert response.status_code == 422, response.text
