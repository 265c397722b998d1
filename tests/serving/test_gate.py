"""The request gate in front of serving's routes, as an ASGI middleware around an app that
records what reaches it: the /predict body limit follows SERVING_MAX_BATCH_ROWS; each
declared strategy's routes are checked against its own features, and need a key."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
import pytest

from serving.gate import RequestGate
from serving.openapi import complete
from serving.service import BODY_SLACK, BYTES_PER_ROW, gate_settings
from serving.settings import ServingSettings
from trade2026_assets.strategy.declaration import parse_declaration


@pytest.mark.parametrize("rows", [100, 20_000])
def test_the_predict_body_limit_follows_max_batch_rows(
    rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVING_MAX_BATCH_ROWS", str(rows))
    config = gate_settings(ServingSettings())
    limit = config["bodies"]["/predict"][1]
    assert limit == rows * BYTES_PER_ROW + BODY_SLACK
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    gate = RequestGate(app, **config, openapi=dict)

    async def post(size: int) -> int:
        transport = httpx.ASGITransport(app=gate)
        async with httpx.AsyncClient(transport=transport, base_url="http://serving") as client:
            response = await client.post(
                "/predict",
                content=b" " * size,
                headers={"content-type": "application/json"},
                timeout=10,
            )
            return response.status_code

    assert asyncio.run(post(limit + 1)) == 413
    assert reached == []  # refused by its size, never parsed nor passed on
    # One byte under the limit the body is read and judged (blank JSON: a 4xx of its own).
    assert asyncio.run(post(limit - 1)) != 413


ALPHA = parse_declaration("name: alpha\nfeatures: [ret_1, rsi, bb_pctb]\n", origin="alpha.yaml")


def strategy_gate(monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[RequestGate, list[str]]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return RequestGate(app, **gate_settings(ServingSettings(), [ALPHA]), openapi=dict), reached


def call(gate: RequestGate, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=gate)
        async with httpx.AsyncClient(transport=transport, base_url="http://serving") as client:
            return await client.request(method, path, timeout=10, **kwargs)

    return asyncio.run(go())


def test_a_strategys_predict_body_is_checked_against_its_features(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate, reached = strategy_gate(monkeypatch)
    wrong = call(gate, "POST", "/strategies/alpha/predict", json={"features": [[1.0] * 10]})
    assert wrong.status_code == 400
    assert "each row needs 3 values (ret_1, rsi, bb_pctb)" in wrong.json()["error"]
    assert reached == []
    good = call(gate, "POST", "/strategies/alpha/predict", json={"features": [[1.0] * 3]})
    assert good.status_code == 200
    # The seed's /predict keeps the default features; an undeclared strategy's body is the
    # service's to refuse (404), unchecked here.
    assert call(gate, "POST", "/predict", json={"features": [[1.0] * 3]}).status_code == 400
    assert call(gate, "POST", "/strategies/nope/predict", json={"x": 1}).status_code == 200
    assert reached == ["/strategies/alpha/predict", "/strategies/nope/predict"]


def test_the_strategies_routes_need_a_key_and_only_declared_ones_are_measured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = "k-" + "x" * 30
    digest = hashlib.sha256(key.encode()).hexdigest()
    gate, reached = strategy_gate(
        monkeypatch, SERVING_REQUIRE_API_KEY="true", SERVING_API_KEYS=f"{digest}:predict"
    )
    for method, path in (
        ("GET", "/strategies"),
        ("POST", "/strategies/alpha/predict"),
        ("POST", "/strategies/alpha/signal"),
        ("POST", "/strategies/nope/signal"),
    ):
        assert call(gate, method, path, json={}).status_code == 401, path
    assert reached == []
    auth = {"authorization": f"Bearer {key}"}
    assert call(gate, "GET", "/strategies", headers=auth).status_code == 200
    assert {"/strategies", "/strategies/alpha/predict", "/strategies/alpha/signal"} <= gate.measured
    assert "/strategies/nope/signal" not in gate.measured


def test_the_openapi_document_has_each_strategys_routes_and_bodies() -> None:
    spec = complete({"paths": {}}, [ALPHA])
    predict = spec["paths"]["/strategies/alpha/predict"]["post"]
    body = predict["requestBody"]["content"]["application/json"]["schema"]
    row = body["properties"]["features"]["items"]
    assert (row["minItems"], row["maxItems"]) == (3, 3)
    assert body["properties"]["columns"]["items"]["enum"] == ["ret_1", "rsi", "bb_pctb"]
    assert set(predict["responses"]) == {"200", "400", "401", "403", "413", "415", "503"}
    assert "/strategies/alpha/signal" in spec["paths"]
    assert "get" in spec["paths"]["/strategies"]


def test_the_paths_the_gate_serves_itself_answer_other_methods_405(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate, reached = strategy_gate(monkeypatch)
    for path in ("/metrics", "/docs.json"):
        for method in ("TRACE", "POST", "DELETE"):
            answer = call(gate, method, path)
            assert answer.status_code == 405, (method, path, answer.text)
            assert answer.headers["allow"] == "GET, HEAD"
    # GET is served (/metrics needs BentoML's metrics, set up by a running service).
    assert call(gate, "GET", "/docs.json").status_code == 200
    assert reached == []


def test_a_null_columns_is_documented_as_accepted() -> None:
    # OpenAPI 3.0 has no null type: an optional field is `nullable`, in every body.
    spec = complete(
        {"paths": {"/predict": {"post": {"requestBody": {"content": {"application/json": {}}}}}}},
        [ALPHA],
    )
    for path in ("/predict", "/strategies/alpha/predict"):
        body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        columns = body["schema"]["properties"]["columns"]
        assert columns["nullable"] is True, (path, columns)
        assert columns["type"] == "array", (path, columns)
        assert "anyOf" not in columns


def test_the_api_page_is_bentomls_without_google_tag_manager(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate, reached = strategy_gate(monkeypatch)
    page = call(gate, "GET", "/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "googletagmanager" not in page.text
    assert '<div id="swagger-ui"></div>' in page.text
    assert "<title>Trade2026 serving</title>" in page.text
    assert reached == []
