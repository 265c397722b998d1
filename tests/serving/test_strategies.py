"""Two declared strategies served at once by a real `bentoml serve` (2 workers) following a
real registry process: an XGBoost model and a logistic regression, each over its own
features, in a real MLflow store. Each answers with its own live version, and swapping one
never disturbs the other."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from registry_service.client import RegistryClient
from scripts.harness.registry import registry_process
from scripts.harness.services import free_port
from scripts.harness.serving import ServingProcess, serving_process
from scripts.harness.strategy_models import declared_entity, mlflow_store, register_strategy_model
from trade2026_assets.strategy.declaration import StrategyDeclaration, parse_declaration

WORKERS = 2
ALPHA = """
name: alpha
model: {family: xgboost}
features: [ret_1, rsi, bb_pctb, volatility]
"""
BETA = """
name: beta
model: {family: logistic_regression}
features: [momentum_5, volume_z, range_atr, rsi, ret_1]
signal: {buy_threshold: 0.55, sell_threshold: 0.45, position_size: 0.03}
"""


@dataclass
class Stack:
    home: Path
    serving: ServingProcess
    registry: RegistryClient
    alpha: StrategyDeclaration
    beta: StrategyDeclaration
    uris: dict[str, str]
    # beta's two entities: live first, then the staged one.
    beta_entities: list[str]

    def post(self, path: str, body: Any) -> httpx.Response:
        return httpx.post(f"{self.serving.url}{path}", json=body, timeout=10)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("strategies")
    strategies = home / "strategies"
    strategies.mkdir()
    (strategies / "alpha.yaml").write_text(ALPHA)
    (strategies / "beta.yaml").write_text(BETA)
    alpha = parse_declaration(ALPHA, origin="alpha.yaml")
    beta = parse_declaration(BETA, origin="beta.yaml")
    uris = {
        "alpha/1": register_strategy_model(home, alpha, seed=1),
        "beta/1": register_strategy_model(home, beta, seed=2),
        "beta/2": register_strategy_model(home, beta, seed=3),
    }
    assert list(uris.values()) == ["models:/alpha/1", "models:/beta/1", "models:/beta/2"]
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
                "TRADE2026_STRATEGIES_DIR": str(strategies),
                # Retired: ignored, with a warning (test_a_retired_variable_is_a_warning).
                "SERVING_SLOT": "alpha",
            },
        ) as serving,
    ):
        alpha_entity = declared_entity(client, alpha, "1")
        beta_entities = [declared_entity(client, beta, v) for v in ("1", "2")]
        client.deploy(entity_id=alpha_entity, environment="production", deployed_by="tests")
        client.deploy(entity_id=beta_entities[0], environment="production", deployed_by="tests")
        client.deploy(entity_id=beta_entities[1], environment="staging", deployed_by="tests")
        serving.wait_ready()
        wait_every_worker_serves(serving, {"alpha": "1", "beta": "1"})
        yield Stack(home, serving, client, alpha, beta, uris, beta_entities)


def live_versions(serving: ServingProcess) -> dict[str, str | None]:
    listed = httpx.get(f"{serving.url}/strategies", timeout=5).json()["strategies"]
    return {s["name"]: (s["live"] or {}).get("model_version") for s in listed}


def wait_every_worker_serves(
    serving: ServingProcess, versions: dict[str, str], in_a_row: int = 20
) -> None:
    """Each worker follows on its own: wait until fresh connections (spread over the
    workers) all show `versions` live."""
    deadline = time.monotonic() + 30
    streak = 0
    while streak < in_a_row:
        assert time.monotonic() < deadline, live_versions(serving)
        streak = streak + 1 if live_versions(serving) == versions else 0
        time.sleep(0.02)


def local_predictions(stack: Stack, uri: str, family: str, rows: np.ndarray) -> np.ndarray:
    with mlflow_store(stack.home) as mlflow:
        if family == "xgboost":
            import mlflow.xgboost

            booster = mlflow.xgboost.load_model(uri)
            return np.asarray(booster.inplace_predict(rows.astype(np.float32)), dtype=np.float64)
        import mlflow.sklearn

        pipeline = mlflow.sklearn.load_model(uri)
        return np.asarray(pipeline.predict_proba(rows.astype(np.float32))[:, 1])


def test_each_strategy_answers_with_its_own_live_model(stack: Stack) -> None:
    for declaration, family in ((stack.alpha, "xgboost"), (stack.beta, "logistic_regression")):
        rows = np.random.default_rng(5).normal(size=(100, len(declaration.features)))
        answer = stack.post(f"/strategies/{declaration.name}/predict", {"features": rows.tolist()})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["strategy"], body["model"], body["version"], body["model_family"]) == (
            declaration.name,
            declaration.name,
            "1",
            family,
        )
        expected = local_predictions(stack, f"models:/{declaration.name}/1", family, rows)
        assert np.allclose(body["predictions"], expected, rtol=0, atol=1e-6)
        # Named columns in another order: the same answers.
        order = list(reversed(declaration.features))
        named = stack.post(
            f"/strategies/{declaration.name}/predict",
            {"features": rows[:, ::-1].tolist(), "columns": order},
        )
        assert named.json()["predictions"] == body["predictions"]


def test_a_body_is_checked_against_its_strategys_features(stack: Stack) -> None:
    alpha_row = [0.1, 50.0, 0.5, 0.01]
    answer = stack.post("/strategies/beta/predict", {"features": [alpha_row]})
    assert answer.status_code == 400, answer.text
    assert "each row needs 5 values (momentum_5, volume_z, range_atr, rsi, ret_1)" in answer.text
    columns = ["ret_1", "rsi", "bb_pctb", "macd_norm"]
    answer = stack.post("/strategies/alpha/predict", {"features": [alpha_row], "columns": columns})
    assert answer.status_code == 400, answer.text
    assert "unknown ['macd_norm'], missing ['volatility']" in answer.text


def test_strategies_lists_each_live_version_family_and_swap(stack: Stack) -> None:
    listed = httpx.get(f"{stack.serving.url}/strategies", timeout=5).json()["strategies"]
    by_name = {s["name"]: s for s in listed}
    assert set(by_name) == {"alpha", "beta"}
    for name, family in (("alpha", "xgboost"), ("beta", "logistic_regression")):
        described = by_name[name]
        assert described["route"] == f"/strategies/{name}"
        assert described["why_not_live"] is None
        live = described["live"]
        assert live["model_family"] == family
        assert live["model_uri"] in stack.uris.values()
        assert live["serving_since"] is not None
        assert live["deployment_id"]
    assert by_name["beta"]["live"]["rule"] == {
        "buy_threshold": 0.55,
        "sell_threshold": 0.45,
        "position_size": 0.03,
    }


def test_signal_names_its_strategy_and_version(stack: Stack) -> None:
    # No online features were materialized here: every symbol says why, the answer still
    # names the strategy and its live version.
    answer = stack.post("/strategies/beta/signal", {"symbols": ["SYNA"]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["strategy"], body["version"], body["signals"]) == ("beta", "1", {})
    assert set(body["errors"]) == {"SYNA"}


def test_an_unknown_strategy_is_a_404_with_a_one_line_error(stack: Stack) -> None:
    for path, body in (
        ("/strategies/gamma/predict", {"features": [[1.0]]}),
        ("/strategies/gamma/signal", {"symbols": ["SYNA"]}),
    ):
        answer = stack.post(path, body)
        assert answer.status_code == 404, answer.text
        error = answer.json()
        assert set(error) == {"error"}
        assert error["error"] == (
            "no strategy named 'gamma' is declared (declared: alpha, beta)"
        ), error
        assert "\n" not in error["error"]
    # The seed's routes serve the default strategy, which is not declared here.
    answer = stack.post("/predict", {"features": [[0.0] * 10]})
    assert answer.status_code == 404, answer.text
    assert "default_ml_strategy" in answer.json()["error"]


@dataclass
class Observed:
    status: int
    strategy: str | None
    version: str | None


def test_swapping_one_strategy_never_disturbs_another(stack: Stack) -> None:
    """Under continuous load on alpha's predict, beta swaps back and forth 10 times: no
    alpha request fails, and each answers with alpha's version."""
    started = time.monotonic()
    observed: list[Observed] = []
    stop = threading.Event()
    row = [[0.001, 55.0, 0.6, 0.004]]

    def client() -> None:
        with httpx.Client(timeout=10) as http:
            while not stop.is_set():
                try:
                    answer = http.post(
                        f"{stack.serving.url}/strategies/alpha/predict", json={"features": row}
                    )
                    body = answer.json() if answer.status_code == 200 else {}
                    observed.append(
                        Observed(answer.status_code, body.get("strategy"), body.get("version"))
                    )
                except httpx.HTTPError:
                    observed.append(Observed(0, None, None))

    threads = [threading.Thread(target=client) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        live, other = stack.beta_entities
        version_of = dict(zip(stack.beta_entities, ("1", "2"), strict=True))
        for i in range(10):
            swap = stack.registry.swap(
                from_entity_id=live, to_entity_id=other, reason=f"b {i}", initiated_by="tests"
            )
            deadline = time.monotonic() + 15
            while len(acks := stack.registry.get_swap(str(swap.swap_id)).acks) < WORKERS:
                assert time.monotonic() < deadline, f"swap {i} not acknowledged by each worker"
                time.sleep(0.05)
            assert all(ack.success for ack in acks), acks
            live, other = other, live
            # Every worker has switched beta (each acknowledged): beta answers the new one.
            for _ in range(2 * WORKERS):
                body = stack.post("/strategies/beta/predict", {"features": [[0.0] * 5]}).json()
                assert body["version"] == version_of[live], (i, body)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert time.monotonic() - started < 60
    assert len(observed) > 100
    assert [o for o in observed if o.status != 200] == []
    assert {(o.strategy, o.version) for o in observed} == {("alpha", "1")}


def test_a_retired_variable_is_a_warning_and_changes_nothing(stack: Stack) -> None:
    log = (stack.home / "serving.log").read_text(errors="replace")
    warned = [line for line in log.splitlines() if "SERVING_SLOT is set but no longer read" in line]
    assert len(warned) == 2, warned  # once per worker
    assert "Traceback" not in log
    assert set(live_versions(stack.serving)) == {"alpha", "beta"}
