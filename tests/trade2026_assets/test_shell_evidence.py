"""`dagster asset materialize` in a shell shows a failing check's evidence: its rule and
values, the failing count and the first failing rows, not only "did not pass"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.trade2026_assets.defs.market_data.test_market_bars import with_defect, write_csv


def test_the_shell_prints_the_evidence_of_a_failing_check(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    write_csv(files, "BAD", with_defect("prices_positive"))
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "TRADE2026_HOME": str(tmp_path / "state"),
        "TRADE2026_SYMBOLS": "BAD",
        "TRADE2026_MARKET_SOURCE": "files",
        "TRADE2026_BARS_PATH": str(files),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m",
         "trade2026_assets.definitions", "-a", "defs", "--select", "market_bars",
         "--partition", "BAD"],
        env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    shown = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert "check prices_positive did not pass" in shown
    assert "failing_rows: 1" in shown
    assert "rule: open, high, low, close > 0" in shown
    assert "| BAD | 40 |" in shown
    assert "nothing was published" in shown
