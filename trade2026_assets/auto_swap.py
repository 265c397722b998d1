"""The auto-swap sensor: a new `xgb_model` that passed its gates goes live through the
registry, and the swap is recorded as a materialization of `deployed_strategy`.

One tick, in order:
1. A swap still waiting for serving's acknowledgement is followed up: acknowledged by
   enough serving workers → the MLflow alias `champion` moves to its model and
   `deployed_strategy` is materialized; a failed acknowledgement, or none by the deadline →
   the swap is rolled back through the registry and that is recorded instead.
2. Otherwise the newest `xgb_model` materialization since the cursor is the candidate. It
   is judged once its run has finished (every step and check of it, the backtest included),
   and goes live only if that run succeeded, its blocking gates passed, it beat the champion
   by the configured margin (`beats_champion` against the version that is still the
   champion now; a tie keeps the champion), and the online features' latest parity check
   passed for the candidate's indicator set after the latest `indicators` and
   `online_features` materializations (evidence about the data it will be served).
   Then: a strategy entity version naming the model, deployed to
   staging, and an `automatic` swap in production whose reason cites the checks. The
   swap's `Idempotency-Key` is derived from the model version: a tick evaluated twice swaps
   once. With nothing live in production yet, the entity is deployed there directly.
Every tick that changes nothing says why (`SkipReason`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from pydantic import BaseModel, ValidationError

from registry_service.client import RegistryClient, RegistryClientError
from registry_service.schemas import EntityPublic, SwapDetail
from trade2026_assets.registry import RegistryResource
from trade2026_assets.tracking import MlflowResource

XGB_MODEL = dg.AssetKey("xgb_model")
# Parity evidence must be newer than the latest materialization of each of these.
PARITY_INPUTS = (dg.AssetKey("indicators"), dg.AssetKey("online_features"))
DEPLOYED_STRATEGY = dg.AssetKey("deployed_strategy")
PARITY_CHECK = dg.AssetCheckKey(dg.AssetKey("online_features"), "online_offline_parity")
# xgb_model's blocking gates, then the comparison with the champion.
MODEL_GATES = ("beats_majority_baseline", "test_auc_above_chance")
CHAMPION_CHECK = "beats_champion"
CHAMPION_ALIAS = "champion"
SENSOR_NAME = "auto_swap_sensor"
ACTOR = "dagster:auto_swap_sensor"
# Numbers shown when a check is cited: its value and its threshold.
_EVIDENCE_KEYS = (
    "test_accuracy",
    "test_auc",
    "candidate_test_auc",
    "champion_version",
    "champion_test_auc",
    "threshold",
    "champion",
    "auc_gain",
    "margin",
    "values_compared",
    "mismatches",
    "indicator_set",
)


class AutoSwapError(Exception):
    """The registry holds something the sensor cannot reconcile; the tick fails with it."""


@dataclass(frozen=True)
class SwapPolicy:
    ack_deadline_s: float = 60.0  # no acknowledgement by then: roll back
    ack_wait_s: float = 10.0  # how long one tick waits for acknowledgements
    min_acks: int = 1  # successful acknowledgements that confirm a swap
    poll_s: float = 0.1


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    metadata: dict[str, Any]
    # When the evaluation was recorded (seconds since the epoch).
    timestamp: float = 0.0

    def evidence(self) -> str:
        shown = []
        for key in _EVIDENCE_KEYS:
            if key in self.metadata:
                value = self.metadata[key]
                shown.append(f"{key} {value:.4f}" if isinstance(value, float) else f"{key} {value}")
        return ", ".join(shown)


@dataclass(frozen=True)
class Candidate:
    storage_id: int
    run_id: str
    model_version: str
    model_uri: str
    checks: dict[str, CheckOutcome]
    indicator_set: str = ""


class Pending(BaseModel):
    """A committed swap waiting for serving, kept in the cursor between ticks."""

    swap_id: str
    model_version: str
    model_uri: str
    entity_id: str
    entity_version: str
    from_entity_id: str
    committed_at: float
    deadline: float
    reason: str


class CursorState(BaseModel):
    after: int = 0  # storage id of the last xgb_model materialization evaluated
    pending: Pending | None = None

    @classmethod
    def parse(cls, cursor: str | None) -> CursorState:
        if not cursor:
            return cls()
        try:
            return cls.model_validate_json(cursor)
        except ValidationError as exc:
            raise AutoSwapError(
                f"unreadable cursor {cursor!r}: reset it with `dagster sensor cursor "
                f"{SENSOR_NAME} --delete` ({exc.error_count()} errors)"
            ) from exc


# -- reading the gates from the instance ---------------------------------------------------


def _metadata(raw: Any) -> dict[str, Any]:
    return {key: value.value for key, value in raw.items()}


def newest_candidate(instance: dg.DagsterInstance, after: int) -> Candidate | None:
    """The newest xgb_model materialization after storage id `after`, with its run's checks."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=XGB_MODEL, after_storage_id=after or None), limit=1
    ).records
    if not records:
        return None
    record = records[0]
    materialization = record.asset_materialization
    if materialization is None:
        return None
    metadata = _metadata(materialization.metadata)
    checks: dict[str, CheckOutcome] = {}
    events = instance.get_records_for_run(
        run_id=record.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    for event in events:
        evaluation = _check_evaluation(event.event_log_entry)
        if evaluation is not None and evaluation.asset_key == XGB_MODEL:
            checks[evaluation.check_name] = CheckOutcome(
                bool(evaluation.passed), _metadata(evaluation.metadata)
            )
    return Candidate(
        storage_id=record.storage_id,
        run_id=record.run_id,
        model_version=str(metadata.get("model_version", "")),
        model_uri=str(metadata.get("model_uri", "")),
        checks=checks,
        indicator_set=str(metadata.get("indicator_set", "")),
    )


def latest_parity(instance: dg.DagsterInstance) -> CheckOutcome | None:
    """The online features' latest completed parity check, or None if it never ran."""
    from dagster._core.storage.asset_check_execution_record import (
        COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES,
    )

    history = instance.event_log_storage.get_asset_check_execution_history(
        PARITY_CHECK, limit=1, status=set(COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES)
    )
    entry = history[0].event if history else None
    evaluation = _check_evaluation(entry)
    if evaluation is None or entry is None:
        return None
    return CheckOutcome(bool(evaluation.passed), _metadata(evaluation.metadata), entry.timestamp)


def run_state(instance: dg.DagsterInstance, candidate: Candidate) -> tuple[str, str | None]:
    """('running' | 'failed' | 'succeeded', why): the candidate's run, which must have
    finished, every step and check of it, before its evidence is complete."""
    run = instance.get_run_by_id(candidate.run_id)
    if run is None:
        return "failed", f"its run {candidate.run_id} is not in this Dagster instance"
    if not run.is_finished:
        return "running", (
            f"xgb_model version {candidate.model_version}: its run {candidate.run_id[:8]} is "
            f"{run.status.value}; judged once every step and check of it has finished"
        )
    if run.status != dg.DagsterRunStatus.SUCCESS:
        return "failed", (
            f"xgb_model version {candidate.model_version}: its run {candidate.run_id[:8]} "
            f"ended {run.status.value} (a step or blocking check of it failed)"
        )
    return "succeeded", None


def stale_parity(
    instance: dg.DagsterInstance, candidate: Candidate, parity: CheckOutcome
) -> str | None:
    """Why the latest parity result is not evidence about what the candidate will be served:
    older than the latest indicators or online features, or for another indicator set."""
    for key in PARITY_INPUTS:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key), limit=1
        ).records
        if records and records[0].timestamp > parity.timestamp:
            return (
                f"online_features.online_offline_parity ran before the latest "
                f"{key.to_user_string()} materialization (run {records[0].run_id[:8]}): the "
                "online store may not hold what the candidate was trained on; materialize "
                "online_features"
            )
    compared = str(parity.metadata.get("indicator_set", ""))
    if candidate.indicator_set and compared != candidate.indicator_set:
        return (
            f"online_features.online_offline_parity compared indicator set {compared or '?'}, "
            f"but xgb_model version {candidate.model_version} was trained on "
            f"{candidate.indicator_set}: materialize indicators and online_features with it"
        )
    return None


def _check_evaluation(entry: Any) -> dg.AssetCheckEvaluation | None:
    """The check evaluation an event log entry holds, if it holds one."""
    data = entry.dagster_event.event_specific_data if entry and entry.dagster_event else None
    return data if isinstance(data, dg.AssetCheckEvaluation) else None


def rejection(
    candidate: Candidate, parity: CheckOutcome | None, champion: str | None
) -> str | None:
    """Why the candidate must not go live, or None if every gate holds."""
    name = f"xgb_model version {candidate.model_version or '?'} (run {candidate.run_id[:8]})"
    if not candidate.model_uri:
        return f"{name} names no model URI"
    for gate in MODEL_GATES:
        outcome = candidate.checks.get(gate)
        if outcome is None:
            return f"{name}: its blocking check {gate} did not run"
        if not outcome.passed:
            return f"{name} failed {gate} ({outcome.evidence()})"
    beats = candidate.checks.get(CHAMPION_CHECK)
    if beats is None:
        return f"{name}: {CHAMPION_CHECK} did not run"
    compared_with = beats.metadata.get("champion_version")
    if not beats.passed and beats.metadata.get("outcome") == "tie":
        return (
            f"{name} tied with champion version {compared_with}: the difference is within "
            f"the margin, so the champion stays ({beats.evidence()})"
        )
    if not beats.passed:
        return f"{name} lost to champion version {compared_with} ({beats.evidence()})"
    if champion is not None and champion == candidate.model_version:
        return f"{name} is the champion already"
    if champion is not None and str(compared_with) != champion:
        return (
            f"{name} was compared with champion {compared_with or 'none'}, but the champion "
            f"is now version {champion}: re-materialize xgb_model to compare again"
        )
    if parity is None:
        return "online_features.online_offline_parity has never run: materialize online_features"
    if not parity.passed:
        return f"online_features.online_offline_parity failed ({parity.evidence()})"
    return None


def swap_reason(candidate: Candidate, parity: CheckOutcome) -> str:
    cited = [
        f"{gate} passed ({candidate.checks[gate].evidence()})"
        for gate in (*MODEL_GATES, CHAMPION_CHECK)
    ]
    cited.append(f"online_offline_parity passed ({parity.evidence()})")
    return (
        f"automatic: xgb_model version {candidate.model_version} (Dagster run "
        f"{candidate.run_id}): " + "; ".join(cited)
    )[:2000]


def idempotency_key(slot: str, model_version: str) -> str:
    return f"auto-swap:{slot}:model-{model_version}"


def strategy_version(model_version: str) -> str:
    """The strategy entity's version for a model version: its minor number."""
    return f"1.{model_version}.0"


# -- acting through the registry -----------------------------------------------------------


def ensure_entity(client: RegistryClient, *, slot: str, candidate: Candidate) -> EntityPublic:
    """The strategy entity version naming the candidate's model, created once."""
    version = strategy_version(candidate.model_version)
    config = {
        "model_uri": candidate.model_uri,
        "model_version": candidate.model_version,
        "buy_threshold": 0.6,
        "sell_threshold": 0.4,
        "position_size": 0.02,
        "dagster_run_id": candidate.run_id,
    }
    try:
        return client.create_entity(
            name=slot,
            type="strategy",
            version=version,
            config=config,
            description=f"xgb_model version {candidate.model_version}, registered by the "
            "auto-swap sensor",
        )
    except RegistryClientError as exc:
        existing_id = (exc.body or {}).get("details", {}).get("entity_id")
        if exc.status_code != 409 or not existing_id:
            raise
    entity = client.get_entity(existing_id)
    if entity.config.get("model_uri") != candidate.model_uri:
        raise AutoSwapError(
            f"registry entity {slot} {version} already exists for "
            f"{entity.config.get('model_uri')}, not {candidate.model_uri}: the MLflow registry "
            "and the strategy registry disagree (was one of them reset?)"
        )
    return entity


def stage(client: RegistryClient, entity: EntityPublic, *, slot: str) -> None:
    """Deploy the entity to staging (replacing what staging ran in the slot)."""
    for old in client.list_deployments(environment="staging", slot=slot, status="active").items:
        if str(old.entity_id) == str(entity.entity_id):
            return
        client.deactivate(str(old.deployment_id), reason=f"replaced by {entity.version}")
    client.deploy(entity_id=str(entity.entity_id), environment="staging", deployed_by=ACTOR)


def ack_outcome(swap: SwapDetail, policy: SwapPolicy) -> tuple[str, str]:
    """('confirmed' | 'failed' | 'waiting', why) from a swap's acknowledgements."""
    if swap.status != "completed":
        return "failed", f"the swap is {swap.status} in the registry"
    failed = [ack for ack in swap.acks if not ack.success]
    if failed:
        first = failed[0]
        return "failed", f"{first.consumer} could not serve it: {first.error}"
    ok = [ack for ack in swap.acks if ack.success]
    if len(ok) >= policy.min_acks:
        return "confirmed", f"{len(ok)} acknowledgement(s)"
    return "waiting", f"{len(ok)} of {policy.min_acks} acknowledgement(s)"


# -- the sensor ----------------------------------------------------------------------------


def _record(
    *,
    status: str,
    description: str,
    registry: RegistryResource,
    model_uri: str,
    model_version: str,
    entity: dict[str, str],
    swap: SwapDetail | None,
    extra: dict[str, Any],
) -> dg.AssetMaterialization:
    """deployed_strategy as the registry now has it."""
    metadata: dict[str, Any] = {
        "status": status,
        "model_uri": model_uri,
        "model_version": model_version,
        "entity_id": entity["entity_id"],
        "entity": f"{registry.slot} {entity['version']}",
        "environment": registry.environment,
        "slot": registry.slot,
        **extra,
    }
    if swap is not None:
        metadata.update(
            {
                "swap_id": str(swap.swap_id),
                "swap_type": str(swap.swap_type),
                "deployment_id": str(swap.to_deployment_id),
                "from_deployment_id": str(swap.from_deployment_id),
                "swap_duration_ms": swap.duration_ms or 0.0,
                "propagation_ms": swap.propagation_ms
                if swap.propagation_ms is not None
                else dg.MetadataValue.null(),
                "downtime_ms": swap.downtime_ms
                if swap.downtime_ms is not None
                else dg.MetadataValue.null(),
                "acknowledgements": dg.MetadataValue.json(
                    [
                        {
                            "consumer": ack.consumer,
                            "success": ack.success,
                            "error": ack.error,
                            "propagation_ms": ack.propagation_ms,
                            "downtime_ms": ack.downtime_ms,
                        }
                        for ack in swap.acks
                    ]
                ),
                "registry_swap": dg.MetadataValue.url(
                    f"{registry.url.rstrip('/')}/api/v1/swaps/{swap.swap_id}"
                ),
            }
        )
    return dg.AssetMaterialization(
        asset_key=DEPLOYED_STRATEGY, description=description, metadata=metadata
    )


def _follow_up(
    client: RegistryClient,
    registry: RegistryResource,
    mlflow: MlflowResource,
    state: CursorState,
    policy: SwapPolicy,
    *,
    wait_s: float,
) -> dg.SensorResult:
    """Decide a pending swap from its acknowledgements (waiting up to `wait_s`)."""
    pending = state.pending
    assert pending is not None
    give_up = time.monotonic() + wait_s
    while True:
        swap = client.get_swap(pending.swap_id)
        outcome, why = ack_outcome(swap, policy)
        if outcome != "waiting" or time.monotonic() >= give_up:
            break
        time.sleep(policy.poll_s)
    entity = {"entity_id": pending.entity_id, "version": pending.entity_version}
    if outcome == "waiting" and time.time() < pending.deadline:
        left = pending.deadline - time.time()
        return dg.SensorResult(
            skip_reason=f"swap {pending.swap_id} (model version {pending.model_version}) is "
            f"waiting for serving: {why}; rolled back if not acknowledged in {left:.0f} s",
            cursor=state.model_dump_json(),
        )
    state.pending = None
    if outcome == "confirmed":
        mlflow.client().set_registered_model_alias(
            mlflow.registered_model, CHAMPION_ALIAS, pending.model_version
        )
        event = _record(
            status="live",
            description=f"model version {pending.model_version} is live in "
            f"{registry.environment}/{registry.slot} ({why}); MLflow alias "
            f"'{CHAMPION_ALIAS}' moved to it",
            registry=registry,
            model_uri=pending.model_uri,
            model_version=pending.model_version,
            entity=entity,
            swap=swap,
            extra={"reason": pending.reason, "champion": pending.model_version},
        )
        return _recorded(event, state)
    if outcome == "waiting":
        why = f"no acknowledgement within {policy.ack_deadline_s:.0f} s ({why})"
    # Failed or too late: put the previous strategy back.
    if swap.status == "completed":
        undo = client.rollback(
            pending.swap_id,
            reason=f"automatic rollback of model version {pending.model_version}: {why}",
            initiated_by=ACTOR,
        )
        rolled_back = f"rolled back by swap {undo.swap_id}"
    else:
        rolled_back = f"already {swap.status} in the registry"
    mlflow.client().set_model_version_tag(
        mlflow.registered_model, pending.model_version, "auto_swap", f"rolled back: {why}"
    )
    event = _record(
        status="rolled_back",
        description=f"model version {pending.model_version} was not kept live: {why}; "
        f"{rolled_back}",
        registry=registry,
        model_uri=pending.model_uri,
        model_version=pending.model_version,
        entity=entity,
        swap=client.get_swap(pending.swap_id),
        extra={"reason": pending.reason, "rollback": f"{why}; {rolled_back}"},
    )
    return _recorded(event, state)


def _recorded(event: dg.AssetMaterialization, state: CursorState) -> dg.SensorResult:
    """A tick that changed what is live: no run to launch; its message says what it did
    (Dagster would otherwise call it an empty result)."""
    return dg.SensorResult(
        asset_events=[event], skip_reason=event.description, cursor=state.model_dump_json()
    )


def current_champion(mlflow: MlflowResource) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        version = mlflow.client().get_model_version_by_alias(
            mlflow.registered_model, CHAMPION_ALIAS
        )
    except MlflowException as exc:
        if exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            return None
        raise
    return str(version.version)


def evaluate(
    instance: dg.DagsterInstance,
    cursor: str | None,
    registry: RegistryResource,
    mlflow: MlflowResource,
    policy: SwapPolicy,
) -> dg.SensorResult:
    """One tick of the sensor (see the module's docstring)."""
    state = CursorState.parse(cursor)
    if state.pending is not None:
        with registry.client() as client:
            return _follow_up(client, registry, mlflow, state, policy, wait_s=0)
    candidate = newest_candidate(instance, state.after)
    if candidate is None:
        return dg.SensorResult(skip_reason="no new xgb_model materialization", cursor=cursor)
    status, why = run_state(instance, candidate)
    if status == "running":
        # Not judged yet: the cursor stays, the next tick looks again.
        return dg.SensorResult(skip_reason=why, cursor=cursor)
    state.after = candidate.storage_id
    if why is not None:
        return dg.SensorResult(skip_reason=why, cursor=state.model_dump_json())
    parity = latest_parity(instance)
    problem = rejection(candidate, parity, current_champion(mlflow))
    if problem is None and parity is not None:
        problem = stale_parity(instance, candidate, parity)
    if problem is not None:
        return dg.SensorResult(skip_reason=problem, cursor=state.model_dump_json())
    assert parity is not None
    with registry.client() as client:
        live = client.live(environment=registry.environment, slot=registry.slot).deployment
        if live is not None and live.config_snapshot.get("model_uri") == candidate.model_uri:
            return dg.SensorResult(
                skip_reason=f"xgb_model version {candidate.model_version} is live already "
                f"(deployment {live.deployment_id})",
                cursor=state.model_dump_json(),
            )
        entity = ensure_entity(client, slot=registry.slot, candidate=candidate)
        stage(client, entity, slot=registry.slot)
        reason = swap_reason(candidate, parity)
        if live is None:
            deployment = client.deploy(
                entity_id=str(entity.entity_id),
                environment=registry.environment,
                deployed_by=ACTOR,
            )
            mlflow.client().set_registered_model_alias(
                mlflow.registered_model, CHAMPION_ALIAS, candidate.model_version
            )
            event = _record(
                status="live",
                description=f"first deployment: model version {candidate.model_version} is "
                f"live in {registry.environment}/{registry.slot} (no swap: nothing was live); "
                f"MLflow alias '{CHAMPION_ALIAS}' set",
                registry=registry,
                model_uri=candidate.model_uri,
                model_version=candidate.model_version,
                entity={"entity_id": str(entity.entity_id), "version": entity.version},
                swap=None,
                extra={
                    "deployment_id": str(deployment.deployment_id),
                    "reason": reason,
                    "champion": candidate.model_version,
                },
            )
            return _recorded(event, state)
        swap = client.swap(
            from_entity_id=str(live.entity_id),
            to_entity_id=str(entity.entity_id),
            reason=reason,
            initiated_by=ACTOR,
            swap_type="automatic",
            environment=registry.environment,
            idempotency_key=idempotency_key(registry.slot, candidate.model_version),
        )
        committed = (swap.committed_at or datetime.now(UTC)).timestamp()
        state.pending = Pending(
            swap_id=str(swap.swap_id),
            model_version=candidate.model_version,
            model_uri=candidate.model_uri,
            entity_id=str(entity.entity_id),
            entity_version=entity.version,
            from_entity_id=str(live.entity_id),
            committed_at=committed,
            deadline=committed + policy.ack_deadline_s,
            reason=reason,
        )
        return _follow_up(client, registry, mlflow, state, policy, wait_s=policy.ack_wait_s)


def build_auto_swap_sensor(
    *, interval_s: int, policy: SwapPolicy, running: bool
) -> dg.SensorDefinition:
    @dg.sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING
        if running
        else dg.DefaultSensorStatus.STOPPED,
        description="Swaps a new xgb_model that passed its gates and beat the champion into "
        "production through the registry; rolls it back if serving does not take it.",
    )
    def auto_swap_sensor(
        context: dg.SensorEvaluationContext, registry: RegistryResource, mlflow: MlflowResource
    ) -> dg.SensorResult:
        return evaluate(context.instance, context.cursor, registry, mlflow, policy)

    return auto_swap_sensor
