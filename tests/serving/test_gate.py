"""The request gate in front of serving's routes, as an ASGI middleware around an app that
records what reaches it: the /predict body limit follows SERVING_MAX_BATCH_ROWS."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from serving.gate import RequestGate
from serving.service import BODY_SLACK, BYTES_PER_ROW, gate_settings
from serving.settings import ServingSettings


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
