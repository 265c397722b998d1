"""The embedded Dagster instance's dagster.yaml under DAGSTER_HOME, written by `make dagster`,
`make up` (scripts/stack.py) and `make demo` (scripts/demo.py): Dagster's default SQLite
storage and run launcher, run monitoring on, no telemetry.

`python scripts/dagster_instance.py DAGSTER_HOME` writes it. A file this module wrote (its
first line says so), or the bare default earlier versions wrote, is brought up to date; a
file without that line is the user's own and is left alone."""

from __future__ import annotations

import sys
from pathlib import Path

MARKER = "# Written by Trade2026 (scripts/dagster_instance.py)"
# What `make dagster`/`make up`/`make demo` wrote before run monitoring.
LEGACY = "telemetry:\n  enabled: false\n"
INSTANCE_YAML = f"""{MARKER}; rewritten while this line is
# here: delete it to keep your own edits.
# The daemon watches every run: a run that does not start, or does not cancel, within 3
# minutes is marked failed instead of staying STARTING/CANCELING forever. The default run
# launcher cannot resume a run, hence no resume attempts.
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  max_resume_run_attempts: 0
  poll_interval_seconds: 30
# Runs that write the warehouse (assets in the `warehouse` pool) are dequeued one at a time,
# so one run's steps never read what another published in between.
concurrency:
  pools:
    granularity: run
    default_limit: 1
telemetry:
  enabled: false
"""


def ensure_instance_yaml(dagster_home: Path) -> Path:
    """DAGSTER_HOME/dagster.yaml, written unless it is the user's own."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    path = dagster_home / "dagster.yaml"
    current = path.read_text(encoding="utf-8") if path.exists() else None
    ours = current is None or current == LEGACY or current.startswith(MARKER)
    if ours and current != INSTANCE_YAML:
        path.write_text(INSTANCE_YAML, encoding="utf-8")
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/dagster_instance.py DAGSTER_HOME")
    print(ensure_instance_yaml(Path(sys.argv[1])))
