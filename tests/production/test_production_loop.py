"""The whole loop in the production profile, on the real PostgreSQL, Redis and NATS of this
machine and an MLflow tracking server process (see scripts/harness/production.py): market
data into the Redis online store, a first model of the default strategy deployed by its
sensor, a better one (its declaration edited) swapped in, serving following over NATS (its
poll is 30 s, longer than the test follows the swap up), signals from Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import nats
import pytest
from mlflow import MlflowClient

from scripts.harness.dagster_runs import run_job, run_market_data_job
from scripts.harness.production import ProductionStack, production_stack
from scripts.harness.services import NATS_TEST_URL
from scripts.harness.strategy_models import WEAKER_DEFAULT
from tests.trade2026_assets.declarations import default_with, write_strategies
from trade2026_assets.definitions import build_definitions
from trade2026_assets.defs.deploy.registry_steps import CursorState
from trade2026_assets.strategy.declaration import DEFAULT_STRATEGY, StrategyDeclaration

SYMBOLS = ["SYNA", "SYNB", "SYNC", "SYND"]
DECLARATION = StrategyDeclaration(name=DEFAULT_STRATEGY)
WEAK = WEAKER_DEFAULT
ROW = [0.001, 0.0005, -0.002, 0.004, 55.0, 0.001, 0.0008, 0.0002, 0.6, 0.03]


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProductionStack]:
    home = tmp_path_factory.mktemp("production")
    strategies = write_strategies(home / "strategies", {DEFAULT_STRATEGY: default_with()})
    with production_stack(
        home, symbols=SYMBOLS, synthetic_bars=4000, strategies_dir=strategies
    ) as stack:
        yield stack


def train(prod: ProductionStack, changes: dict[str, Any]) -> str:
    """Edit the default strategy's declaration (as a user edits its file), load the
    definitions again and run its training job; the registered version."""
    write_strategies(prod.settings.strategies_dir, {DEFAULT_STRATEGY: default_with(**changes)})
    outcome = run_job(
        build_definitions(prod.settings), DECLARATION.training_job, instance=prod.instance
    )
    assert outcome.success, outcome.failures
    return str(outcome.metadata_of[f"{DEFAULT_STRATEGY}/model"]["model_version"])


def tick(prod: ProductionStack, cursor: str | None, timeout_s: float = 20) -> Any:
    """Ticks of the default strategy's sensor until one records what became of its
    candidate: a tick never waits for serving, so a requested swap is followed up by the
    next ticks (here every half second, as a daemon ticking that often would)."""
    sensor = prod.defs.resolve_sensor_def(DECLARATION.sensor_name)
    give_up = time.monotonic() + timeout_s
    while True:
        context = dg.build_sensor_context(
            instance=prod.instance, cursor=cursor, resources=prod.resources, definitions=prod.defs
        )
        data = sensor.evaluate_tick(context)
        for event in data.asset_events:
            prod.instance.report_runless_asset_event(event)
        cursor = data.cursor
        pending = CursorState.parse(cursor, sensor_name=sensor.name).pending
        if data.asset_events or pending is None or time.monotonic() > give_up:
            return data
        time.sleep(0.5)


def serving_version(prod: ProductionStack, expected: str, timeout_s: float = 20) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = httpx.post(
            f"{prod.serving.url}{DECLARATION.route}/predict", json={"features": [ROW]}, timeout=5
        )
        version = str(answer.json().get("version")) if answer.status_code == 200 else ""
        if version == expected or time.monotonic() > deadline:
            return version
        time.sleep(0.2)


def stream_messages(stream: str) -> int:
    async def count() -> int:
        connection = await nats.connect(NATS_TEST_URL, connect_timeout=2)
        info = await connection.jetstream().stream_info(stream)
        await connection.close()
        return int(info.state.messages)

    return asyncio.run(count())


# A whole loop of real services: minutes on two busy cores.
@pytest.mark.timeout(900)
def test_the_loop_runs_on_the_production_profile(prod: ProductionStack) -> None:
    # Storage is where the profile says.
    assert type(prod.instance.run_storage).__name__ == "PostgresRunStorage"
    assert prod.instance.run_monitoring_enabled
    assert prod.feature_store.online_kind == "redis"
    assert prod.resources["mlflow"].tracking_uri.startswith("http://")

    market = run_market_data_job(prod.defs, SYMBOLS, instance=prod.instance)
    assert market.success, market.failures
    assert market.check("online_features", "online_offline_parity").passed

    weak = train(prod, WEAK)
    first = tick(prod, None)
    (deployed,) = first.asset_events
    assert deployed.metadata["status"].value == "live", deployed.description
    assert serving_version(prod, weak) == weak

    better = train(prod, {})
    swapped = tick(prod, first.cursor)
    (event,) = swapped.asset_events
    recorded = {key: value.value for key, value in event.metadata.items()}
    assert recorded["status"] == "live", event.description
    assert recorded["swap_type"] == "automatic"
    # Serving took it within the follow-up ticks' 20 s although its workers poll every
    # 30 s: the registry's event reached them over NATS.
    assert len(recorded["acknowledgements"]) >= 1
    assert recorded["propagation_ms"] is not None, recorded
    assert recorded["propagation_ms"] < 15_000, recorded
    assert serving_version(prod, better) == better

    answer = httpx.post(
        f"{prod.serving.url}{DECLARATION.route}/signal", json={"symbols": SYMBOLS}, timeout=10
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["version"] == better
    assert sorted(body["signals"]) == SYMBOLS
    described = httpx.get(f"{prod.serving.url}/v1/model", timeout=5).json()
    assert described["feature_store"]["online_store"] == "redis"
    assert described["registry"]["events"] == "connected", described["registry"]

    # The tracking server holds the versions and the champion; the runs are in PostgreSQL;
    # the registry's events went through the JetStream stream.
    mlflow = MlflowClient(tracking_uri=prod.mlflow_server.url, registry_uri=prod.mlflow_server.url)
    assert mlflow.get_model_version_by_alias("default_ml_strategy", "champion").version == better
    runs = prod.instance.get_runs()
    assert len(runs) == 3
    # The relay publishes after the commit: wait until it has caught up with the outbox.
    deadline = time.monotonic() + 15
    while True:
        events = prod.registry.events(limit=1000).items
        unpublished = [event for event in events if event.published_at is None]
        if not unpublished:
            break
        assert time.monotonic() < deadline, unpublished
        time.sleep(0.2)
    assert stream_messages(prod.stream) >= len(events)


def test_state_is_in_the_servers_not_the_state_directory(prod: ProductionStack) -> None:
    home: Path = prod.home
    assert not (home / "registry.db").exists()
    assert not (home / "mlflow" / "mlflow.db").exists()
    assert not list((home / "dagster").glob("*.db"))
    assert not (home / "feature_store" / "online.db").exists()
