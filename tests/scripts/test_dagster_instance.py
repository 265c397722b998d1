"""The embedded Dagster instance (scripts/dagster_instance.py, written by `make dagster`,
`make up` and `make demo`): Dagster's own schema, run monitoring on; and the real daemon
failing the runs whose processes died instead of leaving them in progress forever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LEGACY = "telemetry:\n  enabled: false\n"

JOB = """
import multiprocessing
import os
import time
from pathlib import Path

import dagster as dg


@dg.op
def wait() -> None:
    time.sleep(600)


@dg.job(executor_def=dg.in_process_executor)
def sleepy() -> None:
    wait()


defs = dg.Definitions(jobs=[sleepy])

# In a run worker (a process the code server spawns): say which process it is, and hang
# before the run starts when asked to.
if multiprocessing.parent_process() is not None:
    Path(os.environ["T26_RUN_WORKER_PID"]).write_text(str(os.getpid()))
    if os.environ.get("T26_HANG_BEFORE_START"):
        time.sleep(600)
"""


def write_instance(home: Path) -> Path:
    """What `make dagster-instance` writes (the Makefile's `dagster` target runs it)."""
    subprocess.run(
        ["make", "-s", "dagster-instance", f"DAGSTER_HOME={home}"],
        cwd=REPO, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return home / "dagster.yaml"


def test_the_embedded_instance_validates_and_monitors_runs(tmp_path: Path) -> None:
    path = write_instance(tmp_path / "dagster")
    settings, _ = dagster_instance_config(str(path.parent), "dagster.yaml")
    monitoring = settings["run_monitoring"]
    assert monitoring["enabled"] is True
    assert monitoring["start_timeout_seconds"] > 0
    assert monitoring["cancel_timeout_seconds"] > 0
    # The default run launcher cannot resume runs: Dagster refuses resume attempts with it.
    assert monitoring["max_resume_run_attempts"] == 0
    with dg.DagsterInstance.from_config(str(path.parent)) as instance:
        assert instance.run_monitoring_enabled
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"


def test_an_earlier_default_is_brought_up_to_date_and_a_users_own_is_kept(
    tmp_path: Path,
) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(LEGACY)
    assert yaml.safe_load(write_instance(home).read_text())["run_monitoring"]["enabled"]
    own = "telemetry:\n  enabled: true\n"
    (home / "dagster.yaml").write_text(own)
    assert write_instance(home).read_text() == own


class Daemon:
    """`dagster-daemon run` on a code location file, in a process group of its own (its code
    server and run workers are in it too, and stop with it)."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory, self.env = directory, env
        self.log = (directory / "daemon.log").open("ab")
        self.process = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-f", "job.py"],
            cwd=directory, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.log.close()


@pytest.fixture
def location(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], list[Daemon]]]:
    """A temporary DAGSTER_HOME with the embedded instance (the daemon polling every
    second), a code location with one long job, and whatever daemons the test starts."""
    home = tmp_path / "dagster"
    path = write_instance(home)
    instance_yaml = yaml.safe_load(path.read_text())
    instance_yaml["run_monitoring"]["poll_interval_seconds"] = 1
    path.write_text(yaml.safe_dump(instance_yaml))
    (tmp_path / "job.py").write_text(JOB)
    # The SQLite storage made once, before the daemon and the CLI open it together.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_runs() == []
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "T26_RUN_WORKER_PID": str(tmp_path / "worker.pid"),
    }
    daemons: list[Daemon] = []
    try:
        yield tmp_path, env, daemons
    finally:
        for daemon in daemons:
            daemon.kill()


def launch(directory: Path, env: dict[str, str]) -> str:
    """Submit the job as the UI would (queued; the daemon launches it)."""
    launched = subprocess.run(
        [str(BIN / "dagster"), "job", "launch", "-f", "job.py", "-j", "sleepy"],
        cwd=directory, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert launched.returncode == 0, launched.stdout + launched.stderr
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        (run,) = instance.get_runs()
        return run.run_id


def wait_for(
    env: dict[str, str], run_id: str, status: dg.DagsterRunStatus, timeout: float, log: Path
) -> Any:
    deadline = time.monotonic() + timeout
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        while True:
            run = instance.get_run_by_id(run_id)
            assert run is not None
            if run.status == status:
                failures = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
                return [event.message for event in failures]
            assert time.monotonic() < deadline, (
                f"run {run.status.value}, not {status.value}, after {timeout} s\n"
                + log.read_text()[-3000:]
            )
            time.sleep(0.5)


def worker_pid(directory: Path, timeout: float) -> int:
    pid_file = directory / "worker.pid"
    deadline = time.monotonic() + timeout
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "no run worker started"
        time.sleep(0.2)
    return int(pid_file.read_text())


@pytest.mark.timeout(170)
def test_a_run_whose_stack_was_killed_while_it_started_is_failed(
    location: tuple[Path, dict[str, str], list[Daemon]],
) -> None:
    """The daemon, its code server and the run worker are SIGKILLed while a run starts;
    once the daemon runs again, the run is failed instead of staying STARTING forever."""
    directory, env, daemons = location
    path = Path(env["DAGSTER_HOME"]) / "dagster.yaml"
    instance_yaml = yaml.safe_load(path.read_text())
    instance_yaml["run_monitoring"]["start_timeout_seconds"] = 10
    path.write_text(yaml.safe_dump(instance_yaml))
    hanging = {**env, "T26_HANG_BEFORE_START": "1"}
    daemons.append(Daemon(directory, hanging))
    run_id = launch(directory, env)
    pid = worker_pid(directory, timeout=60)
    wait_for(env, run_id, dg.DagsterRunStatus.STARTING, 10, directory / "daemon.log")
    # The run worker is in the daemon's process group: killed with it.
    assert os.getpgid(pid) == daemons[0].process.pid
    daemons[0].kill()
    started = time.monotonic()
    daemons.append(Daemon(directory, env))
    failures = wait_for(env, run_id, dg.DagsterRunStatus.FAILURE, 60, directory / "daemon.log")
    assert any("longer than 10 seconds to start" in message for message in failures)
    assert time.monotonic() - started < 60


@pytest.mark.timeout(170)
def test_a_run_whose_worker_was_killed_is_failed(
    location: tuple[Path, dict[str, str], list[Daemon]],
) -> None:
    """SIGKILL of a started run's worker: the run is failed within seconds (the code server
    that started it notices), never left STARTED."""
    directory, env, daemons = location
    daemons.append(Daemon(directory, env))
    run_id = launch(directory, env)
    pid = worker_pid(directory, timeout=60)
    wait_for(env, run_id, dg.DagsterRunStatus.STARTED, 60, directory / "daemon.log")
    os.kill(pid, signal.SIGKILL)
    started = time.monotonic()
    wait_for(env, run_id, dg.DagsterRunStatus.FAILURE, 30, directory / "daemon.log")
    assert time.monotonic() - started < 30
