"""Running the code location's jobs in-process, as the tests and the benchmarks do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import dagster as dg

from trade2026_assets.definitions import MARKET_DATA_JOB, partition_range_tags

ResourceT = TypeVar("ResourceT", bound=dg.ConfigurableResource)  # type: ignore[type-arg]

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class RunOutcome:
    success: bool
    materialized: dict[str, set[str]] = field(default_factory=dict)
    # Per check: a failed evaluation if any partition's failed, else the last one.
    checks: dict[tuple[str, str], dg.AssetCheckEvaluation] = field(default_factory=dict)
    # Per check and partition (None: an unpartitioned check).
    partition_checks: dict[tuple[str, str, str | None], dg.AssetCheckEvaluation] = field(
        default_factory=dict
    )
    failures: list[str] = field(default_factory=list)
    metadata_of: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Per asset and partition: that partition's materialization metadata.
    partition_metadata: dict[tuple[str, str | None], dict[str, Any]] = field(default_factory=dict)

    def check(self, asset: str, name: str, partition: str | None = None) -> dg.AssetCheckEvaluation:
        if partition is not None:
            return self.partition_checks[(asset, name, partition)]
        return self.checks[(asset, name)]

    def metadata(self, asset: str, name: str, partition: str | None = None) -> dict[str, Any]:
        evaluation = self.check(asset, name, partition)
        return {key: value.value for key, value in evaluation.metadata.items()}


def run_market_data_job(
    defs: dg.Definitions,
    symbols: Sequence[str],
    *,
    instance: dg.DagsterInstance | None = None,
    run_config: dict[str, Any] | None = None,
) -> RunOutcome:
    """One run over the symbol range, like a single-run backfill launched from the UI."""
    return run_job(
        defs,
        MARKET_DATA_JOB,
        instance=instance,
        run_config=run_config,
        tags=partition_range_tags(symbols[0], symbols[-1]),
    )


def run_job(
    defs: dg.Definitions,
    name: str,
    *,
    instance: dg.DagsterInstance | None = None,
    run_config: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
) -> RunOutcome:
    job = defs.resolve_job_def(name)
    result = job.execute_in_process(
        # None: Dagster makes an ephemeral instance and disposes of it after the run.
        instance=instance,
        tags=tags or {},
        run_config={**QUIET, **(run_config or {})},
        raise_on_error=False,
    )
    outcome = RunOutcome(success=result.success)
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization  # type: ignore[union-attr]
            key = materialization.asset_key.to_user_string()
            outcome.materialized.setdefault(key, set()).add(str(materialization.partition))
            outcome.metadata_of[key] = {k: v.value for k, v in materialization.metadata.items()}
            outcome.partition_metadata[(key, materialization.partition)] = outcome.metadata_of[key]
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            assert isinstance(evaluation, dg.AssetCheckEvaluation)
            asset = evaluation.asset_key.to_user_string()
            outcome.partition_checks[(asset, evaluation.check_name, evaluation.partition)] = (
                evaluation
            )
            seen = outcome.checks.get((asset, evaluation.check_name))
            if seen is None or seen.passed:
                outcome.checks[(asset, evaluation.check_name)] = evaluation
        elif event.is_step_failure:
            failure = event.step_failure_data
            user = failure.user_failure_data
            outcome.failures.append(
                user.description if user and user.description else str(failure.error)
            )
    return outcome


def resource_of(defs: dg.Definitions, name: str, kind: type[ResourceT]) -> ResourceT:
    """A resource of the definitions with its EnvVars resolved, as a run would see it."""
    resource = (defs.resources or {})[name]
    assert isinstance(resource, kind)
    # The context manager form: the plain one leaves the ephemeral instance it initializes
    # in to the garbage collector, whose in-memory storages hold a SQLite connection each.
    with resource.process_config_and_initialize_cm() as initialized:
        pass
    assert isinstance(initialized, kind)
    return initialized
