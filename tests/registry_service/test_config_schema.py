"""An entity's config is checked against the JSON Schema the entity carries (if any), on
create and on every config update; the registry has no config rules of its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.registry_service.conftest import Headers
from trade2026_assets.strategy.declaration import deployment_config_schema

API = "/api/v1"
NewEntity = Callable[..., dict[str, Any]]

THRESHOLDS = {
    "type": "object",
    "properties": {
        "model_uri": {"type": "string", "minLength": 1},
        "buy_threshold": {"type": "number", "minimum": 0, "maximum": 1},
        "symbols": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["model_uri"],
}


def create(client: TestClient, admin: Headers, **fields: Any) -> Any:
    body = {"name": "strategy_a", "type": "strategy", "version": "1.0.0", **fields}
    return client.post(f"{API}/entities", json=body, headers=admin)


def test_a_config_that_fits_its_schema_is_stored_with_the_schema(
    client: TestClient, admin: Headers
) -> None:
    config = {"model_uri": "models:/m/1", "buy_threshold": 0.7, "symbols": ["AAPL"]}
    response = create(client, admin, config=config, config_schema=THRESHOLDS)
    assert response.status_code == 201, response.text
    entity = response.json()
    assert entity["config"] == config
    assert entity["config_schema"] == THRESHOLDS
    assert client.get(f"{API}/entities/{entity['entity_id']}").json() == entity


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"model_uri": "models:/m/1", "buy_threshold": 1.5},
            "config does not match config_schema at $.buy_threshold: "
            "1.5 is greater than the maximum of 1",
        ),
        (
            {"model_uri": "models:/m/1", "symbols": ["AAPL", 3]},
            "config does not match config_schema at $.symbols[1]: 3 is not of type 'string'",
        ),
        (
            {"buy_threshold": 0.6},
            "config does not match config_schema at $: 'model_uri' is a required property",
        ),
    ],
)
def test_a_config_that_does_not_fit_is_422_naming_the_path_and_stores_nothing(
    client: TestClient, admin: Headers, config: dict[str, Any], message: str
) -> None:
    response = create(client, admin, config=config, config_schema=THRESHOLDS)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "config_invalid"
    assert body["detail"] == message
    assert "\n" not in body["detail"]
    assert body["details"]["field"] == "config"
    assert client.get(f"{API}/entities").json()["total"] == 0
    assert client.get(f"{API}/events?kind=entity").json()["items"] == []


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": 5}, "config_schema is not a valid JSON Schema at $.type: "),
        ({"$schema": 5}, "config_schema is not a valid JSON Schema at $['$schema']"),
        (
            {"$ref": "https://example.com/schema.json"},
            "config_schema has a reference that does not resolve",
        ),
        ({"$ref": "#/$defs/missing"}, "config_schema has a reference that does not resolve"),
    ],
)
def test_a_schema_that_is_not_one_is_422(
    client: TestClient, admin: Headers, schema: dict[str, Any], message: str
) -> None:
    response = create(client, admin, config={}, config_schema=schema)
    assert response.status_code == 422
    assert response.json()["code"] == "config_invalid"
    assert response.json()["detail"].startswith(message)


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"buy_threshold": 1.5, "sell_threshold": 0.9},
        {"model_uri": "", "position_size": -3, "nested": {"a": [1, None, "x"]}},
    ],
)
@pytest.mark.parametrize("schema", [{}, {"config_schema": None}])
def test_without_a_schema_any_json_object_is_accepted(
    client: TestClient, admin: Headers, config: dict[str, Any], schema: dict[str, Any]
) -> None:
    response = create(client, admin, config=config, **schema)
    assert response.status_code == 201, response.text
    assert response.json()["config"] == config
    assert response.json()["config_schema"] is None


def test_a_config_update_is_checked_against_the_entitys_schema(
    client: TestClient, admin: Headers
) -> None:
    entity = create(client, admin, config={"model_uri": "m:/1"}, config_schema=THRESHOLDS).json()
    url = f"{API}/entities/{entity['entity_id']}"
    refused = client.patch(url, json={"config": {"model_uri": 7}}, headers=admin)
    assert refused.status_code == 422
    assert refused.json()["detail"] == (
        "config does not match config_schema at $.model_uri: 7 is not of type 'string'"
    )
    assert client.get(url).json()["config"] == {"model_uri": "m:/1"}
    accepted = client.patch(url, json={"config": {"model_uri": "m:/2"}}, headers=admin)
    assert accepted.status_code == 200
    assert accepted.json()["config"] == {"model_uri": "m:/2"}
    # The schema is set at creation only.
    changed = client.patch(url, json={"config_schema": {}}, headers=admin)
    assert changed.status_code == 422
    assert changed.json()["code"] == "validation_error"


def test_a_strategy_declarations_schema_checks_a_deployed_strategys_config(
    client: TestClient, admin: Headers
) -> None:
    schema = deployment_config_schema()
    good = {"model_uri": "models:/default_ml_strategy/3", "buy_threshold": 0.55}
    assert create(client, admin, config=good, config_schema=schema).status_code == 201
    missing = create(client, admin, version="1.0.1", config={}, config_schema=schema)
    assert missing.status_code == 422
    assert missing.json()["detail"] == (
        "config does not match config_schema at $: 'model_uri' is a required property"
    )
    family = create(
        client,
        admin,
        version="1.0.2",
        config={"model_uri": "models:/m/1", "model_family": "lightgbm"},
        config_schema=schema,
    )
    assert family.status_code == 422
    assert family.json()["detail"].startswith(
        "config does not match config_schema at $.model_family: 'lightgbm' is not one of"
    )
