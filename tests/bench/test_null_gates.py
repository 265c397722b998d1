"""The null-gates benchmark's quick mode runs end to end and writes its results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.null_gates import clopper_pearson

ROOT = Path(__file__).resolve().parents[2]


def test_clopper_pearson_brackets_the_rate() -> None:
    lower, upper = clopper_pearson(0, 200)
    assert lower == 0.0
    assert 0.017 < upper < 0.019  # the rule of three: about 3.7 / n for 0 of n
    lower, upper = clopper_pearson(94, 100)
    assert lower < 0.94 < upper


def test_the_quick_mode_prints_the_table_and_writes_results(tmp_path: Path) -> None:
    name = f"null_gates-test-{tmp_path.name}"
    done = subprocess.run(
        [sys.executable, "-m", "bench.null_gates", "--quick", "--results", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    assert "95% interval" in done.stdout
    path = ROOT / "bench" / "results" / f"{name}-quick.json"
    try:
        results = json.loads(path.read_text())
    finally:
        path.unlink(missing_ok=True)
    assert [row["predictability"] for row in results["rows"]] == [0.0, 0.1]
    # Every seed judged: no seed of the null promoted in the smoke run either.
    assert results["rows"][0]["passes"] == 0
    assert len(results["runs"]) == sum(row["seeds"] for row in results["rows"])
