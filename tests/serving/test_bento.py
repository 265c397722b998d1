"""`make bento` builds a Bento of the service with the project's wheel and locked pins."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_make_bento_packages_the_service_its_wheel_and_pins(tmp_path: Path) -> None:
    result = subprocess.run(
        ["make", "bento", f"TRADE2026_HOME={tmp_path}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (bento,) = [p for p in (tmp_path / "bentoml" / "bentos" / "default_ml_strategy").iterdir()
                if p.name != "latest"]  # fmt: skip
    manifest = yaml.safe_load((bento / "bento.yaml").read_text())
    assert manifest["service"] == "service:StrategyService"
    assert {api["name"] for api in manifest["schema"]["routes"]} >= {"predict", "signal"}
    assert (bento / "src" / "service.py").exists()
    # The Bento's description is the service's, not BentoML's placeholder.
    assert (bento / "README.md").read_text().startswith("Trade2026 serving: ")
    assert (bento / "env" / "python" / "wheels" / "trade2026-0.1.0-py3-none-any.whl").exists()
    pins = (bento / "env" / "python" / "requirements.txt").read_text()
    for pin in ("bentoml==1.4.40", "feast==0.67.0", "xgboost-cpu==3.2.0", "mlflow==3.17.2"):
        assert pin in pins
    # Serving imports no Dagster, and its Bento does not carry it.
    assert not [line for line in pins.splitlines() if line.startswith("dagster")], pins
    # Every declared strategy's routes are served (they are documented per strategy).
    assert (REPO / "strategies").is_dir()
