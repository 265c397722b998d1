"""A real `bentoml serve` (2 workers) following a real registry process, models in a real
MLflow store, online features from the pipeline's feature store."""

from __future__ import annotations

import importlib.metadata
import json
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from registry_service.client import RegistryClient
from scripts.harness.dagster_runs import run_market_data_job
from scripts.harness.registry import registry_process
from scripts.harness.services import free_port
from scripts.harness.serving import ServingProcess, serving_process
from scripts.harness.strategy_models import (
    MODEL,
    mlflow_store,
    register_models,
    register_unparsable_model,
    strategy_entity,
)
from trade2026_assets.definitions import build_definitions
from trade2026_assets.feature_catalog import DEFAULT_FEATURES as FEATURES
from trade2026_assets.feature_store.frame import FEATURE_VIEW
from trade2026_assets.settings import STRATEGIES_DIR, AssetsSettings
from trade2026_assets.strategy.declaration import parse_declaration

WORKERS = 2
MAX_BATCH_ROWS = 1000
ROW = [0.001, 0.0005, -0.002, 0.004, 55.0, 0.001, 0.0008, 0.0002, 0.6, 0.03]


@dataclass
class Stack:
    home: Path
    serving: ServingProcess
    registry: RegistryClient
    uris: list[str]
    entities: list[str]
    before_deploy: tuple[int, dict[str, Any]]
    live_entity: list[str] = field(default_factory=list)

    def post(self, path: str, body: Any) -> httpx.Response:
        return httpx.post(f"{self.serving.url}{path}", json=body, timeout=10)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("serving")
    uris = register_models(home, 2)
    settings = AssetsSettings(home=home, symbols="SYNA,SYNB", synthetic_bars=200)
    assert run_market_data_job(build_definitions(settings), ["SYNA", "SYNB"]).success
    with (
        registry_process(home, free_port()) as (registry, key),
        RegistryClient(registry.url, api_key=key) as client,
        serving_process(
            home,
            port=free_port(),
            registry_url=registry.url,
            api_key=key,
            extra_env={
                "SERVING_POLL_INTERVAL_S": "0.2",
                "SERVING_MAX_BATCH_ROWS": str(MAX_BATCH_ROWS),
                # The shipped declarations: the default strategy and swing_logit.
                "TRADE2026_STRATEGIES_DIR": str(STRATEGIES_DIR),
            },
        ) as serving,
    ):
        entities = [strategy_entity(client, f"1.0.{i}", uri) for i, uri in enumerate(uris)]
        serving.wait_up()
        # Nothing live in the slot yet: up, but not ready, and saying why.
        time.sleep(1)
        before = httpx.get(f"{serving.url}/readyz", timeout=5).status_code
        described = httpx.get(f"{serving.url}/v1/model", timeout=5).json()
        client.deploy(entity_id=entities[0], environment="production", deployed_by="tests")
        client.deploy(entity_id=entities[1], environment="staging", deployed_by="tests")
        serving.wait_ready()
        wait_every_worker_live(serving)
        yield Stack(home, serving, client, uris, entities, (before, described), [entities[0]])


def wait_every_worker_live(serving: ServingProcess, in_a_row: int = 30) -> None:
    """Each worker follows the registry on its own: wait until answers from fresh
    connections (spread over the workers) all show a live model."""
    deadline = time.monotonic() + 30
    streak = 0
    while streak < in_a_row:
        assert time.monotonic() < deadline, "a worker did not load the live model"
        live = httpx.get(f"{serving.url}/v1/model", timeout=5).json()["live"]
        streak = streak + 1 if live else 0
        time.sleep(0.05)


def local_predictions(home: Path, uri: str, rows: np.ndarray) -> np.ndarray:
    import mlflow.xgboost

    with mlflow_store(home) as mlflow:
        booster = mlflow.xgboost.load_model(uri)
    return np.asarray(booster.inplace_predict(rows.astype(np.float32)), dtype=np.float64)


def test_not_ready_until_a_model_is_live(stack: Stack) -> None:
    status, described = stack.before_deploy
    assert status == 503
    assert described["ready"] is False
    assert described["registry"]["reachable"] is True
    assert described["registry"]["slot_empty"] is True
    assert httpx.get(f"{stack.serving.url}/readyz", timeout=5).status_code == 200


def test_predict_answers_batches_with_the_live_version(stack: Stack) -> None:
    rows = np.random.default_rng(0).normal(size=(MAX_BATCH_ROWS, len(FEATURES)))
    answer = stack.post("/predict", {"features": rows.tolist()})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == MODEL
    assert body["version"] == "1"
    expected = local_predictions(stack.home, stack.uris[0], rows)
    assert np.allclose(body["predictions"], expected, rtol=0, atol=1e-7)
    # The same rows with named columns in another order: the same answers.
    order = list(reversed(FEATURES))
    named = stack.post("/predict", {"features": rows[:, ::-1].tolist(), "columns": order})
    assert named.json()["predictions"] == body["predictions"]
    # The seed's /predict is the default strategy's route.
    routed = stack.post(f"/strategies/{MODEL}/predict", {"features": rows.tolist()})
    assert routed.status_code == 200, routed.text
    assert routed.json() == body


def test_a_declared_strategy_with_nothing_live_says_why(stack: Stack) -> None:
    # The shipped declarations: the default strategy (live here) and swing_logit (not).
    listed = httpx.get(f"{stack.serving.url}/strategies", timeout=5).json()["strategies"]
    by_name = {s["name"]: s for s in listed}
    assert set(by_name) == {MODEL, "swing_logit"}
    assert by_name[MODEL]["live"]["model_family"] == "xgboost"
    assert by_name["swing_logit"]["live"] is None
    why = by_name["swing_logit"]["why_not_live"]
    assert why == "slot 'swing_logit' (production): no deployment is live", why
    answer = stack.post("/strategies/swing_logit/predict", {"features": [[0.0] * 8]})
    assert answer.status_code == 503, answer.text
    assert answer.json() == {"error": f"swing_logit: no model is live: {why}"}
    # Ready all the same: one strategy is live, every follower follows.
    assert httpx.get(f"{stack.serving.url}/readyz", timeout=5).status_code == 200


def test_live_model_info_names_deployment_entity_and_version(stack: Stack) -> None:
    described = httpx.get(f"{stack.serving.url}/v1/model", timeout=5).json()
    live = described["live"]
    deployment = stack.registry.list_deployments(
        environment="production", slot=MODEL, status="active"
    ).items[0]
    assert live["deployment_id"] == str(deployment.deployment_id)
    assert live["entity"] == "default_ml_strategy 1.0.0"
    assert live["model_uri"] == stack.uris[0]
    assert live["model_version"] == "1"
    assert live["serving_since"] is not None
    store = described["feature_store"]
    assert (store["online_store"], store["ready"], store["error"]) == ("sqlite", True, None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"features": [[1.0, 2.0]]}, "each row needs 10 values"),
        ({"features": [ROW, ROW[:9]]}, "got rows of [9, 10] values"),
        ({"features": [["a"] * 10]}, "valid number"),
        ({"features": []}, "at least 1 item"),
        ({"features": [ROW] * (MAX_BATCH_ROWS + 1)}, f"at most {MAX_BATCH_ROWS} per request"),
        ({"features": [[1e39, *ROW[1:]]]}, "finite and fit in float32"),
        ({"features": [ROW], "columns": ["rsi"] * 10}, "repeated ['rsi']"),
        ({"rows": [ROW]}, "features"),
        ("not json at all", "Invalid JSON"),
        ('{"features": [[NaN, 1, 1, 1, 1, 1, 1, 1, 1, 1]]}', "finite number"),
        # Strict types: a number is a JSON number; unknown fields are refused.
        ({"features": [["1.5", *ROW[1:]]]}, "features.0.0: Input should be a valid number"),
        ({"features": [[True, *ROW[1:]]]}, "features.0.0: Input should be a valid number"),
        ({"features": [ROW], "colums": FEATURES}, "colums: Extra inputs are not permitted"),
        ({"features": [ROW], "columns": [1] * 10}, "columns.0: Input should be a valid string"),
    ],
)
def test_bad_requests_get_a_clear_4xx(stack: Stack, body: Any, message: str) -> None:
    if isinstance(body, str):
        answer = httpx.post(
            f"{stack.serving.url}/predict",
            content=body,
            headers={"content-type": "application/json"},
            timeout=10,
        )
    else:
        answer = stack.post("/predict", body)
    assert answer.status_code == 400, answer.text
    assert message in answer.text


def test_a_bad_signal_request_is_refused(stack: Stack) -> None:
    for body in ({"symbols": ["SYNA"], "extra": 1}, {"symbols": [1]}, {"symbols": "SYNA"}):
        answer = stack.post("/signal", body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"], answer.text


def test_other_bodies_than_json_get_a_415_and_no_traceback(stack: Stack) -> None:
    log = stack.home / "serving.log"
    logged = log.stat().st_size
    malformed = b"--xx\r\nContent-Disposition: form-data; name=features\r\n\r\n[[1"
    for path in ("/predict", "/signal"):
        for content_type in ("multipart/form-data; boundary=xx", "text/plain", ""):
            answer = httpx.post(
                f"{stack.serving.url}{path}",
                content=malformed,
                headers={"content-type": content_type},
                timeout=10,
            )
            assert answer.status_code == 415, (path, content_type, answer.text)
            assert "application/json" in answer.json()["error"]
    # And bad JSON bodies: each is refused without an ERROR line or a traceback.
    for _ in range(10):
        assert stack.post("/predict", {"features": [["x"]]}).status_code == 400
        assert stack.post("/signal", {"symbols": []}).status_code == 400
    time.sleep(0.5)
    with log.open("rb") as lines:
        lines.seek(logged)
        new = lines.read().decode(errors="replace")
    assert "Traceback" not in new, new[-3000:]
    assert "[ERROR]" not in new, new[-3000:]


def test_a_body_is_refused_by_its_size_before_it_is_parsed(stack: Stack) -> None:
    url = f"{stack.serving.url}/predict"
    json_type = {"content-type": "application/json"}
    # 50 MB declared: refused by its length, before a byte of it is sent.
    started = time.monotonic()
    host, port = stack.serving.host, stack.serving.port
    with socket.create_connection((host, port), timeout=10) as raw:
        raw.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 52428800\r\n\r\n{"
        )
        assert raw.recv(200).startswith(b"HTTP/1.1 413 ")
    # 300,000 rows (about 21 MB) sent in chunks, without a declared length.
    row = json.dumps([0.12345678901234567] * len(FEATURES)).encode()

    def chunks() -> Iterator[bytes]:
        yield b'{"features": ['
        for i in range(300_000 // 1000):
            yield (b"," if i else b"") + b",".join([row] * 1000)
        yield b"]}"

    answer = httpx.post(url, content=chunks(), headers=json_type, timeout=30)
    assert answer.status_code == 413, answer.text
    assert time.monotonic() - started < 10
    # A full batch at full precision is admitted (see test_predict_answers_batches…), and
    # the limit follows SERVING_MAX_BATCH_ROWS: the default 10,000 rows fit.
    from serving.service import BODY_SLACK, BYTES_PER_ROW

    rows = np.random.default_rng(1).normal(size=(10_000, len(FEATURES)))
    assert len(json.dumps({"features": rows.tolist()})) < 10_000 * BYTES_PER_ROW + BODY_SLACK


def test_unknown_paths_add_no_metrics(stack: Stack) -> None:
    def series() -> set[str]:
        text = httpx.get(f"{stack.serving.url}/metrics", timeout=10).text
        return {line.rsplit(" ", 1)[0] for line in text.splitlines() if not line.startswith("#")}

    for path in ("/predict", "/livez", "/metrics", "/nope"):  # the routes' series exist
        httpx.get(f"{stack.serving.url}{path}", timeout=5)
    before = series()
    assert any('endpoint="/predict"' in line for line in before)
    for i in range(200):
        answer = httpx.get(f"{stack.serving.url}/random-{i}-{time.monotonic_ns()}", timeout=5)
        assert answer.status_code == 404
    after = series()
    assert after == before, sorted(after - before)[:5]


def test_the_seeds_curl_works(stack: Stack) -> None:
    def curl(body: str) -> tuple[int, str]:
        result = subprocess.run(
            [
                "curl",
                "-sS",
                "-o",
                "-",
                "-w",
                "\n%{http_code}",
                "-X",
                "POST",
                f"{stack.serving.url.replace('127.0.0.1', 'localhost')}/predict",
                "-H",
                "Content-Type: application/json",
                "-d",
                body,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        text, _, code = result.stdout.rpartition("\n")
        return int(code), text

    code, text = curl(json.dumps({"features": [ROW]}))
    assert code == 200, text
    assert json.loads(text)["version"] == "1"
    # The seed's own five numbers were its four-indicator model's; ours takes ten.
    code, text = curl('{"features": [[50.0, 0.5, 0.3, 105.0, 95.0]]}')
    assert code == 400
    assert "each row needs 10 values (ret_1, ret_1_lag1" in text


def test_the_api_keeps_its_openapi_contract_under_fuzzing(stack: Stack) -> None:
    """Schemathesis on every operation of the served schema, valid and invalid inputs, all
    its checks (no 5xx, documented status codes, content types and response schemas)."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.result import Ok

    schema = schemathesis.openapi.from_url(f"{stack.serving.url}/docs.json")
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), results
    assert {op.label for op in operations} >= {
        "POST /predict",
        "POST /signal",
        "GET /strategies",
        f"POST /strategies/{MODEL}/predict",
        f"POST /strategies/{MODEL}/signal",
        "POST /strategies/swing_logit/predict",
    }
    calls = 0
    # swing_logit is declared but nothing of it is deployed: its routes answer the 503
    # they document, which the server-error check would count as a failure.
    not_live = ("/strategies/swing_logit/",)
    for operation in operations:
        # Invalid inputs where there are inputs: the POST bodies (the GETs take none).
        modes = [GenerationMode.POSITIVE]
        if operation.method.upper() == "POST":
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:

            @settings(
                max_examples=30,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case: Any) -> None:
                nonlocal calls
                calls += 1
                excluded = [not_a_server_error] if case.path.startswith(not_live) else []
                response = case.call_and_validate(
                    base_url=stack.serving.url, timeout=10, excluded_checks=excluded
                )
                if excluded:
                    assert response.status_code in (400, 413, 415, 503), response.text

            fuzz()
    assert calls > 100


def test_the_api_keeps_its_contract_on_schemathesis_coverage_cases(
    stack: Stack, tmp_path: Path
) -> None:
    """Schemathesis' own runner, as a user runs it from outside: its examples and its
    coverage phase (each schema's boundaries, every type a field must refuse, the methods
    a path does not document) with all its checks. The declared strategy nothing is
    deployed of answers 503, which the fuzzing test above covers."""
    import sys

    cli = Path(sys.executable).parent / "st"
    ran = subprocess.run(
        [
            str(cli), "run", f"{stack.serving.url}/docs.json",
            "--phases", "examples,coverage", "--checks", "all",
            "--exclude-path-regex", "swing_logit",
            "--request-timeout", "10", "--max-failures", "20", "--no-color",
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-8000:] + ran.stderr[-2000:]
    assert "Coverage" in ran.stdout


def test_the_api_page_describes_the_service_and_its_examples_work(stack: Stack) -> None:
    def once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        assert len(set(keys)) == len(keys), f"a key twice in /docs.json: {keys}"
        return dict(pairs)

    # Swagger UI (the page at /) renders nothing for a document with a key twice.
    spec = json.loads(
        httpx.get(f"{stack.serving.url}/docs.json", timeout=30).text, object_pairs_hook=once
    )
    info = spec["info"]
    assert info["version"] == importlib.metadata.version("trade2026")
    assert "created with BentoML" not in info["description"]
    assert MODEL in info["description"]
    examples = {
        path: operation["requestBody"]["content"]["application/json"]["example"]
        for path, methods in spec["paths"].items()
        for operation in [methods.get("post")]
        if operation and "example" in operation["requestBody"]["content"]["application/json"]
    }
    # Both routes of every shipped strategy, and the default's unprefixed two.
    assert len(examples) == 2 + 2 * len(list(STRATEGIES_DIR.glob("*.yaml"))), sorted(examples)
    assert examples["/signal"] == {"symbols": ["SYNA"]}
    assert examples["/predict"] == examples[f"/strategies/{MODEL}/predict"]
    [row] = examples["/predict"]["features"]
    # One value per feature, each its own: a computed row, not a filler.
    assert len(row) == len(FEATURES), row
    assert len(set(row)) == len(row), row
    for path, body in examples.items():
        answer = stack.post(path, body)
        if path.startswith("/strategies/") and not path.startswith(f"/strategies/{MODEL}/"):
            # Valid for its strategy, which nothing made live in this stack.
            assert answer.status_code == 503, (path, answer.text)
            continue
        assert answer.status_code == 200, (path, body, answer.text)
        result = answer.json()
        if path.endswith("/signal"):
            assert set(result["signals"]) == {"SYNA"}, result
        else:
            assert len(result["predictions"]) == 1, result


def test_signal_per_symbol_from_online_features(stack: Stack) -> None:
    answer = stack.post("/signal", {"symbols": ["SYNA", "synb", "NOPE"]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["version"] == "1"
    assert set(body["signals"]) == {"SYNA", "SYNB"}
    indicator_set = parse_declaration(
        (STRATEGIES_DIR / f"{MODEL}.yaml").read_text(), origin=MODEL
    ).indicator_set
    assert body["errors"] == {
        "NOPE": f"unknown symbol: no online features for indicator set {indicator_set}"
    }
    for signal in body["signals"].values():
        p = signal["probability"]
        expected = "BUY" if p > 0.6 else "SELL" if p < 0.4 else "HOLD"
        assert signal["action"] == expected
        assert signal["size"] == (0.0 if expected == "HOLD" else 0.02)
        assert datetime.fromisoformat(signal["features_as_of"]) <= datetime.now(UTC)
    bad = stack.post("/signal", {"symbols": []})
    assert bad.status_code == 400
    routed = stack.post(f"/strategies/{MODEL}/signal", {"symbols": ["SYNA", "synb", "NOPE"]})
    assert routed.status_code == 200, routed.text
    assert routed.json()["signals"].keys() == body["signals"].keys()
    assert routed.json()["errors"] == body["errors"]


@dataclass
class Observed:
    sent: datetime
    received: datetime
    status: int
    version: str | None


def test_twenty_swaps_under_load_lose_no_request(stack: Stack) -> None:
    observed: list[Observed] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=10) as http:
            while not stop.is_set():
                sent = datetime.now(UTC)
                try:
                    response = http.post(f"{stack.serving.url}/predict", json={"features": [ROW]})
                    status = response.status_code
                    version = response.json().get("version") if status == 200 else None
                except httpx.HTTPError:
                    status, version = 0, None
                observed.append(Observed(sent, datetime.now(UTC), status, version))

    threads = [threading.Thread(target=client) for _ in range(2)]
    for thread in threads:
        thread.start()
    swaps = []
    try:
        time.sleep(0.5)
        live, other = stack.entities[0], stack.entities[1]
        for i in range(20):
            swap = stack.registry.swap(
                from_entity_id=live, to_entity_id=other, reason=f"test {i}", initiated_by="tests"
            )
            deadline = time.monotonic() + 15
            while len(stack.registry.get_swap(str(swap.swap_id)).acks) < WORKERS:
                assert time.monotonic() < deadline, f"swap {i} not acknowledged by each worker"
                time.sleep(0.05)
            swaps.append(stack.registry.get_swap(str(swap.swap_id)))
            live, other = other, live
            time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    stack.live_entity[0] = live

    assert len(observed) > 200
    assert [o for o in observed if o.status != 200] == []
    version_of = {stack.entities[0]: "1", stack.entities[1]: "2"}
    checked = 0
    for i, swap in enumerate(swaps):
        assert all(ack.success for ack in swap.acks)
        assert all(ack.downtime_ms == 0 for ack in swap.acks)
        # From the last worker's switch to the next commit, only the new version answers.
        switched = max(ack.serving_since for ack in swap.acks if ack.serving_since)
        until = swaps[i + 1].committed_at if i + 1 < len(swaps) else datetime.now(UTC)
        assert until is not None
        for o in observed:
            if o.sent >= switched and o.received <= until:
                assert o.version == version_of[str(swap.to_entity_id)], (i, o)
                checked += 1
    assert checked > 100


def test_a_model_that_cannot_load_is_never_switched_to(stack: Stack) -> None:
    live = stack.live_entity[0]
    serving_version = stack.post("/predict", {"features": [ROW]}).json()["version"]
    broken = strategy_entity(stack.registry, "9.9.9", f"models:/{MODEL}/99")
    for staged in stack.registry.list_deployments(
        environment="staging", slot=MODEL, status="active"
    ).items:
        stack.registry.deactivate(str(staged.deployment_id), reason="make room")
    stack.registry.deploy(entity_id=broken, environment="staging", deployed_by="tests")
    swap = stack.registry.swap(
        from_entity_id=live, to_entity_id=broken, reason="broken model", initiated_by="tests"
    )
    deadline = time.monotonic() + 15
    while len(acks := stack.registry.get_swap(str(swap.swap_id)).acks) < WORKERS:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert [ack.success for ack in acks] == [False] * WORKERS
    assert all("cannot load models:/default_ml_strategy/99" in str(ack.error) for ack in acks)
    # The old model still answers, and the service says why it did not switch.
    answer = stack.post("/predict", {"features": [ROW]})
    assert answer.status_code == 200
    assert answer.json()["version"] == serving_version
    described = httpx.get(f"{stack.serving.url}/v1/model", timeout=5).json()
    assert str(swap.to_deployment_id) in described["failed_deployments"]
    assert httpx.get(f"{stack.serving.url}/readyz", timeout=5).status_code == 200


def acks_of(stack: Stack, swap_id: str) -> list[Any]:
    deadline = time.monotonic() + 20
    while len(acks := stack.registry.get_swap(swap_id).acks) < WORKERS:
        assert time.monotonic() < deadline, f"swap {swap_id}: {len(acks)} acknowledgements"
        time.sleep(0.1)
    return list(acks)


def swap_to(stack: Stack, entity: str, reason: str) -> str:
    live = stack.registry.list_deployments(environment="production", slot=MODEL, status="active")
    [current] = live.items
    swap = stack.registry.swap(
        from_entity_id=str(current.entity_id),
        to_entity_id=entity,
        reason=reason,
        initiated_by="tests",
    )
    return str(swap.swap_id)


def test_a_swap_back_is_acknowledged_and_a_past_failure_dropped(stack: Stack) -> None:
    # After the previous test the slot names a deployment that cannot load; every worker
    # still serves the model before it. A swap back to that model:
    serving_entity = stack.live_entity[0]
    swap_id = swap_to(stack, serving_entity, "back to the serving model")
    # The failure was about the slot's deployment then; the slot moved on.
    deadline = time.monotonic() + 10
    while any(
        httpx.get(f"{stack.serving.url}/v1/model", timeout=5).json()["failed_deployments"]
        for _ in range(2 * WORKERS)
    ):
        assert time.monotonic() < deadline, "a failure of the past is still listed"
        time.sleep(0.2)
    # Each worker serves the swap's target already, and says so.
    back = acks_of(stack, swap_id)
    assert [ack.success for ack in back] == [True] * WORKERS


def test_an_unreadable_model_file_is_a_failed_load_and_following_goes_on(stack: Stack) -> None:
    # A version whose MLmodel is not YAML: a failed load, acknowledged as such.
    serving_entity = stack.live_entity[0]
    unreadable = strategy_entity(stack.registry, "9.9.10", register_unparsable_model(stack.home))
    for staged in stack.registry.list_deployments(
        environment="staging", slot=MODEL, status="active"
    ).items:
        stack.registry.deactivate(str(staged.deployment_id), reason="make room")
    stack.registry.deploy(entity_id=unreadable, environment="staging", deployed_by="tests")
    failed = acks_of(stack, swap_to(stack, unreadable, "an unreadable MLmodel"))
    assert [ack.success for ack in failed] == [False] * WORKERS
    assert all("cannot load models:/default_ml_strategy/" in str(a.error) for a in failed)
    assert all("ParserError" in str(a.error) for a in failed)
    # The followers keep following: fresh polls, ready, and the next swap is acknowledged.
    time.sleep(1)
    for _ in range(2 * WORKERS):
        described = httpx.get(f"{stack.serving.url}/v1/model", timeout=5).json()
        polled = datetime.fromisoformat(described["registry"]["last_poll_at"])
        assert (datetime.now(UTC) - polled).total_seconds() < 2, described
        assert described["follower"] == {"running": True, "error": None}
        assert described["ready"] is True
    assert httpx.get(f"{stack.serving.url}/readyz", timeout=5).status_code == 200
    back = acks_of(stack, swap_to(stack, serving_entity, "back again"))
    assert [ack.success for ack in back] == [True] * WORKERS
    assert stack.post("/predict", {"features": [ROW]}).status_code == 200


def test_a_failing_online_store_is_reported_per_symbol_and_recovers(stack: Stack) -> None:
    # The online table vanishes (as if the store were torn down) and comes back. Feast's
    # SQLite table is "<project>_<feature view>".
    assert f"trade2026_{FEATURE_VIEW}" == "trade2026_technical_indicators"
    online = sqlite3.connect(stack.home / "feature_store" / "online.db")
    online.execute("ALTER TABLE trade2026_technical_indicators RENAME TO hidden")
    online.commit()
    try:
        for _ in range(2 * WORKERS):
            answer = stack.post("/signal", {"symbols": ["SYNA", "SYNB"]})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["signals"] == {}
            assert set(body["errors"]) == {"SYNA", "SYNB"}
            assert body["errors"]["SYNA"].startswith("online features unavailable: "), body
    finally:
        online.execute("ALTER TABLE hidden RENAME TO trade2026_technical_indicators")
        online.commit()
        online.close()
    recovered = [stack.post("/signal", {"symbols": ["SYNA"]}).json() for _ in range(2 * WORKERS)]
    assert all(set(body["signals"]) == {"SYNA"} for body in recovered), recovered
