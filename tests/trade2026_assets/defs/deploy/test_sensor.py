"""A strategy's auto-swap sensor against a real registry (a process), a real Dagster
instance and a real MLflow store: ticks as the daemon makes them (`build_sensor_context`),
serving's acknowledgements posted to the registry as serving posts them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.sensor_definition import SensorExecutionData
from dagster._core.remote_representation.external import RemoteRepository
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._core.remote_representation.handle import RepositoryHandle

from registry_service.client import RegistryClient
from scripts.harness.registry import registry_process
from scripts.harness.services import free_port
from tests.trade2026_assets.defs.deploy.events import (
    FIRST,
    WON,
    Ticker,
    market_data_assets,
    metadata_of,
    run,
    strategy,
    tick_log,
    train,
)
from trade2026_assets.defs.deploy.candidates import newest_candidate
from trade2026_assets.defs.deploy.deployed_strategy import (
    deployed_strategy_key,
    deployed_strategy_spec,
)
from trade2026_assets.defs.deploy.registry_steps import AutoSwapError, CursorState, request_swap
from trade2026_assets.defs.deploy.sensor import CODE_LOCATION, build_auto_swap_sensor
from trade2026_assets.registry import RegistryResource
from trade2026_assets.strategy.declaration import StrategyDeclaration, SwapPolicy
from trade2026_assets.technical_indicators import IndicatorParams
from trade2026_assets.tracking import MlflowResource


@dataclass
class Registry:
    url: str
    key: str
    client: RegistryClient


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    home = tmp_path_factory.mktemp("auto_swap_registry")
    with (
        registry_process(home, free_port()) as (process, key),
        RegistryClient(process.url, api_key=key) as client,
    ):
        yield Registry(process.url, key, client)


@pytest.fixture
def mlflow(tmp_path: Path) -> MlflowResource:
    return MlflowResource(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifact_location=(tmp_path / "artifacts").as_uri(),
    )


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        yield instance


def ticker(
    declaration: StrategyDeclaration,
    instance: dg.DagsterInstance,
    registry: Registry,
    mlflow: MlflowResource,
) -> Ticker:
    resources = {
        "registry": RegistryResource(url=registry.url, api_key=registry.key, timeout_s=10),
        "mlflow": mlflow,
    }
    return Ticker(declaration, instance, resources)


def live_uri(registry: Registry, declaration: StrategyDeclaration) -> str | None:
    live = registry.client.live(environment="production", slot=declaration.slot).deployment
    return None if live is None else str(live.config_snapshot["model_uri"])


def champion(mlflow: MlflowResource, declaration: StrategyDeclaration) -> str:
    alias = mlflow.client().get_model_version_by_alias(declaration.registered_model, "champion")
    return str(alias.version)


def acknowledge(registry: Registry, swap_id: str, *, error: str | None = None) -> None:
    registry.client.acknowledge(
        swap_id, consumer="worker-1", serving_since=datetime.now(UTC), error=error
    )


def first_live(tick: Ticker, mlflow: MlflowResource) -> None:
    """Market data covering the strategy, and its first model (version 1) taken live."""
    declaration = tick.declaration
    run(tick.instance, market_data_assets([declaration.indicator_set]))
    train(tick.instance, mlflow, declaration, FIRST)
    (event,) = tick().asset_events
    assert metadata_of(event)["status"] == "live", event.description


def swap_requested(tick: Ticker) -> str:
    """The tick after a better model: a swap requested and left pending; its id."""
    started = time.monotonic()
    data = tick()
    assert time.monotonic() - started < 5  # no waiting for serving within a tick
    assert not data.asset_events
    assert data.skip_message is not None
    assert data.skip_message.startswith("requested swap "), data.skip_message
    return str(data.skip_message.split()[2].rstrip(":"))


def test_the_first_model_goes_live_directly_and_is_recorded(
    registry: Registry, instance: dg.DagsterInstance, mlflow: MlflowResource
) -> None:
    declaration = strategy("first")
    tick = ticker(declaration, instance, registry, mlflow)
    run(instance, market_data_assets([declaration.indicator_set]))
    version = train(instance, mlflow, declaration, FIRST)

    data = tick()

    (event,) = data.asset_events
    assert event.asset_key == dg.AssetKey([declaration.name, "deployed_strategy"])
    recorded = metadata_of(event)
    assert recorded["status"] == "live"
    assert recorded["slot"] == declaration.slot
    assert recorded["model_uri"] == f"models:/{declaration.name}/{version}"
    assert str(data.skip_message).startswith(f"first deployment: {declaration.name}/model version")
    assert live_uri(registry, declaration) == declaration.model_uri(version)
    assert champion(mlflow, declaration) == version
    entity = registry.client.get_entity(recorded["entity_id"])
    assert entity.name == declaration.entity_name
    assert entity.config == {
        **declaration.entity_config(version),
        "model_version": version,
        "dagster_run_id": entity.config["dagster_run_id"],
    }
    stored = instance.get_latest_materialization_event(deployed_strategy_key(declaration))
    assert stored is not None
    assert tick().skip_message == f"no new {declaration.name}/model materialization"


def test_a_model_that_lost_to_the_champion_stays_out_and_its_version_says_so(
    registry: Registry, instance: dg.DagsterInstance, mlflow: MlflowResource
) -> None:
    declaration = strategy("lost")
    tick = ticker(declaration, instance, registry, mlflow)
    first_live(tick, mlflow)
    lost = train(
        instance, mlflow, declaration, {"passed": False, "outcome": "lost", "champion_version": "1"}
    )

    data = tick()

    assert not data.asset_events
    assert "lost to champion version 1" in str(data.skip_message)
    assert live_uri(registry, declaration) == declaration.model_uri("1")
    tags = mlflow.client().get_model_version(declaration.registered_model, lost).tags
    assert tags["deployment"] == "lost_to_champion"
    assert tags["auto_swap"].startswith("not swapped: lost to champion version 1")
    first = mlflow.client().get_model_version(declaration.registered_model, "1").tags
    assert first["deployment"] == "went_live"


def test_a_better_model_is_swapped_without_waiting_and_kept_once_acknowledged(
    registry: Registry, instance: dg.DagsterInstance, mlflow: MlflowResource
) -> None:
    declaration = strategy("better")
    tick = ticker(declaration, instance, registry, mlflow)
    first_live(tick, mlflow)
    version = train(instance, mlflow, declaration, {**WON, "champion_version": "1"})
    cursor_before = tick.cursor

    swap_id = swap_requested(tick)

    detail = registry.client.get_swap(swap_id)
    assert detail.idempotency_key == f"auto-swap:{declaration.slot}:model-{version}"
    assert live_uri(registry, declaration) == declaration.model_uri(version)
    waiting = tick()
    assert not waiting.asset_events
    assert f"swap {swap_id} ({declaration.name}/model version {version}) is waiting for " in (
        str(waiting.skip_message)
    )
    assert "0 of 1 acknowledgement(s)" in str(waiting.skip_message)
    assert champion(mlflow, declaration) == "1"

    acknowledge(registry, swap_id)
    data = tick()

    (event,) = data.asset_events
    recorded = metadata_of(event)
    assert recorded["status"] == "live", event.description
    assert recorded["swap_id"] == swap_id
    assert recorded["acknowledgements"][0]["consumer"] == "worker-1"
    assert "1 acknowledgement(s)" in str(event.description)
    assert champion(mlflow, declaration) == version
    assert tick().skip_message == f"no new {declaration.name}/model materialization"

    # The same tick evaluated again (its cursor lost) swaps nothing twice.
    tick.cursor = cursor_before
    again = tick()
    assert "is the champion already" in str(again.skip_message)


def test_a_swap_requested_twice_is_one_swap_and_is_followed_up(
    registry: Registry, instance: dg.DagsterInstance, mlflow: MlflowResource
) -> None:
    """A tick that fails after the registry committed its swap, evaluated again: the swap
    is not requested again but found, and followed up; a request repeated is that swap."""
    declaration = strategy("twice")
    tick = ticker(declaration, instance, registry, mlflow)
    first_live(tick, mlflow)
    version = train(instance, mlflow, declaration, {**WON, "champion_version": "1"})
    cursor_before = tick.cursor
    swap_id = swap_requested(tick)
    requested = registry.client.get_swap(swap_id)
    (previous,) = [
        deployment
        for deployment in registry.client.list_deployments(slot=declaration.slot).items
        if deployment.deployment_id == requested.from_deployment_id
    ]
    candidate = newest_candidate(instance, declaration, 0)
    assert candidate is not None
    repeated = request_swap(
        registry.client,
        declaration,
        live=previous,
        entity=registry.client.get_entity(str(requested.to_entity_id)),
        candidate=candidate,
        reason=requested.reason,
        environment="production",
    )
    assert str(repeated.swap_id) == swap_id

    tick.cursor = cursor_before  # the cursor of the tick that requested it was lost
    again = tick()
    assert not again.asset_events
    assert f"{declaration.name}/model version {version} is live already by swap {swap_id}" in (
        str(again.skip_message)
    )
    acknowledge(registry, swap_id)
    (event,) = tick().asset_events
    recorded = metadata_of(event)
    assert (recorded["status"], recorded["swap_id"]) == ("live", swap_id)
    assert champion(mlflow, declaration) == version


def test_a_model_serving_cannot_load_is_rolled_back_on_the_next_tick(
    registry: Registry, instance: dg.DagsterInstance, mlflow: MlflowResource
) -> None:
    declaration = strategy("unloadable")
    tick = ticker(declaration, instance, registry, mlflow)
    first_live(tick, mlflow)
    version = train(instance, mlflow, declaration, {**WON, "champion_version": "1"})
    swap_id = swap_requested(tick)
    acknowledge(registry, swap_id, error="cannot load the model")

    data = tick()

    (event,) = data.asset_events
    recorded = metadata_of(event)
    assert recorded["status"] == "rolled_back"
    assert "worker-1 could not serve it: cannot load the model" in recorded["rollback"]
    assert "rolled back by swap" in recorded["rollback"]
    assert live_uri(registry, declaration) == declaration.model_uri("1")
    assert registry.client.get_swap(swap_id).status == "rolled_back"
    tags = mlflow.client().get_model_version(declaration.registered_model, version).tags
    assert tags["auto_swap"].startswith("rolled back: worker-1 could not serve it")
    assert champion(mlflow, declaration) == "1"


def test_no_acknowledgement_by_the_deadline_rolls_back(
    registry: Registry, instance: dg.DagsterInstance, mlflow: MlflowResource
) -> None:
    declaration = strategy("deadline", swap=SwapPolicy(ack_deadline_s=1, min_acks=2))
    tick = ticker(declaration, instance, registry, mlflow)
    first_live(tick, mlflow)
    train(instance, mlflow, declaration, {**WON, "champion_version": "1"})
    swap_id = swap_requested(tick)
    acknowledge(registry, swap_id)  # one of the two it needs
    time.sleep(1.2)

    data = tick()

    (event,) = data.asset_events
    recorded = metadata_of(event)
    assert recorded["status"] == "rolled_back"
    assert "no acknowledgement within 1 s (1 of 2 acknowledgement(s))" in recorded["rollback"]
    assert live_uri(registry, declaration) == declaration.model_uri("1")


def test_two_strategies_each_swap_only_their_own_slot(
    registry: Registry, instance: dg.DagsterInstance, mlflow: MlflowResource
) -> None:
    alpha = strategy("alpha")
    beta = strategy("beta", indicators=IndicatorParams(rsi_period=10))
    run(instance, market_data_assets([alpha.indicator_set, beta.indicator_set]))
    tick_a = ticker(alpha, instance, registry, mlflow)
    tick_b = ticker(beta, instance, registry, mlflow)
    assert tick_a.sensor.name == alpha.sensor_name != tick_b.sensor.name

    # A's first model: B's sensor sees nothing of its own.
    train(instance, mlflow, alpha, FIRST)
    assert tick_b().skip_message == f"no new {beta.name}/model materialization"
    assert CursorState.parse(tick_b.cursor, sensor_name=beta.sensor_name).after == 0
    (event,) = tick_a().asset_events
    assert event.asset_key == deployed_strategy_key(alpha)
    assert live_uri(registry, beta) is None

    train(instance, mlflow, beta, FIRST)
    (event,) = tick_b().asset_events
    assert event.asset_key == deployed_strategy_key(beta)
    assert live_uri(registry, beta) == beta.model_uri("1")

    # A's better model: swapped by A's sensor into A's slot only.
    train(instance, mlflow, alpha, {**WON, "champion_version": "1"})
    assert tick_b().skip_message == f"no new {beta.name}/model materialization"
    swap_id = swap_requested(tick_a)
    assert registry.client.get_swap(swap_id).slot == alpha.slot
    acknowledge(registry, swap_id)
    (event,) = tick_a().asset_events
    assert event.asset_key == deployed_strategy_key(alpha)
    assert live_uri(registry, alpha) == alpha.model_uri("2")
    assert live_uri(registry, beta) == beta.model_uri("1")
    assert champion(mlflow, beta) == "1"
    assert tick_a.cursor != tick_b.cursor


def shown_in_tick_list(cursor: str | None) -> str:
    """A cursor as the sensor page's tick list shows it (Dagster UI 1.13,
    `humanizeSensorCursor`): a JSON object naming a `__class__` becomes its other non-empty
    fields as `key=value`, in order; any other cursor is shown as it is."""
    assert cursor is not None
    if not cursor.startswith('{"__class__"'):
        return cursor
    fields = json.loads(cursor)
    del fields["__class__"]
    return ",".join(f"{key}={value}" for key, value in fields.items() if value not in (None, 0))


def test_each_tick_says_what_it_decided_in_the_tick_list_and_its_log(
    registry: Registry, instance: dg.DagsterInstance, mlflow: MlflowResource
) -> None:
    declaration = strategy("outcome")
    tick = ticker(declaration, instance, registry, mlflow)
    run(instance, market_data_assets([declaration.indicator_set]))

    def outcome_of(data: SensorExecutionData) -> str:
        shown = shown_in_tick_list(data.cursor)
        assert shown.startswith("outcome="), shown
        logged = tick_log(instance, data)
        assert str(data.skip_message) in logged, logged
        return shown.removeprefix("outcome=").split(",")[0]

    assert outcome_of(tick()) == "nothing new"
    train(instance, mlflow, declaration, FIRST)
    first = tick()
    assert outcome_of(first) == "v1 deployed (first model)"
    (event,) = first.asset_events
    recorded = metadata_of(event)
    # The materialization links back to the sensor whose tick recorded it.
    sensor_page = f"/locations/{CODE_LOCATION}/sensors/{declaration.sensor_name}"
    assert recorded["recorded_by"] == sensor_page
    assert recorded["tick_outcome"] == "v1 deployed (first model)"
    assert outcome_of(tick()) == "nothing new"

    lost = {"passed": False, "outcome": "lost", "champion_version": "1", "candidate_wf_auc": 0.5}
    train(instance, mlflow, declaration, lost)
    assert outcome_of(tick()) == "v2: champion v1 stays"
    train(instance, mlflow, declaration, WON, gates=False)
    assert outcome_of(tick()) == "v3: failed its gates"

    train(instance, mlflow, declaration, {**WON, "champion_version": "1"})
    requested = tick()
    assert outcome_of(requested) == "v4 swap requested"
    assert "pending=" in shown_in_tick_list(requested.cursor)
    waiting = tick()
    assert outcome_of(waiting) == "v4 waiting for serving"
    swap_id = json.loads(json.loads(str(waiting.cursor))["pending"])["swap_id"]
    acknowledge(registry, swap_id)
    assert outcome_of(tick()) == "v4 swapped in: live"


def test_the_sensor_is_listed_as_the_automation_of_deployed_strategy_and_requests_no_run() -> None:
    declaration = strategy("automation")
    sensor = build_auto_swap_sensor(declaration, interval_s=30, running=False)
    defs = dg.Definitions(assets=[deployed_strategy_spec(declaration)], sensors=[sensor])
    repository = RemoteRepository(
        RepositorySnap.from_def(defs.get_repository_def()),
        RepositoryHandle.for_test(location_name=CODE_LOCATION),
        auto_materialize_use_sensors=True,
    )
    targeting = repository.get_sensors_targeting(deployed_strategy_key(declaration))
    assert [remote.name for remote in targeting] == [declaration.sensor_name]
    assert "deployed_strategy" in str(sensor.description)


def test_an_unreadable_cursor_fails_the_tick_with_how_to_reset_it(
    registry: Registry, instance: dg.DagsterInstance, mlflow: MlflowResource
) -> None:
    declaration = strategy("cursor")
    tick = ticker(declaration, instance, registry, mlflow)
    tick.cursor = '{"after": "x"}'
    with pytest.raises(AutoSwapError, match=f"dagster sensor cursor {declaration.sensor_name}"):
        tick()
