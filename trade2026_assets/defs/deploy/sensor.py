"""A strategy's auto-swap sensor: its new model that passed its gates goes live through the
registry, in the strategy's own slot, and that is recorded as a materialization of its
`deployed_strategy`.

One tick never waits. In order:
1. A swap requested by an earlier tick is looked up: acknowledged by `swap.min_acks`
   serving workers → the MLflow alias `champion` moves to its model and deployed_strategy
   is materialized; a failed acknowledgement, or too few by `swap.ack_deadline_s` → the
   registry rolls it back and that is recorded instead; otherwise it stays pending in the
   cursor and the tick says what it waits for.
2. Otherwise the newest materialization of `<strategy>/model` since the cursor is the
   candidate. It is judged once its run has finished (every step and check of it, the
   backtest included), by `policy.decide` over the evidence `candidates.py` reads. A swap:
   a strategy entity version naming the model, deployed to staging, then an `automatic`
   swap whose reason cites the checks and whose `Idempotency-Key` is derived from the slot
   and model version (a tick evaluated twice swaps once); the swap stays pending in the
   cursor. With nothing live in the slot yet, the entity is deployed there directly. A
   candidate found live already by a swap no tick followed up (a tick failed after the
   registry committed it) has that swap followed up instead.
Every tick says what it did or why it did nothing (its skip message).
"""

from __future__ import annotations

import time
from typing import Any

import dagster as dg

from registry_service.client import RegistryClient
from registry_service.schemas import LiveSlot
from trade2026_assets.defs.deploy import aliases, candidates, registry_steps
from trade2026_assets.defs.deploy.deployed_strategy import (
    deployed_strategy_event,
    deployed_strategy_key,
)
from trade2026_assets.defs.deploy.policy import Candidate, Evidence, Rejection, decide, follow_up
from trade2026_assets.defs.deploy.registry_steps import CursorState
from trade2026_assets.registry import RegistryResource
from trade2026_assets.strategy.declaration import StrategyDeclaration
from trade2026_assets.tracking import MlflowResource

# The code location's name in workspace.yaml.
CODE_LOCATION = "trade2026"


def evaluate(
    declaration: StrategyDeclaration,
    instance: dg.DagsterInstance,
    cursor: str | None,
    registry: RegistryResource,
    mlflow: MlflowResource,
) -> dg.SensorResult:
    """One tick of the strategy's sensor (see the module's docstring)."""
    state = CursorState.parse(cursor, sensor_name=declaration.sensor_name)
    if state.pending is not None:
        with registry.client() as client:
            return _follow_up(declaration, client, registry, mlflow, state)
    candidate = candidates.newest_candidate(instance, declaration, state.after)
    if candidate is None:
        state.outcome = "nothing new"
        return dg.SensorResult(
            skip_reason=f"no new {declaration.name}/model materialization",
            cursor=state.model_dump_json(),
        )
    version = f"v{candidate.model_version or '?'}"
    run = candidates.run_state(instance, declaration, candidate)
    if run.status == "running":
        # Not judged yet: the cursor's position stays, the next tick looks again.
        state.outcome = f"{version}: its run is still going"
        return dg.SensorResult(skip_reason=run.why, cursor=state.model_dump_json())
    state.after = candidate.storage_id
    if run.why is not None:
        state.outcome = f"{version} not judged: its run failed"
        return dg.SensorResult(skip_reason=run.why, cursor=state.model_dump_json())
    parity = candidates.latest_parity(instance)
    evidence = Evidence(
        candidate=candidate,
        parity=parity,
        champion=aliases.current_champion(mlflow, declaration),
        newer_inputs=candidates.newer_inputs(instance, parity),
    )
    decision = decide(declaration, evidence)
    state.outcome = f"{version}: {decision.headline}"
    if isinstance(decision, Rejection):
        aliases.mark_rejected(mlflow, declaration, candidate.model_version, decision)
        return dg.SensorResult(skip_reason=decision.message, cursor=state.model_dump_json())
    environment = registry.environment
    with registry.client() as client:
        slot = registry_steps.live_slot(client, declaration, environment)
        live = slot.deployment
        if live is not None and live.config_snapshot.get("model_uri") == candidate.model_uri:
            return _live_already(declaration, client, state, slot, candidate)
        entity = registry_steps.ensure_entity(client, declaration, candidate)
        registry_steps.stage(client, declaration, entity)
        if live is None:
            state.outcome = f"{version} deployed (first model)"
            deployment = registry_steps.deploy_first(client, declaration, entity, environment)
            aliases.crown(mlflow, declaration, candidate.model_version)
            event = deployed_strategy_event(
                declaration,
                status="live",
                description=f"first deployment: {declaration.name}/model version "
                f"{candidate.model_version} is live in {environment}/{declaration.slot} (no "
                f"swap: nothing was live); MLflow alias '{aliases.CHAMPION_ALIAS}' set",
                environment=environment,
                registry_url=registry.url,
                model_uri=candidate.model_uri,
                model_version=candidate.model_version,
                entity_id=str(entity.entity_id),
                entity_version=entity.version,
                swap=None,
                extra={
                    "deployment_id": str(deployment.deployment_id),
                    "reason": decision.reason,
                    "champion": candidate.model_version,
                },
            )
            return _recorded(event, state)
        swap = registry_steps.request_swap(
            client,
            declaration,
            live=live,
            entity=entity,
            candidate=candidate,
            reason=decision.reason,
            environment=environment,
        )
    state.pending = registry_steps.pending_of(
        swap, candidate=candidate, entity=entity, deadline_s=declaration.swap.ack_deadline_s
    )
    state.outcome = f"{version} swap requested"
    return dg.SensorResult(
        skip_reason=f"requested swap {swap.swap_id}: {declaration.name}/model version "
        f"{candidate.model_version} into {environment}/{declaration.slot}; followed up on the "
        f"next ticks: kept once {declaration.swap.min_acks} serving worker(s) acknowledge it, "
        f"rolled back if they have not within {declaration.swap.ack_deadline_s:.0f} s",
        cursor=state.model_dump_json(),
    )


def _live_already(
    declaration: StrategyDeclaration,
    client: RegistryClient,
    state: CursorState,
    slot: LiveSlot,
    candidate: Candidate,
) -> dg.SensorResult:
    """The candidate is live but not the champion: a tick requested its swap and its cursor
    was lost (the tick failed after the registry committed). That swap is followed up."""
    live = slot.deployment
    assert live is not None
    name = f"{declaration.name}/model version {candidate.model_version}"
    state.outcome = f"v{candidate.model_version} live already"
    if slot.activated_by_swap_id is None:
        return dg.SensorResult(
            skip_reason=f"{name} is live already (deployment {live.deployment_id}, not put "
            "there by a swap: nothing to follow up)",
            cursor=state.model_dump_json(),
        )
    swap = client.get_swap(str(slot.activated_by_swap_id))
    state.pending = registry_steps.pending_of(
        swap, candidate=candidate, entity=live, deadline_s=declaration.swap.ack_deadline_s
    )
    return dg.SensorResult(
        skip_reason=f"{name} is live already by swap {swap.swap_id}, which no tick followed "
        "up (was a tick's cursor lost?): followed up on the next ticks",
        cursor=state.model_dump_json(),
    )


def _follow_up(
    declaration: StrategyDeclaration,
    client: RegistryClient,
    registry: RegistryResource,
    mlflow: MlflowResource,
    state: CursorState,
) -> dg.SensorResult:
    """Decide a pending swap from its acknowledgements as they are now."""
    pending = state.pending
    assert pending is not None
    swap = client.get_swap(pending.swap_id)
    now = time.time()
    count = follow_up(
        swap.status,
        registry_steps.acks_of(swap),
        declaration.swap,
        now=now,
        deadline=pending.deadline,
    )
    version = f"v{pending.model_version}"
    if count.outcome == "waiting":
        state.outcome = f"{version} waiting for serving"
        return dg.SensorResult(
            skip_reason=f"swap {pending.swap_id} ({declaration.name}/model version "
            f"{pending.model_version}) is waiting for serving: {count.why}; rolled back if "
            f"not acknowledged in {pending.deadline - now:.0f} s",
            cursor=state.model_dump_json(),
        )
    state.pending = None
    where = f"{registry.environment}/{declaration.slot}"
    if count.outcome == "confirmed":
        aliases.crown(mlflow, declaration, pending.model_version)
        description = (
            f"{declaration.name}/model version {pending.model_version} is live in {where} "
            f"({count.why}); MLflow alias '{aliases.CHAMPION_ALIAS}' moved to it"
        )
        extra = {"reason": pending.reason, "champion": pending.model_version}
        status = "live"
        state.outcome = f"{version} swapped in: live"
    else:
        rolled_back = registry_steps.roll_back(client, swap, pending, count.why)
        aliases.mark_rolled_back(mlflow, declaration, pending.model_version, count.why)
        swap = client.get_swap(pending.swap_id)
        description = (
            f"{declaration.name}/model version {pending.model_version} was not kept live in "
            f"{where}: {count.why}; {rolled_back}"
        )
        extra = {"reason": pending.reason, "rollback": f"{count.why}; {rolled_back}"}
        status = "rolled_back"
        state.outcome = f"{version} rolled back"
    event = deployed_strategy_event(
        declaration,
        status=status,
        description=description,
        environment=registry.environment,
        registry_url=registry.url,
        model_uri=pending.model_uri,
        model_version=pending.model_version,
        entity_id=pending.entity_id,
        entity_version=pending.entity_version,
        swap=swap,
        extra=extra,
    )
    return _recorded(event, state)


def _recorded(event: dg.AssetMaterialization, state: CursorState) -> dg.SensorResult:
    """A tick that changed what is live: no run to launch; its message says what it did
    (Dagster would otherwise call it an empty result)."""
    return dg.SensorResult(
        asset_events=[event], skip_reason=event.description, cursor=state.model_dump_json()
    )


def build_auto_swap_sensor(
    declaration: StrategyDeclaration, *, interval_s: int, running: bool
) -> dg.SensorDefinition:
    """The strategy's sensor, named `declaration.sensor_name`, with its own cursor.

    It targets its `deployed_strategy` (an asset no run can materialize) only so that the
    asset's page lists it under Automations and its own page names the asset: it returns no
    run requests, so it never launches a run."""

    @dg.sensor(
        name=declaration.sensor_name,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING
        if running
        else dg.DefaultSensorStatus.STOPPED,
        asset_selection=[deployed_strategy_key(declaration)],
        description=f"Swaps a new {declaration.name}/model that passed its gates and beat "
        f"the champion into the registry slot {declaration.slot!r}; rolls it back if serving "
        f"does not acknowledge it within {declaration.swap.ack_deadline_s:.0f} s. Records "
        f"each change as a materialization of {deployed_strategy_key(declaration).to_user_string()}"
        "; each tick's cursor starts with its outcome.",
    )
    def auto_swap_sensor(
        context: dg.SensorEvaluationContext, registry: RegistryResource, mlflow: MlflowResource
    ) -> dg.SensorResult:
        result = evaluate(declaration, context.instance, context.cursor, registry, mlflow)
        return _told(context, declaration, result)

    return auto_swap_sensor


def sensor_path(declaration: StrategyDeclaration, location: str) -> str:
    """The sensor's page in the Dagster UI, relative to wherever the UI is served (so the
    link holds whatever host and port it runs on)."""
    return f"/locations/{location}/sensors/{declaration.sensor_name}"


def _told(
    context: dg.SensorEvaluationContext, declaration: StrategyDeclaration, result: dg.SensorResult
) -> dg.SensorResult:
    """The tick's decision written to its log ("View logs"), and each recorded
    deployed_strategy linked back to the sensor whose tick recorded it."""
    outcome = CursorState.parse(result.cursor, sensor_name=declaration.sensor_name).outcome
    message = result.skip_reason.skip_message if result.skip_reason else None
    context.log.info(f"{outcome}: {message}" if message else outcome)
    if not result.asset_events:
        return result
    origin = context.code_location_origin
    # Outside the daemon (tests, a dry run) the origin is unknown: workspace.yaml's name.
    location = origin.location_name if origin is not None else CODE_LOCATION
    tick: dict[str, dg.MetadataValue[Any]] = {
        "recorded_by": dg.MetadataValue.url(sensor_path(declaration, location)),
        "tick_outcome": dg.MetadataValue.text(outcome),
    }
    events: list[dg.AssetMaterialization | dg.AssetObservation | dg.AssetCheckEvaluation] = [
        dg.AssetMaterialization(
            asset_key=event.asset_key,
            description=event.description,
            metadata={**event.metadata, **tick},
        )
        for event in result.asset_events
        if isinstance(event, dg.AssetMaterialization)
    ]
    return result._replace(asset_events=events)
