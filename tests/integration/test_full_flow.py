"""The whole loop on real parts: the Dagster definitions (jobs in-process on a SQLite
instance), the chDB warehouse, Feast, MLflow, the registry as a process and `bentoml serve`
(2 workers) following it. The auto-swap sensor is evaluated with `build_sensor_context`, as
the daemon would, and what it reports is stored in the instance as the daemon does.

The tests run in order on one stack: each starts from what the previous one left live.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import dagster as dg
import httpx
import pytest
from dagster._core.definitions.sensor_definition import SensorExecutionData
from mlflow import MlflowClient

from registry_service.client import RegistryClient
from scripts.harness.dagster_runs import resource_of, run_job, run_market_data_job
from scripts.harness.registry import registry_process
from scripts.harness.services import free_port
from scripts.harness.serving import ServingProcess, serving_process
from scripts.harness.strategy_models import WEAKER_DEFAULT
from tests.trade2026_assets.declarations import default_with, write_strategies
from trade2026_assets.definitions import build_definitions
from trade2026_assets.defs.deploy.deployed_strategy import deployed_strategy_key
from trade2026_assets.defs.deploy.registry_steps import CursorState
from trade2026_assets.defs.deploy.sensor import build_auto_swap_sensor
from trade2026_assets.registry import RegistryResource
from trade2026_assets.settings import STRATEGIES_DIR, AssetsSettings
from trade2026_assets.strategy.declaration import SwapPolicy, parse_declaration
from trade2026_assets.tracking import MlflowResource

SYMBOLS = ["SYNA", "SYNB", "SYNC", "SYND"]
MODEL = "default_ml_strategy"
DECLARATION = parse_declaration(
    (STRATEGIES_DIR / f"{MODEL}.yaml").read_text(), origin=f"{MODEL}.yaml"
)
WEAK = WEAKER_DEFAULT
DEFAULT: dict[str, Any] = {}


@dataclass
class Loop:
    home: Path
    defs: dg.Definitions
    instance: dg.DagsterInstance
    registry: RegistryClient
    serving: ServingProcess
    resources: dict[str, Any]
    mlflow: MlflowClient
    settings: AssetsSettings
    cursor: str | None = None

    def train(self, changes: dict[str, Any]) -> str:
        """Edit the declaration (as a user edits the file), load the definitions again and
        run the strategy's training job; the registered version."""
        write_strategies(self.settings.strategies_dir, {MODEL: default_with(**changes)})
        outcome = run_job(
            build_definitions(self.settings), DECLARATION.training_job, instance=self.instance
        )
        assert outcome.success, outcome.failures
        return str(outcome.metadata_of[f"{MODEL}/model"]["model_version"])

    def tick(self, sensor: dg.SensorDefinition | None = None) -> SensorExecutionData:
        """One evaluation of the sensor; its events are stored as the daemon stores them."""
        sensor = sensor or self.defs.resolve_sensor_def(DECLARATION.sensor_name)
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources=self.resources,
            definitions=self.defs,
        )
        data = sensor.evaluate_tick(context)
        self.cursor = data.cursor
        for event in data.asset_events:
            self.instance.report_runless_asset_event(event)
        return data

    def tick_until_recorded(
        self, sensor: dg.SensorDefinition | None = None, timeout_s: float = 20
    ) -> SensorExecutionData:
        """Ticks until one records what became of the candidate: a tick never waits for
        serving, a requested swap is followed up by the next ticks (here every 0.2 s)."""
        give_up = time.monotonic() + timeout_s
        while True:
            data = self.tick(sensor)
            pending = CursorState.parse(data.cursor, sensor_name=MODEL).pending
            if data.asset_events or pending is None or time.monotonic() > give_up:
                return data
            time.sleep(0.2)

    def serving_version(self, expected: str, timeout_s: float = 20) -> str:
        """The version /signal answers with, once it is `expected` (or the timeout)."""
        deadline = time.monotonic() + timeout_s
        while True:
            answer = httpx.post(
                f"{self.serving.url}/signal", json={"symbols": SYMBOLS[:1]}, timeout=5
            )
            version = str(answer.json().get("version")) if answer.status_code == 200 else ""
            if version == expected or time.monotonic() > deadline:
                return version
            time.sleep(0.2)

    def champion(self) -> str:
        return str(self.mlflow.get_model_version_by_alias(MODEL, "champion").version)

    def live_model_uri(self) -> str:
        live = self.registry.live(environment="production", slot=MODEL).deployment
        assert live is not None
        return str(live.config_snapshot["model_uri"])


def _metadata(event: Any) -> dict[str, Any]:
    return {key: value.value for key, value in event.metadata.items()}


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    home = tmp_path_factory.mktemp("full_flow")
    (home / "dagster").mkdir()
    with (
        dg.instance_for_test(temp_dir=str(home / "dagster")) as instance,
        registry_process(home, free_port()) as (registry, key),
        RegistryClient(registry.url, api_key=key) as client,
        serving_process(
            home,
            port=free_port(),
            registry_url=registry.url,
            api_key=key,
            extra_env={"SERVING_POLL_INTERVAL_S": "0.2"},
        ) as serving,
    ):
        # The definitions read the key from the environment (dagster.EnvVar), as deployed.
        saved = os.environ.get("TRADE2026_REGISTRY_API_KEY")
        os.environ["TRADE2026_REGISTRY_API_KEY"] = key
        try:
            settings = AssetsSettings(
                home=home,
                symbols=",".join(SYMBOLS),
                synthetic_bars=4000,
                synthetic_predictability=0.2,
                registry_url=registry.url,
                strategies_dir=write_strategies(home / "strategies", {MODEL: default_with()}),
            )
            defs = build_definitions(settings)
            registry_resource = resource_of(defs, "registry", RegistryResource)
            mlflow_resource = resource_of(defs, "mlflow", MlflowResource)
        finally:
            if saved is None:
                os.environ.pop("TRADE2026_REGISTRY_API_KEY")
            else:
                os.environ["TRADE2026_REGISTRY_API_KEY"] = saved
        assert registry_resource.api_key == key
        assert run_market_data_job(defs, SYMBOLS, instance=instance).success
        uri = mlflow_resource.tracking_uri
        serving.wait_up()
        yield Loop(
            home=home,
            defs=defs,
            instance=instance,
            registry=client,
            serving=serving,
            resources={"registry": registry_resource, "mlflow": mlflow_resource},
            mlflow=MlflowClient(tracking_uri=uri, registry_uri=uri),
            settings=settings,
        )


def test_entity_deploy_swap(loop: Loop) -> None:
    """The seed's first steps: register an entity, deploy it, swap another in."""
    first = loop.registry.create_entity(
        name="test_strategy", type="strategy", version="1.0.0", config={"threshold": 0.6}
    )
    assert first.entity_id
    deployment = loop.registry.deploy(
        entity_id=str(first.entity_id), environment="production", deployed_by="tests"
    )
    assert deployment.status == "active"
    second = loop.registry.create_entity(
        name="test_strategy", type="strategy", version="1.1.0", config={"threshold": 0.65}
    )
    staged = loop.registry.deploy(
        entity_id=str(second.entity_id), environment="staging", deployed_by="tests"
    )
    assert staged.status == "active"
    swap = loop.registry.swap(
        from_entity_id=str(first.entity_id),
        to_entity_id=str(second.entity_id),
        reason="tests",
        initiated_by="tests",
    )
    assert swap.status == "completed"
    live = loop.registry.live(environment="production", slot="test_strategy").deployment
    assert live is not None
    assert live.entity_id == second.entity_id


def test_features_train_serve_signal(loop: Loop) -> None:
    """The first model that passes its gates goes live (nothing was live: no swap) and
    serving answers with it, from the online features."""
    no_model = loop.tick()
    assert no_model.skip_message
    assert f"no new {MODEL}/model materialization" in no_model.skip_message
    version = loop.train(WEAK)
    first = loop.tick()
    (event,) = first.asset_events
    assert first.skip_message == event.description
    assert f"first deployment: {MODEL}/model version {version} is live" in str(event.description)
    recorded = _metadata(event)
    assert recorded["status"] == "live"
    assert recorded["model_version"] == version
    assert "swap_id" not in recorded
    assert loop.champion() == version
    assert loop.serving_version(version) == version

    answer = httpx.post(f"{loop.serving.url}/signal", json={"symbols": SYMBOLS}, timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    assert body["version"] == version
    assert sorted(body["signals"]) == SYMBOLS
    assert {signal["action"] for signal in body["signals"].values()} <= {"BUY", "SELL", "HOLD"}
    for signal in body["signals"].values():
        assert 0 <= signal["probability"] <= 1


def test_a_better_model_is_swapped_in_and_served(loop: Loop) -> None:
    previous = loop.champion()
    cursor_before = loop.cursor
    version = loop.train(DEFAULT)
    requested = loop.tick()
    assert str(requested.skip_message).startswith("requested swap ")
    data = loop.tick_until_recorded()
    (event,) = data.asset_events
    assert f"{MODEL}/model version {version} is live in production/{MODEL}" in str(
        data.skip_message
    )
    recorded = _metadata(event)
    assert recorded["status"] == "live", event.description
    assert recorded["swap_type"] == "automatic"
    assert recorded["propagation_ms"] is not None
    assert recorded["propagation_ms"] >= 0
    assert all(ack["success"] for ack in recorded["acknowledgements"])
    assert loop.champion() == version != previous
    assert loop.serving_version(version) == version
    swap = loop.registry.get_swap(recorded["swap_id"])
    assert swap.swap_type == "automatic"
    assert "beats_champion passed" in swap.reason
    assert "online_offline_parity passed" in swap.reason
    assert swap.idempotency_key == f"auto-swap:{MODEL}:model-{version}"

    # Lineage: the swap is a materialization of the strategy's deployed_strategy, downstream
    # of its model.
    stored = loop.instance.get_latest_materialization_event(deployed_strategy_key(DECLARATION))
    assert stored is not None
    assert stored.asset_materialization is not None
    assert stored.asset_materialization.metadata["swap_id"].value == recorded["swap_id"]
    graph = loop.defs.resolve_asset_graph()
    assert (
        dg.AssetKey([MODEL, "model"]) in graph.get(deployed_strategy_key(DECLARATION)).parent_keys
    )

    # The same tick evaluated again (an old cursor) swaps nothing.
    automatic = _automatic_swaps(loop)
    loop.cursor = cursor_before
    again = loop.tick()
    assert again.skip_message
    assert f"version {version} (run" in again.skip_message
    assert "is the champion already" in again.skip_message
    assert _automatic_swaps(loop) == automatic


def test_a_worse_model_is_not_swapped_and_the_tick_says_why(loop: Loop) -> None:
    champion = loop.champion()
    live = loop.live_model_uri()
    version = loop.train(WEAK)
    data = loop.tick()
    assert not data.asset_events
    assert data.skip_message is not None
    assert f"{MODEL}/model version {version}" in data.skip_message
    assert f"lost to champion version {champion}" in data.skip_message
    assert "candidate_wf_auc" in data.skip_message
    assert loop.live_model_uri() == live
    quiet = loop.tick()
    assert quiet.skip_message == f"no new {MODEL}/model materialization"


def test_a_model_serving_cannot_load_is_rolled_back(loop: Loop) -> None:
    live_version = loop.serving_version(loop.champion())
    live_uri = loop.live_model_uri()
    # The champion alias is put back on the weak version so that a default model is
    # better than the champion again.
    weak = _weak_version(loop)
    loop.mlflow.set_registered_model_alias(MODEL, "champion", weak)
    version = loop.train({"model": {"params": {"seed": 3}}})
    _delete_artifacts(loop.mlflow, version)
    data = loop.tick_until_recorded()
    (event,) = data.asset_events
    recorded = _metadata(event)
    assert recorded["status"] == "rolled_back", event.description
    assert "could not serve it" in recorded["rollback"]
    assert "cannot load" in recorded["rollback"]
    assert loop.live_model_uri() == live_uri
    assert loop.serving_version(live_version) == live_version
    assert loop.registry.get_swap(recorded["swap_id"]).status == "rolled_back"
    tags = loop.mlflow.get_model_version(MODEL, version).tags
    assert tags["auto_swap"].startswith("rolled back:")
    assert loop.champion() == weak


def test_no_acknowledgement_by_the_deadline_rolls_back(loop: Loop) -> None:
    """Serving runs 2 workers: asking for 3 acknowledgements makes this swap time out."""
    live_uri = loop.live_model_uri()
    sensor = build_auto_swap_sensor(
        DECLARATION.model_copy(update={"swap": SwapPolicy(ack_deadline_s=2, min_acks=3)}),
        interval_s=30,
        running=False,
    )
    loop.mlflow.set_registered_model_alias(MODEL, "champion", _weak_version(loop))
    version = loop.train({"model": {"params": {"seed": 4}}})
    requested = loop.tick(sensor)
    assert str(requested.skip_message).startswith("requested swap ")
    waiting = loop.tick(sensor)
    assert waiting.skip_message is not None
    assert "is waiting for serving:" in waiting.skip_message
    assert "of 3 acknowledgement(s)" in waiting.skip_message
    assert loop.live_model_uri() == f"models:/{MODEL}/{version}"
    time.sleep(2.5)
    data = loop.tick(sensor)
    (event,) = data.asset_events
    recorded = _metadata(event)
    assert recorded["status"] == "rolled_back"
    assert "no acknowledgement within 2 s" in recorded["rollback"]
    assert loop.live_model_uri() == live_uri


def _automatic_swaps(loop: Loop) -> int:
    return sum(
        1
        for event in loop.registry.events(limit=1000).items
        if event.kind == "swap" and event.payload.get("swap_type") == "automatic"
    )


def _weak_version(loop: Loop) -> str:
    """The first version the tests trained (the weak one)."""
    return "1"


def _delete_artifacts(client: MlflowClient, version: str) -> None:
    """Make a registered version unloadable, as a lost artifact store would."""
    source = str(client.get_model_version(MODEL, version).source)  # models:/m-<model id>
    location = client.get_logged_model(source.removeprefix("models:/")).artifact_location
    path = Path(unquote(urlparse(location).path))
    assert path.is_dir(), path
    shutil.rmtree(path)
