"""The front door's main job (`make demo`) works from an empty state directory, twice."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from dagster._core.instance.config import dagster_instance_config

from scripts.harness.services import free_port
from trade2026_assets.settings import STRATEGIES_DIR

REPO = Path(__file__).resolve().parents[2]


def run_demo(home: Path, port: int) -> str:
    env = {
        **os.environ,
        "TRADE2026_HOME": str(home),
        "REGISTRY_PORT": str(port),
        "SERVING_PORT": str(free_port()),
        # Every shipped strategy (the tests' session points elsewhere: the default alone).
        "TRADE2026_STRATEGIES_DIR": str(STRATEGIES_DIR),
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
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def signal_lines(output: str, strategy: str) -> list[str]:
    """The per-symbol signal lines printed under `<strategy> (model version ...)`."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{strategy} (model version"))
    block = []
    for line in lines[start + 1 :]:
        if "features as of" not in line:
            break
        block.append(line)
    return block


# Two runs of the whole loop for two strategies: about 3 minutes each on an idle machine.
@pytest.mark.timeout(1200)
def test_demo_walks_the_seed_flow_and_can_run_again(tmp_path: Path) -> None:
    port = free_port()
    first = run_demo(tmp_path, port)
    assert "declared strategies: default_ml_strategy, swing_logit" in first
    # Market data: one run over the demo universe, every check green, values printed.
    assert (
        "materializing market_bars, indicators and online_features for SYNA, SYNB, SYNC, "
        "SYND, SYNE" in first
    )
    # 12 market-data checks; 6 gates of the quick model (2 of its training set, 4 of its
    # model), then 6 per strategy.
    assert first.count("  check ") == first.count(": passed") - 6 - 2 * 6 == 12
    assert "check online_features.online_offline_parity: passed" in first
    # Online features: every strategy's symbols served, fresh, from the SQLite online store,
    # each through its own feature service.
    assert (
        "online features of default_ml_strategy (sqlite online store, feature service "
        "default_ml_strategy_" in first
    )
    assert "online features of swing_logit (sqlite online store, feature service swing_logit_" in (
        first
    )
    assert first.count("  as of ") == 5 + 3
    assert "75000 bars stored" in first
    assert "SYNA    14967 rows" in first
    assert (tmp_path / "warehouse").is_dir()
    # The Dagster instance's runs are monitored (Dagster's own schema validates it).
    settings, _ = dagster_instance_config(str(tmp_path / "dagster"), "dagster.yaml")
    assert settings["run_monitoring"]["enabled"] is True
    # The registry's seed flow.
    assert "deployed    strategy_a 1.0.0 → production/strategy_a" in first
    assert "[entity active]" in first
    assert (
        "swapped     production/strategy_a: strategy_a 1.0.0 [inactive] → strategy_b 1.1.0 [active]"
        in first
    )
    assert "rolled back production/strategy_a: strategy_a 1.0.0 [active] live again" in first
    assert "(same deployment: yes)" in first
    assert "deployments: total=3 active=2" in first
    # Training: both strategies, each gate per strategy, metrics, backtest against buy and hold.
    assert "training default_ml_strategy, swing_logit: training set → model → backtest" in first
    for name in ("default_ml_strategy", "swing_logit"):
        for gate in (
            "training_set.no_leakage",
            "training_set.point_in_time",
            "model.beats_majority_baseline",
            "model.auc_above_chance",
            "model.beats_champion",
            "model.beats_champion_sharpe",
        ):
            assert f"gate {name}/{gate}: passed" in first, (name, gate)
        assert f"{name}/backtest strategy " in first
        assert f"{name}/backtest buy_and_hold " in first
        assert f"{name}/backtest equal_weight_rebalanced " in first
        # The tear sheet's headline: Sharpe with its interval, deflated Sharpe, trades,
        # exposure, true buy-and-hold.
        assert re.search(
            rf"{name}/backtest tear sheet: Sharpe -?[\d.]+ \(90% CI -?[\d.]+ to -?[\d.]+\), "
            r"deflated Sharpe [\d.]+ \(\d+ trials\), \d+ trades, exposure [\d.]+%, "
            r"buy-and-hold [+-][\d.]+%",
            first,
        ), name
    assert "FAILED" not in first
    assert "default_ml_strategy/model models:/default_ml_strategy/1 (xgboost" in first
    assert "default_ml_strategy/model models:/default_ml_strategy/2 (xgboost" in first
    assert "swing_logit/model models:/swing_logit/1 (logistic_regression" in first
    assert first.count("challenger: yes") == 3
    # swing_logit trains on its own symbols, two bars ahead.
    assert "8 features, label close[t+2] > close[t]" in first
    # The loop: the quick default model goes live first (nothing was live), the declared one
    # beats it and its sensor swaps it in, every serving worker acknowledging; swing_logit
    # goes live on its first deployment.
    assert (
        "default_ml_strategy_auto_swap: first deployment: default_ml_strategy/model version 1 "
        "is live in production/default_ml_strategy" in first
    )
    assert (
        "default_ml_strategy_auto_swap: default_ml_strategy/model version 2 is live in "
        "production/default_ml_strategy (2 acknowledgement(s))" in first
    )
    assert "(automatic): committed in" in first
    assert "2 worker acknowledgement(s)" in first
    assert (
        "swing_logit_auto_swap: first deployment: swing_logit/model version 1 is live in "
        "production/swing_logit" in first
    )
    # Signals from both strategies, each for its own symbols, from its champion.
    assert "default_ml_strategy (model version 2, xgboost):" in first
    assert "swing_logit (model version 1, logistic_regression):" in first
    for name, symbols in (
        ("default_ml_strategy", ["SYNA", "SYNB", "SYNC", "SYND", "SYNE"]),
        ("swing_logit", ["SYNB", "SYNC", "SYND"]),
    ):
        signals = signal_lines(first, name)
        assert [line.split()[0] for line in signals] == symbols, signals
        assert all(line.split()[1] in {"BUY", "SELL", "HOLD"} for line in signals)
    assert first.count("features as of") == 5 + 3
    assert first.count("    gates         all passed") == 2
    assert "    live          model version 2 by automatic swap" in first
    assert "    live          model version 1 (first deployment)" in first
    assert "INFO mlflow" not in first
    assert (tmp_path / "registry.db").exists()
    second = run_demo(tmp_path, port)
    assert "75000 bars stored" in second  # replaced, not duplicated
    assert "registered  strategy_a 1.0.1" in second
    assert "deactivated strategy_a 1.0.0 in production/strategy_a" in second
    # (run 1 left 9: its walk, then the sensors staged and deployed three models)
    assert "deployments: total=12 active=6" in second
    # The same data trains the same models: none beats its champion, and the sensors say
    # so; serving keeps answering with the champions.
    assert (
        "default_ml_strategy_auto_swap: no swap: default_ml_strategy/model version 3 (run" in second
    )
    assert "lost to champion version 2" in second
    assert (
        "default_ml_strategy_auto_swap: no swap: default_ml_strategy/model version 4 (run" in second
    )
    assert "swing_logit_auto_swap: no swap: swing_logit/model version 2 (run" in second
    assert "default_ml_strategy (model version 2, xgboost):" in second
    assert "swing_logit (model version 1, logistic_regression):" in second
    assert "    live          model version 2 (no swap this run)" in second
    assert "    live          model version 1 (no swap this run)" in second
