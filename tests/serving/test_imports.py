"""Serving builds on the domain code, never on the Dagster code location."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_importing_the_service_imports_no_dagster() -> None:
    check = "import serving.service, sys; assert 'dagster' not in sys.modules, 'dagster imported'"
    result = subprocess.run(
        [sys.executable, "-c", check],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
