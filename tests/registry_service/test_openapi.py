"""The OpenAPI document and the answers it describes: error bodies, statuses, security,
`Allow` on 405, and bodies that cannot be parsed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from registry_service.config import RegistrySettings
from registry_service.main import create_app
from tests.registry_service.conftest import Headers

API = "/api/v1"
ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


def document(**settings: Any) -> dict[str, Any]:
    openapi: dict[str, Any] = create_app(RegistrySettings(nats_url=None, **settings)).openapi()
    return openapi


def operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, methods in openapi["paths"].items()
        for method, operation in methods.items()
    ]


def test_every_error_status_is_documented_with_the_body_it_has() -> None:
    openapi = document()
    assert "HTTPValidationError" not in openapi["components"]["schemas"]
    body = openapi["components"]["schemas"]["ErrorBody"]
    assert body["required"] == ["detail", "code"]
    assert body["properties"]["detail"]["type"] == "string"
    for method, path, operation in operations(openapi):
        if path.endswith(("/health", "/ready")):
            continue
        responses = operation["responses"]
        assert responses["422"]["content"]["application/json"]["schema"] == ERROR_BODY, path
        assert "503" in responses, (method, path)
        if method != "get":
            for status in ("401", "403", "409", "413"):
                assert status in responses, (method, path, status)
        if "{" in path and not path.endswith("/live"):
            assert "404" in responses, (method, path)
    swaps = openapi["paths"][f"{API}/swaps"]["post"]["responses"]
    assert swaps["400"]["content"]["application/json"]["schema"] == ERROR_BODY


def test_the_entity_config_schema_is_described() -> None:
    schemas = document()["components"]["schemas"]
    for model in ("EntityCreate", "EntityPublic"):
        field = schemas[model]["properties"]["config_schema"]
        assert "JSON Schema that `config` must satisfy" in field["description"], model
        assert "config_invalid" in field["description"], model
    kinds = schemas["EntityCreate"]["properties"]["config_schema"]["anyOf"]
    assert [kind["type"] for kind in kinds] == ["object", "null"]
    assert "config_schema" not in schemas["EntityCreate"].get("required", [])
    assert "config_schema" not in schemas["EntityUpdate"]["properties"]


def test_reads_declare_a_key_only_when_they_need_one() -> None:
    for method, path, operation in operations(document()):
        assert ("security" in operation) == (method != "get"), (method, path)
    keyed = document(reads_require_key=True)
    for method, path, operation in operations(keyed):
        if path.endswith(("/health", "/ready")):
            assert "security" not in operation
            continue
        assert operation["security"] == [{"HTTPBearer": []}], (method, path)
        assert {"401", "403"} <= set(operation["responses"]), (method, path)


def test_the_keyed_document_describes_a_keyed_registry(tmp_path: Path) -> None:
    settings = RegistrySettings(
        home=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'r.db'}",
        nats_url=None,
        reads_require_key=True,
    )
    with TestClient(create_app(settings)) as client:
        assert client.get(f"{API}/entities").status_code == 401
        openapi = client.get(f"{API}/openapi.json").json()
    assert openapi["paths"][f"{API}/entities"]["get"]["security"] == [{"HTTPBearer": []}]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/entities/00000000-0000-0000-0000-000000000001", "GET, PATCH"),
        ("PUT", "/entities", "GET, POST"),
        ("OPTIONS", "/swaps", "GET, POST"),
        ("DELETE", "/events", "GET"),
    ],
)
def test_405_lists_every_method_of_the_path(
    client: TestClient, method: str, path: str, allowed: str
) -> None:
    response = client.request(method, f"{API}{path}")
    assert response.status_code == 405
    assert response.headers["Allow"] == allowed


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"name": "\xff\xfe"}', "not UTF-8"),
        (
            b'{"name": "a", "type": "strategy", "version": "1.0.0", "config": {"n": '
            + b"1" * 4301
            + b"}}",
            "not valid JSON",
        ),
        (b'{"name": ', "JSON decode error"),
    ],
)
def test_a_body_that_cannot_be_parsed_is_422_after_the_key_is_checked(
    client: TestClient, make_key: Callable[[str], Headers], body: bytes, reason: str
) -> None:
    url = f"{API}/entities"
    json = {"Content-Type": "application/json"}
    assert client.post(url, content=body, headers=json).status_code == 401
    assert client.post(url, content=body, headers={**json, **make_key("read")}).status_code == 403
    answered = client.post(url, content=body, headers={**json, **make_key("write")})
    assert answered.status_code == 422, answered.text
    assert answered.json()["code"] == "validation_error"
    assert reason in answered.json()["detail"]
    assert client.get(url).json()["total"] == 0
