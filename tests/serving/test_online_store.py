"""Serving on a Redis online store that goes away: frozen (SIGSTOP), then dead. /signal
answers within its budget and says why, /predict (which needs no Redis) is not held up,
/v1/model reports the store."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from registry_service.client import RegistryClient
from scripts.harness.dagster_runs import run_market_data_job
from scripts.harness.registry import registry_process
from scripts.harness.services import free_port
from scripts.harness.serving import serving_process
from scripts.harness.strategy_models import register_models, strategy_entity
from tests.serving.test_service import ROW, wait_every_worker_live
from trade2026_assets.definitions import build_definitions
from trade2026_assets.settings import AssetsSettings

# /signal's answer with the store away: its timeout budget (0.25 s) and some scheduling.
SIGNAL_BUDGET_S = 2.0
PREDICT_BUDGET_S = 1.0


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    options = {"port": str(port), "bind": "127.0.0.1", "save": "", "appendonly": "no"}
    arguments = [part for name, value in options.items() for part in (f"--{name}", value)]
    redis = subprocess.Popen(
        ["redis-server", *arguments, "--dir", str(tmp_path)], stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode:
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.1)
    yield redis, port
    redis.send_signal(signal.SIGCONT)
    redis.kill()
    redis.wait(10)


def test_a_frozen_then_dead_online_store_holds_up_nothing_else(
    tmp_path: Path,
    own_redis: tuple[subprocess.Popen[bytes], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    redis, port = own_redis
    connection = f"127.0.0.1:{port}"
    monkeypatch.setenv("FEAST_REDIS_CONNECTION_STRING", connection)
    settings = AssetsSettings(home=tmp_path, symbols="SYNA,SYNB", synthetic_bars=200)
    assert run_market_data_job(build_definitions(settings), ["SYNA", "SYNB"]).success
    [uri] = register_models(tmp_path, 1)
    with (
        registry_process(tmp_path, free_port()) as (registry, key),
        RegistryClient(registry.url, api_key=key) as client,
    ):
        entity = strategy_entity(client, "1.0.0", uri)
        client.deploy(entity_id=entity, environment="production", deployed_by="tests")
        with serving_process(
            tmp_path,
            port=free_port(),
            registry_url=registry.url,
            api_key=key,
            extra_env={"FEAST_REDIS_CONNECTION_STRING": connection},
        ) as serving:
            serving.wait_ready()
            wait_every_worker_live(serving)
            url = serving.url

            def signal_answer() -> tuple[float, dict[str, Any]]:
                started = time.monotonic()
                answer = httpx.post(f"{url}/signal", json={"symbols": ["SYNA"]}, timeout=15)
                assert answer.status_code == 200, answer.text
                return time.monotonic() - started, answer.json()

            _, body = signal_answer()
            assert set(body["signals"]) == {"SYNA"}, body

            for outage in ("frozen", "dead"):
                if outage == "frozen":
                    redis.send_signal(signal.SIGSTOP)
                else:
                    redis.send_signal(signal.SIGCONT)
                    redis.kill()
                    redis.wait(10)
                # /signal calls keep arriving on every worker meanwhile.
                stop = threading.Event()
                signals: list[tuple[float, dict[str, Any]]] = []

                def keep_asking(stop: threading.Event = stop, signals: list[Any] = signals) -> None:
                    while not stop.is_set():
                        signals.append(signal_answer())

                askers = [threading.Thread(target=keep_asking) for _ in range(4)]
                for asker in askers:
                    asker.start()
                try:
                    for _ in range(20):
                        started = time.monotonic()
                        answer = httpx.post(f"{url}/predict", json={"features": [ROW]}, timeout=15)
                        took = time.monotonic() - started
                        assert answer.status_code == 200, answer.text
                        assert took < PREDICT_BUDGET_S, f"{outage}: /predict took {took:.1f}s"
                        time.sleep(0.05)
                finally:
                    stop.set()
                    for asker in askers:
                        asker.join()
                assert len(signals) >= 4
                slowest = max(took for took, _ in signals)
                assert slowest < SIGNAL_BUDGET_S, f"{outage}: /signal took {slowest:.1f}s"
                for _, body in signals:
                    assert body["signals"] == {}, body
                    assert body["errors"]["SYNA"].startswith("online features unavailable")
                # Each worker's /v1/model says the store is away (its probe, or /signal).
                for _ in range(4):
                    store = httpx.get(f"{url}/v1/model", timeout=5).json()["feature_store"]
                    assert store["ready"] is False, store
                    assert "Error" in str(store["error"]), store
                assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200
                if outage == "frozen":
                    # Thawed: /signal answers from the store again.
                    redis.send_signal(signal.SIGCONT)
                    deadline = time.monotonic() + 10
                    # Both workers (fresh connections spread over them) read again.
                    while any(signal_answer()[1]["signals"] == {} for _ in range(4)):
                        assert time.monotonic() < deadline, "the store did not come back"
                        time.sleep(0.2)
