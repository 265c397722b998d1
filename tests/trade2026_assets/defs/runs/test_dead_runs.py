"""A run killed mid-way (SIGKILL of `dagster asset materialize`) does not stay STARTED: the
dead-run sensor marks it failed, and leaves a run whose process lives alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from trade2026_assets.defs.runs import dead_runs
from trade2026_assets.defs.runs.dead_runs import build_dead_run_sensor

LOCATION = Path(__file__).parent / "locations" / "sleepy.py"


def started_run(instance: dg.DagsterInstance, deadline: float, log: Path) -> dg.DagsterRun:
    while time.monotonic() < deadline:
        records = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        if records and dead_runs.run_pids(instance, records[0].dagster_run.run_id):
            return records[0].dagster_run
        time.sleep(0.2)
    raise AssertionError(f"the run did not start:\n{log.read_text()}")


def status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    return run.status


def test_a_killed_materialize_is_marked_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    log = tmp_path / "materialize.log"
    with log.open("w") as output:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "dagster", "asset", "materialize", "-f", str(LOCATION),
             "--select", "sleepy"],
            env={**os.environ, "DAGSTER_HOME": str(home)},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            # Generous: loading Dagster in a fresh process is slow on a busy machine.
            run = started_run(instance, time.monotonic() + 200, log)
            monkeypatch.setattr(dead_runs, "QUIET_SECONDS", 0.0)
            sensor = build_dead_run_sensor()

            # Alive: left alone.
            sensor(dg.build_sensor_context(instance=instance))
            assert status(instance, run.run_id) == dg.DagsterRunStatus.STARTED

            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            assert status(instance, run.run_id) == dg.DagsterRunStatus.STARTED

            result = sensor(dg.build_sensor_context(instance=instance))

            assert status(instance, run.run_id) == dg.DagsterRunStatus.FAILURE
            assert run.run_id in str(result)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
