"""The front door's main job (`make demo`) works from an empty state directory, twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster._core.instance.config import dagster_instance_config

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]


def run_demo(home: Path, port: int) -> str:
    env = {
        **os.environ,
        "TRADE2026_HOME": str(home),
        "REGISTRY_PORT": str(port),
        "SERVING_PORT": str(free_port()),
    }
    env.pop("REGISTRY_DATABASE_URL", None)
    env.pop("DAGSTER_HOME", None)
    env.pop("CLICKHOUSE_URL", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("NATS_URL", None)
    env.pop("FEAST_REDIS_CONNECTION_STRING", None)
    result = subprocess.run(
        [sys.executable, "scripts/demo.py"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_demo_walks_the_seed_flow_and_can_run_again(tmp_path: Path) -> None:
    port = free_port()
    first = run_demo(tmp_path, port)
    # Market data: one run over the demo universe, every check green, values printed.
    assert (
        "materializing market_bars, indicators and online_features for SYNA, SYNB, SYNC, "
        "SYND, SYNE" in first
    )
    assert first.count("  check ") == first.count(": passed") - 2 * 5 == 11
    assert "check online_features.online_offline_parity: passed" in first
    # Online features: every symbol served, fresh, from the SQLite online store.
    assert "online features (sqlite online store, feature service default_ml_strategy_v1" in first
    assert first.count("  as of ") == 5
    assert "25000 bars stored" in first
    assert "SYNA     4967 rows" in first
    assert (tmp_path / "warehouse").is_dir()
    # The Dagster instance's runs are monitored (Dagster's own schema validates it).
    settings, _ = dagster_instance_config(str(tmp_path / "dagster"), "dagster.yaml")
    assert settings["run_monitoring"]["enabled"] is True
    # Training: the gates, the model's metrics, the backtest against buy and hold.
    assert "gate xgb_model.test_auc_above_chance: passed" in first
    assert "gate training_set.no_leakage: passed" in first
    assert "model models:/default_ml_strategy/1" in first
    assert "challenger: yes" in first
    assert "backtest strategy" in first
    assert "backtest buy_and_hold" in first
    assert "deployed    strategy_a 1.0.0 → production/strategy_a" in first
    assert "[entity active]" in first
    assert (
        "swapped     production/strategy_a: strategy_a 1.0.0 [inactive] → strategy_b 1.1.0 [active]"
        in first
    )
    assert "rolled back production/strategy_a: strategy_a 1.0.0 [active] live again" in first
    assert "(same deployment: yes)" in first
    # The loop: the baseline goes live first (nothing was live), the default model beats it
    # and the sensor swaps it in; every serving worker acknowledges; signals come from it.
    assert "model models:/default_ml_strategy/1" in first
    assert (
        "auto_swap_sensor: first deployment: model version 1 is live in "
        "production/default_ml_strategy" in first
    )
    assert "model models:/default_ml_strategy/2" in first
    assert "auto_swap_sensor: model version 2 is live in production/default_ml_strategy" in first
    assert "(automatic): committed in" in first
    assert "2 worker acknowledgement(s)" in first
    assert "signals (model version 2):" in first
    signals = [line for line in first.splitlines() if "features as of" in line]
    assert len(signals) == 5
    assert all(line.split()[1] in {"BUY", "SELL", "HOLD"} for line in signals)
    assert "  gates          all passed" in first
    assert "  live           model version 2 (champion 2) by automatic swap" in first
    assert "INFO mlflow" not in first
    # strategy_a live in production, strategy_b in staging and its swapped-out production row.
    assert "deployments: total=3 active=2" in first
    assert (tmp_path / "registry.db").exists()
    second = run_demo(tmp_path, port)
    assert "25000 bars stored" in second  # replaced, not duplicated
    assert "registered  strategy_a 1.0.1" in second
    assert "deactivated strategy_a 1.0.0 in production/strategy_a" in second
    # (run 1 left 7: its walk, then the sensor staged and deployed two models)
    assert "deployments: total=10 active=4" in second
    # The same data trains the same models: neither beats the champion, and the sensor says
    # so; serving keeps answering with the champion.
    assert "auto_swap_sensor: no swap: xgb_model version 3 (run" in second
    assert "lost to champion version 2" in second
    assert "auto_swap_sensor: no swap: xgb_model version 4 (run" in second
    assert "signals (model version 2):" in second
    assert "  live           model version 2 (champion 2) (no swap this run)" in second
