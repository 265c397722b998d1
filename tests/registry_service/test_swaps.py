from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.registry_service.conftest import Headers

API = "/api/v1"
NewEntity = Callable[..., dict[str, Any]]
Deploy = Callable[..., dict[str, Any]]


@pytest.fixture
def pair(new_entity: NewEntity, deploy: Deploy) -> tuple[str, str]:
    """The seed's setup: strategy_a live in production, strategy_b deployed to staging."""
    e1 = new_entity("strategy_a", "1.0.0", config={"model_uri": "models:/m/1"})["entity_id"]
    e2 = new_entity("strategy_b", "1.1.0", config={"model_uri": "models:/m/2"})["entity_id"]
    deploy(e1, "production")
    deploy(e2, "staging")
    return e1, e2


def swap_body(from_id: str, to_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "from_entity_id": from_id,
        "to_entity_id": to_id,
        "reason": "test",
        "initiated_by": "test",
        **extra,
    }


def status_of(client: TestClient, entity_id: str) -> str:
    status: str = client.get(f"{API}/entities/{entity_id}").json()["status"]
    return status


def test_seed_swap_then_swap_back(
    client: TestClient, admin: Headers, pair: tuple[str, str]
) -> None:
    e1, e2 = pair
    first = client.post(f"{API}/swaps", json=swap_body(e1, e2), headers=admin)
    assert first.status_code == 201, first.text
    swap = first.json()
    assert (swap["status"], swap["swap_type"], swap["slot"]) == (
        "completed",
        "manual",
        "strategy_a",
    )
    assert status_of(client, e1) == "inactive"
    assert status_of(client, e2) == "active"
    live = client.get(f"{API}/deployments?environment=production&status=active").json()
    assert [d["entity_id"] for d in live["items"]] == [e2]
    # The new production deployment carries what staging ran.
    assert live["items"][0]["config_snapshot"] == {"model_uri": "models:/m/2"}
    assert live["items"][0]["slot"] == "strategy_a"

    back = client.post(f"{API}/swaps", json=swap_body(e2, e1), headers=admin)
    assert back.status_code == 201, back.text
    assert status_of(client, e1) == "active"
    assert status_of(client, e2) == "deployed"  # still live in staging
    # Swapping back reuses E1's own deployment: same row, same snapshot.
    assert back.json()["to_deployment_id"] == swap["from_deployment_id"]


def test_swap_records_timing_in_milliseconds(
    client: TestClient, admin: Headers, pair: tuple[str, str]
) -> None:
    swap = client.post(f"{API}/swaps", json=swap_body(*pair), headers=admin).json()
    started = datetime.fromisoformat(swap["started_at"])
    committed = datetime.fromisoformat(swap["committed_at"])
    assert started <= committed
    assert swap["duration_ms"] == pytest.approx(
        (committed - started).total_seconds() * 1000, abs=0.01
    )
    assert 0 <= swap["duration_ms"] < 5000
    assert swap["propagation_ms"] is None
    assert swap["downtime_ms"] is None


def test_validate_only_changes_nothing(
    client: TestClient, admin: Headers, pair: tuple[str, str]
) -> None:
    e1, e2 = pair
    events_before = client.get(f"{API}/events?limit=1000").json()["items"]
    ok = client.post(f"{API}/swaps", json=swap_body(e1, e2, validate_only=True), headers=admin)
    assert ok.status_code == 200
    assert ok.json()["valid"] is True
    assert ok.json()["slot"] == "strategy_a"
    assert ok.json()["to_deployment_id"] is None  # one would be created
    bad = client.post(f"{API}/swaps", json=swap_body(e2, e1, validate_only=True), headers=admin)
    assert bad.status_code == 200
    assert bad.json()["valid"] is False
    assert {e["code"] for e in bad.json()["errors"]} == {"from_not_live"}
    assert client.get(f"{API}/events?limit=1000").json()["items"] == events_before
    assert client.get(f"{API}/swaps").json()["total"] == 0
    assert status_of(client, e1) == "active"


def test_every_failure_is_listed_and_recorded(
    client: TestClient, admin: Headers, new_entity: NewEntity, pair: tuple[str, str]
) -> None:
    e1, _ = pair
    model = client.post(
        f"{API}/entities", json={"name": "xgb", "type": "model", "version": "1.0.0"}, headers=admin
    ).json()["entity_id"]
    response = client.post(f"{API}/swaps", json=swap_body(e1, model), headers=admin)
    assert response.status_code == 400
    body = response.json()
    codes = {e["code"] for e in body["details"]["errors"]}
    assert codes == {"type_mismatch", "to_not_deployable"}
    assert "type mismatch" in body["detail"]
    failed = client.get(f"{API}/swaps/{body['details']['swap_id']}").json()
    assert failed["status"] == "failed"
    assert {e["code"] for e in failed["errors"]} == codes
    assert status_of(client, e1) == "active"
    kinds = [
        (e["kind"], e["action"]) for e in client.get(f"{API}/events?kind=swap").json()["items"]
    ]
    assert kinds == [("swap", "failed")]


def test_the_engine_puts_no_rules_of_its_own_on_a_config(
    client: TestClient,
    admin: Headers,
    new_entity: NewEntity,
    deploy: Deploy,
    pair: tuple[str, str],
) -> None:
    """What a config must hold is for its entity's schema to say (checked on create), not
    the registry: a config no strategy could run still swaps in when it carries none."""
    config = {"model_uri": "", "buy_threshold": 1.5, "sell_threshold": 1.6}
    target = new_entity("strategy_c", "1.0.0", config=config)["entity_id"]
    deploy(target, "staging")
    response = client.post(f"{API}/swaps", json=swap_body(pair[0], target), headers=admin)
    assert response.status_code == 201, response.text
    live = client.get(f"{API}/deployments?environment=production&status=active").json()
    assert live["items"][0]["config_snapshot"] == config


def test_unknown_and_retired_entities(
    client: TestClient, admin: Headers, new_entity: NewEntity, pair: tuple[str, str]
) -> None:
    e1, _ = pair
    missing = "00000000-0000-0000-0000-000000000000"
    response = client.post(f"{API}/swaps", json=swap_body(e1, missing), headers=admin)
    assert response.status_code == 400
    assert {e["code"] for e in response.json()["details"]["errors"]} == {"to_not_found"}
    retired = new_entity("strategy_d", "1.0.0")["entity_id"]
    client.post(f"{API}/entities/{retired}/retire", headers=admin)
    response = client.post(f"{API}/swaps", json=swap_body(e1, retired), headers=admin)
    assert "to_retired" in {e["code"] for e in response.json()["details"]["errors"]}
    same = client.post(f"{API}/swaps", json=swap_body(e1, e1), headers=admin)
    assert "same_entity" in {e["code"] for e in same.json()["details"]["errors"]}


def test_state_conflicts_are_409(client: TestClient, admin: Headers, pair: tuple[str, str]) -> None:
    e1, e2 = pair
    assert client.post(f"{API}/swaps", json=swap_body(e1, e2), headers=admin).status_code == 201
    again = client.post(f"{API}/swaps", json=swap_body(e1, e2), headers=admin)
    assert again.status_code == 409
    assert again.json()["code"] == "swap_conflict"
    assert {e["code"] for e in again.json()["details"]["errors"]} == {"from_not_live"}


@pytest.mark.parametrize(
    "field", [{"reason": ""}, {"reason": "   "}, {"swap_type": "yolo"}, {"environment": "moon"}]
)
def test_bad_swap_bodies_are_422(
    client: TestClient, admin: Headers, pair: tuple[str, str], field: dict[str, str]
) -> None:
    response = client.post(f"{API}/swaps", json={**swap_body(*pair), **field}, headers=admin)
    assert response.status_code == 422
    assert client.get(f"{API}/swaps").json()["total"] == 0


def test_swaps_need_the_deploy_scope(
    client: TestClient, make_key: Callable[..., Headers], pair: tuple[str, str]
) -> None:
    assert client.post(f"{API}/swaps", json=swap_body(*pair)).status_code == 401
    write_only = make_key("write")
    assert client.post(f"{API}/swaps", json=swap_body(*pair), headers=write_only).status_code == 403


def test_idempotency_key_returns_the_same_swap(
    client: TestClient, admin: Headers, pair: tuple[str, str]
) -> None:
    headers = {**admin, "Idempotency-Key": "model-v7"}
    first = client.post(f"{API}/swaps", json=swap_body(*pair), headers=headers)
    second = client.post(f"{API}/swaps", json=swap_body(*pair), headers=headers)
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert client.get(f"{API}/swaps").json()["total"] == 1
    other = client.post(
        f"{API}/swaps", json=swap_body(*pair, reason="something else"), headers=headers
    )
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"


def test_rollback_restores_exactly_what_was_live(
    client: TestClient, admin: Headers, pair: tuple[str, str]
) -> None:
    e1, e2 = pair
    before = client.get(f"{API}/deployments?environment=production&status=active").json()["items"][
        0
    ]
    swap = client.post(f"{API}/swaps", json=swap_body(e1, e2), headers=admin).json()
    rollback = client.post(
        f"{API}/swaps/{swap['swap_id']}/rollback",
        json={"reason": "regression", "initiated_by": "oncall"},
        headers=admin,
    )
    assert rollback.status_code == 201, rollback.text
    undo = rollback.json()
    assert (undo["swap_type"], undo["rollback_of"]) == ("rollback", swap["swap_id"])
    assert undo["to_deployment_id"] == before["deployment_id"]
    after = client.get(f"{API}/deployments?environment=production&status=active").json()["items"]
    assert [d["deployment_id"] for d in after] == [before["deployment_id"]]
    assert after[0]["config_snapshot"] == before["config_snapshot"]
    original = client.get(f"{API}/swaps/{swap['swap_id']}").json()
    assert (original["status"], original["rolled_back_by"]) == ("rolled_back", undo["swap_id"])
    assert status_of(client, e1) == "active"
    again = client.post(
        f"{API}/swaps/{swap['swap_id']}/rollback",
        json={"reason": "twice", "initiated_by": "oncall"},
        headers=admin,
    )
    assert again.status_code == 409
    actions = [e["action"] for e in client.get(f"{API}/events?kind=swap").json()["items"]]
    assert actions[:2] == ["completed", "rolled_back"]


def test_rollback_refuses_when_the_slot_moved_on(
    client: TestClient,
    admin: Headers,
    new_entity: NewEntity,
    deploy: Deploy,
    pair: tuple[str, str],
) -> None:
    e1, e2 = pair
    e3 = new_entity("strategy_c", "1.0.0")["entity_id"]
    deploy(e3, "staging")
    first = client.post(f"{API}/swaps", json=swap_body(e1, e2), headers=admin).json()
    client.post(f"{API}/swaps", json=swap_body(e2, e3), headers=admin)
    response = client.post(
        f"{API}/swaps/{first['swap_id']}/rollback",
        json={"reason": "too late", "initiated_by": "oncall"},
        headers=admin,
    )
    assert response.status_code == 409
    assert "roll back the later swaps first" in response.json()["detail"]
    assert status_of(client, e3) == "active"
    unknown = client.post(
        f"{API}/swaps/00000000-0000-0000-0000-000000000000/rollback",
        json={"reason": "x", "initiated_by": "y"},
        headers=admin,
    )
    assert unknown.status_code == 404


def test_history_answers_what_was_live_at_an_instant(
    client: TestClient, admin: Headers, pair: tuple[str, str]
) -> None:
    e1, e2 = pair
    t0 = datetime.now(UTC)
    swap = client.post(f"{API}/swaps", json=swap_body(e1, e2), headers=admin).json()
    t1 = datetime.now(UTC)
    url = f"{API}/slots/production/strategy_a/live"
    at_t0 = client.get(url, params={"at": t0.isoformat()}).json()
    assert at_t0["deployment"]["entity_id"] == e1
    at_t1 = client.get(url, params={"at": t1.isoformat()}).json()
    assert at_t1["deployment"]["entity_id"] == e2
    assert at_t1["activated_by_swap_id"] == swap["swap_id"]
    activated = datetime.fromisoformat(at_t1["activated_at"])
    assert activated <= datetime.fromisoformat(swap["committed_at"])
    instant_before = (activated - timedelta(microseconds=1)).isoformat()
    just_before = client.get(url, params={"at": instant_before})
    assert just_before.json()["deployment"]["entity_id"] == e1
    assert (
        client.get(url, params={"at": activated.isoformat()}).json()["deployment"]["entity_id"]
        == e2
    )
    long_ago = client.get(url, params={"at": "2020-01-01T00:00:00Z"}).json()
    assert long_ago["deployment"] is None
    assert client.get(url).json()["deployment"]["entity_id"] == e2
    listed = client.get(f"{API}/swaps", params={"entity_id": e1, "status": "completed"}).json()
    assert [s["swap_id"] for s in listed["items"]] == [swap["swap_id"]]


def test_acknowledgements_give_propagation_and_downtime(
    client: TestClient, admin: Headers, pair: tuple[str, str]
) -> None:
    swap = client.post(f"{API}/swaps", json=swap_body(*pair), headers=admin).json()
    committed = datetime.fromisoformat(swap["committed_at"])
    serving = committed + timedelta(milliseconds=120)
    url = f"{API}/swaps/{swap['swap_id']}/ack"
    seamless = {
        "consumer": "worker-1",
        "serving_since": serving.isoformat(),
        "old_served_until": serving.isoformat(),
    }
    first = client.post(url, json=seamless, headers=admin)
    assert first.status_code == 200, first.text
    assert first.json()["propagation_ms"] == pytest.approx(120, abs=0.01)
    assert first.json()["downtime_ms"] == 0
    assert client.post(url, json=seamless, headers=admin).status_code == 200  # a retry
    changed = {**seamless, "serving_since": (serving + timedelta(seconds=1)).isoformat()}
    assert client.post(url, json=changed, headers=admin).status_code == 409
    gap = {
        "consumer": "worker-2",
        "serving_since": (committed + timedelta(milliseconds=300)).isoformat(),
        "old_served_until": (committed + timedelta(milliseconds=250)).isoformat(),
    }
    detail = client.post(url, json=gap, headers=admin).json()
    assert detail["propagation_ms"] == pytest.approx(300, abs=0.01)
    assert detail["downtime_ms"] == pytest.approx(50, abs=0.01)
    assert [a["consumer"] for a in detail["acks"]] == ["worker-1", "worker-2"]
    failed = client.post(
        url, json={"consumer": "w3", "success": False, "error": "load failed"}, headers=admin
    )
    assert failed.status_code == 200
    assert failed.json()["propagation_ms"] == pytest.approx(300, abs=0.01)
    naive = client.post(
        url, json={"consumer": "w4", "serving_since": "2026-01-01T00:00:00"}, headers=admin
    )
    assert naive.status_code == 422


def test_a_consumer_that_failed_and_then_served_is_recorded_as_serving(
    client: TestClient, admin: Headers, pair: tuple[str, str]
) -> None:
    swap = client.post(f"{API}/swaps", json=swap_body(*pair), headers=admin).json()
    committed = datetime.fromisoformat(swap["committed_at"])
    url = f"{API}/swaps/{swap['swap_id']}/ack"
    for worker in ("worker-1", "worker-2"):
        failed = {"consumer": worker, "success": False, "error": "artifacts missing"}
        assert client.post(url, json=failed, headers=admin).status_code == 200
    # The artifacts arrive; each worker loads the version and says so.
    still_failing = {"consumer": "worker-2", "success": False, "error": "still missing"}
    assert client.post(url, json=still_failing, headers=admin).status_code == 200
    for worker, delay in (("worker-1", 400), ("worker-2", 900)):
        served = {
            "consumer": worker,
            "serving_since": (committed + timedelta(milliseconds=delay)).isoformat(),
        }
        response = client.post(url, json=served, headers=admin)
        assert response.status_code == 200, response.text
    detail = client.get(f"{API}/swaps/{swap['swap_id']}").json()
    acks = {a["consumer"]: a for a in detail["acks"]}
    assert set(acks) == {"worker-1", "worker-2"}
    assert all(a["success"] and a["error"] is None for a in acks.values())
    assert acks["worker-2"]["propagation_ms"] == pytest.approx(900, abs=0.01)
    assert detail["propagation_ms"] == pytest.approx(900, abs=0.01)
    # Every report stays in the history.
    reports = [
        (e["action"], e["payload"]["consumer"])
        for e in client.get(f"{API}/events", params={"kind": "swap"}).json()["items"]
        if e["action"] in ("acknowledged", "ack_failed")
    ]
    assert reports == [
        ("ack_failed", "worker-1"),
        ("ack_failed", "worker-2"),
        ("ack_failed", "worker-2"),
        ("acknowledged", "worker-1"),
        ("acknowledged", "worker-2"),
    ]
    # Serving is final: a later different report from a serving consumer is a conflict.
    late_failure = {"consumer": "worker-1", "success": False, "error": "crashed"}
    assert client.post(url, json=late_failure, headers=admin).status_code == 409
