"""The dead-run sensor: a run whose every process is gone is marked failed.

Dagster's run monitoring asks the run launcher whether a run's worker lives. The embedded
profile's default launcher cannot say, and a run executed by `dagster asset materialize`
has no launcher at all: such a run whose process was killed stays STARTED forever, and its
partitions look in progress. On one machine the processes a run ran in are known (every
executor records its pid in the run's engine events), so a run none of whose processes
exists any more is reported failed. Only where runs execute on this machine: with a launcher
that starts them elsewhere (containers), Dagster's own monitoring decides.
"""

from __future__ import annotations

import time

import dagster as dg
from dagster._core.launcher import DefaultRunLauncher

from trade2026_assets.processes import alive

SENSOR_NAME = "dead_run_sensor"
# A run whose last event is younger than this is left for the next tick: its process may
# have just ended after writing its final status.
QUIET_SECONDS = 10.0
_UNFINISHED = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def run_pids(instance: dg.DagsterInstance, run_id: str) -> list[int]:
    """Every process id the run's executors and launcher recorded."""
    records = instance.get_records_for_run(
        run_id=run_id, of_type=dg.DagsterEventType.ENGINE_EVENT
    ).records
    pids = []
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.event_specific_data if event else None
        metadata = getattr(data, "metadata", None) or {}
        if "pid" in metadata:
            value = metadata["pid"].value
            if str(value).isdigit():
                pids.append(int(str(value)))
    return pids


def dead_runs(instance: dg.DagsterInstance, now: float) -> list[tuple[dg.DagsterRun, list[int]]]:
    """Unfinished runs whose recorded processes all are gone (runs with no recorded
    process yet are Dagster's start timeout's to judge)."""
    found = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=_UNFINISHED)):
        if now - record.update_timestamp.timestamp() < QUIET_SECONDS:
            continue
        pids = run_pids(instance, record.dagster_run.run_id)
        if pids and not any(alive(pid) for pid in pids):
            found.append((record.dagster_run, sorted(set(pids))))
    return found


def reap(instance: dg.DagsterInstance) -> str:
    """Mark every dead run failed; what was done, for the tick."""
    if not isinstance(instance.run_launcher, DefaultRunLauncher):
        return "runs are launched elsewhere: Dagster's run monitoring watches them"
    found = dead_runs(instance, time.time())
    for run, pids in found:
        instance.report_run_failed(
            run,
            message=f"every process of this run is gone (pids {', '.join(map(str, pids))}): "
            "it was killed; marked failed by the dead-run sensor",
        )
    if not found:
        return "no run whose processes are gone"
    return "marked failed (their processes are gone): " + ", ".join(run.run_id for run, _ in found)


def build_dead_run_sensor(*, interval_s: int = 60) -> dg.SensorDefinition:
    @dg.sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Marks failed a run on this machine whose every process is gone (killed "
        "mid-way), so it does not stay STARTED forever.",
    )
    def dead_run_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        return dg.SkipReason(reap(context.instance))

    return dead_run_sensor
