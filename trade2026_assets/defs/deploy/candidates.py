"""Reading a strategy's evidence from the Dagster event log: its newest model candidate
with that run's checks of it, the state of that run, and the shared online features' latest
parity check with what was materialized after it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dagster as dg

from trade2026_assets.defs.deploy.policy import Candidate, CheckOutcome, NewerInput
from trade2026_assets.strategy.declaration import StrategyDeclaration

ONLINE_FEATURES = dg.AssetKey("online_features")
PARITY_CHECK = dg.AssetCheckKey(ONLINE_FEATURES, "online_offline_parity")
# Parity evidence must be newer than the latest materialization of each of these.
PARITY_INPUTS = (dg.AssetKey("indicators"), ONLINE_FEATURES)


def model_key(declaration: StrategyDeclaration) -> dg.AssetKey:
    return dg.AssetKey(declaration.asset_key_path("model"))


def _metadata(raw: Any) -> dict[str, Any]:
    return {key: value.value for key, value in raw.items()}


def _check_evaluation(entry: Any) -> dg.AssetCheckEvaluation | None:
    """The check evaluation an event log entry holds, if it holds one."""
    data = entry.dagster_event.event_specific_data if entry and entry.dagster_event else None
    return data if isinstance(data, dg.AssetCheckEvaluation) else None


def newest_candidate(
    instance: dg.DagsterInstance, declaration: StrategyDeclaration, after: int
) -> Candidate | None:
    """The newest materialization of the strategy's model after storage id `after`, with
    its run's checks of that model."""
    key = model_key(declaration)
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, after_storage_id=after or None), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    record = records[0]
    assert record.asset_materialization is not None
    metadata = _metadata(record.asset_materialization.metadata)
    checks: dict[str, CheckOutcome] = {}
    events = instance.get_records_for_run(
        run_id=record.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    for event in events:
        evaluation = _check_evaluation(event.event_log_entry)
        if evaluation is not None and evaluation.asset_key == key:
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


def newer_inputs(instance: dg.DagsterInstance, parity: CheckOutcome | None) -> list[NewerInput]:
    """The parity inputs whose latest materialization is newer than the parity result."""
    if parity is None:
        return []
    newer = []
    for key in PARITY_INPUTS:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key), limit=1
        ).records
        if records and records[0].timestamp > parity.timestamp:
            newer.append(NewerInput(key.to_user_string(), records[0].run_id))
    return newer


@dataclass(frozen=True)
class RunState:
    status: str  # 'running' | 'failed' | 'succeeded'
    why: str | None = None


def run_state(
    instance: dg.DagsterInstance, declaration: StrategyDeclaration, candidate: Candidate
) -> RunState:
    """The candidate's run, which must have finished, every step and check of it (the
    backtest included), before its evidence is complete."""
    name = f"{declaration.name}/model version {candidate.model_version or '?'}"
    run = instance.get_run_by_id(candidate.run_id)
    if run is None:
        return RunState("failed", f"{name}: its run {candidate.run_id} is not in this instance")
    if not run.is_finished:
        return RunState(
            "running",
            f"{name}: its run {candidate.run_id[:8]} is {run.status.value}; judged once every "
            "step and check of it has finished",
        )
    if run.status != dg.DagsterRunStatus.SUCCESS:
        return RunState(
            "failed",
            f"{name}: its run {candidate.run_id[:8]} ended {run.status.value} (a step or "
            "blocking check of it failed)",
        )
    return RunState("succeeded")
