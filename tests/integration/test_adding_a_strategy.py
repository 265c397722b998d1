"""Adding a strategy is adding a file: next to the two shipped declarations a test writes a
third one (its own symbols, indicator parameters, features, horizon, rule); the definitions
then hold its assets, job and sensor, its training job runs, its sensor takes it live
through the registry, and serving answers for it. No code is edited.

Real parts throughout: Dagster jobs in-process on a SQLite instance, chDB, Feast (SQLite
online store), MLflow, the registry and `bentoml serve` as processes.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest

from registry_service.client import RegistryClient
from scripts.harness.dagster_runs import resource_of, run_job, run_market_data_job
from scripts.harness.registry import registry_process
from scripts.harness.services import free_port
from scripts.harness.serving import serving_process
from trade2026_assets.definitions import build_definitions
from trade2026_assets.defs.deploy.registry_steps import CursorState
from trade2026_assets.registry import RegistryResource
from trade2026_assets.settings import STRATEGIES_DIR, AssetsSettings
from trade2026_assets.tracking import MlflowResource

SYMBOLS = ["SYNA", "SYNB", "SYNC", "SYND"]
NAME = "breakout_trees"
THIRD = f"""
name: {NAME}
description: Shallow trees over range, volume and momentum on two symbols.
universe: {{symbols: [SYNA, SYNC]}}
indicators: {{bb_period: 14, atr_period: 10}}
features: [ret_1, ret_1_lag1, momentum_5, range_atr, volume_z, bb_pctb, bb_width]
label: {{horizon: 1}}
model:
  family: xgboost
  params: {{num_boost_round: 40, max_depth: 3, learning_rate: 0.2}}
signal: {{buy_threshold: 0.58, sell_threshold: 0.42, position_size: 0.01}}
gates: {{min_test_rows: 200}}
"""


# A whole loop of real services: minutes on two busy cores.
@pytest.mark.timeout(900)
def test_a_third_strategy_file_goes_from_bars_to_serving(tmp_path: Path) -> None:
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    for shipped in STRATEGIES_DIR.glob("*.yaml"):
        shutil.copy(shipped, strategies)
    (strategies / f"{NAME}.yaml").write_text(THIRD)
    (tmp_path / "dagster").mkdir()
    with (
        dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance,
        registry_process(tmp_path, free_port()) as (registry, key),
        RegistryClient(registry.url, api_key=key) as client,
        serving_process(
            tmp_path,
            port=free_port(),
            registry_url=registry.url,
            api_key=key,
            extra_env={
                "SERVING_POLL_INTERVAL_S": "0.2",
                "TRADE2026_STRATEGIES_DIR": str(strategies),
                "TRADE2026_SYMBOLS": ",".join(SYMBOLS),
            },
        ) as serving,
    ):
        os.environ["TRADE2026_REGISTRY_API_KEY"] = key
        try:
            settings = AssetsSettings(
                home=tmp_path,
                symbols=",".join(SYMBOLS),
                synthetic_bars=3000,
                synthetic_predictability=0.2,
                registry_url=registry.url,
                strategies_dir=strategies,
            )
            defs = build_definitions(settings)
            resources = {
                "registry": resource_of(defs, "registry", RegistryResource),
                "mlflow": resource_of(defs, "mlflow", MlflowResource),
            }
        finally:
            os.environ.pop("TRADE2026_REGISTRY_API_KEY")

        # The definitions hold its assets (own group), its job and its sensor.
        keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
        assert {
            f"{NAME}/{a}" for a in ("training_set", "model", "backtest", "deployed_strategy")
        } <= keys
        assert defs.resolve_job_def(f"{NAME}_training") is not None
        sensor = defs.resolve_sensor_def(f"{NAME}_auto_swap")

        # Its bars and its own indicator set come with the shared market data.
        assert run_market_data_job(defs, SYMBOLS, instance=instance).success
        trained = run_job(defs, f"{NAME}_training", instance=instance)
        assert trained.success, trained.failures
        model = trained.metadata_of[f"{NAME}/model"]
        assert trained.metadata_of[f"{NAME}/training_set"]["indicator_set"].startswith(
            "rsi14-macd12.26.9-bb14.2.2-"
        )
        # Only its own job ran: the shipped strategies trained nothing.
        assert set(trained.materialized) == {
            f"{NAME}/{a}" for a in ("training_set", "model", "backtest")
        }

        # Its sensor takes it live (nothing was: a first deployment, no swap).
        cursor = None
        deadline = time.monotonic() + 30
        while True:
            data = sensor.evaluate_tick(
                dg.build_sensor_context(
                    instance=instance, cursor=cursor, resources=resources, definitions=defs
                )
            )
            for event in data.asset_events:
                instance.report_runless_asset_event(event)
            cursor = data.cursor
            pending = CursorState.parse(cursor, sensor_name=sensor.name).pending
            if data.asset_events or pending is None or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert data.asset_events, data.skip_message
        live = client.live(environment="production", slot=NAME).deployment
        assert live is not None
        assert live.config_snapshot["model_uri"] == f"models:/{NAME}/{model['model_version']}"
        assert live.config_snapshot["buy_threshold"] == 0.58
        # The other strategies' slots are untouched.
        assert client.live(environment="production", slot="swing_logit").deployment is None

        # Serving answers for it, with its own features, rule and version: every worker
        # follows the slot on its own, so wait until several answers in a row are its.
        serving.wait_up()
        route = f"{serving.url}/strategies/{NAME}/signal"
        deadline = time.monotonic() + 60
        in_a_row = 0
        while in_a_row < 6 and time.monotonic() < deadline:
            answer = httpx.post(route, json={"symbols": ["SYNA", "SYNC"]}, timeout=10)
            in_a_row = in_a_row + 1 if answer.status_code == 200 else 0
            time.sleep(0.1)
        assert answer.status_code == 200, answer.text
        listed = httpx.get(f"{serving.url}/strategies", timeout=10).json()["strategies"]
        mine = next(s for s in listed if s["name"] == NAME)
        assert {s["name"] for s in listed} == {"default_ml_strategy", "swing_logit", NAME}
        assert str(mine["live"]["model_version"]) == str(model["model_version"])
        body = answer.json()
        assert body["strategy"] == NAME
        assert str(body["version"]) == str(model["model_version"])
        assert set(body["signals"]) == {"SYNA", "SYNC"}, body
        for signal in body["signals"].values():
            p = signal["probability"]
            expected = "BUY" if p > 0.58 else "SELL" if p < 0.42 else "HOLD"
            assert signal["action"] == expected
            assert signal["size"] == (0.0 if expected == "HOLD" else 0.01)
        row = [[0.001, -0.002, 0.01, 1.2, 0.5, 0.6, 0.03]]
        predicted = httpx.post(
            f"{serving.url}/strategies/{NAME}/predict", json={"features": row}, timeout=10
        )
        assert predicted.status_code == 200, predicted.text
        assert 0.0 <= predicted.json()["predictions"][0] <= 1.0
        # The shipped strategies have nothing live: their routes say so, not 500.
        idle = httpx.post(
            f"{serving.url}/strategies/swing_logit/signal", json={"symbols": ["SYNB"]}, timeout=10
        )
        assert idle.status_code == 503
        assert "no model is live" in idle.json()["error"]
