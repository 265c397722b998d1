"""The whole loop's latency: from the moment a better model's checks pass to serving
answering with it, through the real Dagster daemon ticking the default strategy's sensor
(`default_ml_strategy_auto_swap`) every 30 s, the registry and `bentoml serve` (2 workers,
1 s poll); and the wall time of the demo. Serving follows the swap as soon as the tick
requests it; the sensor's later tick only records the acknowledgements.

Each repetition puts the MLflow alias `champion` back on a weak first model and trains a
default model with another seed, so that every candidate beats the champion. The time is
measured from the `beats_champion` check evaluation's event time (the last of the model's
checks) to the first `/strategies/default_ml_strategy/predict` answer naming the new
version, polled every 50 ms.
Reference in the same run: the sensor's interval (the loop's expected latency is about half
an interval plus the swap's propagation). Target: under 60 s.

Usage: python -m bench.auto_swap [--repetitions 3] [--interval 30] [--skip-demo]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg
import httpx

from bench.common import RESULTS_DIR, write_default_strategy, write_results
from scripts.harness.dagster_runs import run_market_data_job
from scripts.harness.registry import registry_process
from scripts.harness.services import free_port
from scripts.harness.serving import serving_process
from scripts.harness.strategy_models import WEAKER_DEFAULT
from trade2026_assets.definitions import build_definitions
from trade2026_assets.settings import STRATEGIES_DIR, AssetsSettings
from trade2026_assets.strategy.declaration import DEFAULT_STRATEGY

REPO = Path(__file__).resolve().parents[1]
SYMBOLS = ["SYNA", "SYNB", "SYNC", "SYND"]
MODEL_KEY = dg.AssetKey([DEFAULT_STRATEGY, "model"])
ROW = [0.001, 0.0005, -0.002, 0.004, 55.0, 0.001, 0.0008, 0.0002, 0.6, 0.03]
TARGET_S = 60.0
DAGSTER_DAEMON = str(Path(sys.executable).parent / "dagster-daemon")


def serving_version(url: str) -> str:
    try:
        answer = httpx.post(
            f"{url}/strategies/{DEFAULT_STRATEGY}/predict", json={"features": [ROW]}, timeout=5
        )
    except httpx.TransportError:
        return ""
    return str(answer.json().get("version")) if answer.status_code == 200 else ""


def wait_for_version(url: str, version: str, timeout: float) -> float:
    """The wall-clock time at which serving first answers with `version`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if serving_version(url) == version:
            return time.time()
        time.sleep(0.05)
    raise TimeoutError(f"serving did not answer with version {version} within {timeout:.0f} s")


def checks_passed_at(instance: dg.DagsterInstance, run_id: str) -> float:
    """When the run's last model check (beats_champion) was recorded."""
    records = instance.get_records_for_run(
        run_id=run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    stamps = [
        record.event_log_entry.timestamp
        for record in records
        if isinstance(
            evaluation := record.event_log_entry.dagster_event.event_specific_data,  # type: ignore[union-attr]
            dg.AssetCheckEvaluation,
        )
        and evaluation.asset_key == MODEL_KEY
        and evaluation.check_name == "beats_champion"
        and evaluation.passed
    ]
    if not stamps:
        raise RuntimeError(f"run {run_id}: beats_champion did not pass")
    return max(stamps)


def train(settings: AssetsSettings, instance: dg.DagsterInstance, changes: dict[str, Any]) -> Any:
    """The default strategy's training job, its declaration edited with `changes` (as
    a user edits the file) and the definitions loaded again. The daemon's code location
    keeps the declaration it loaded: its sensor reads no model parameters."""
    write_default_strategy(settings.strategies_dir, changes)
    defs = build_definitions(settings)
    result = defs.resolve_job_def(f"{DEFAULT_STRATEGY}_training").execute_in_process(
        instance=instance,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        raise_on_error=False,
    )
    if not result.success:
        raise RuntimeError(f"training run {result.run_id} failed")
    return result


def loop_latency(repetitions: int, interval: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        dagster_home = home / "dagster"
        dagster_home.mkdir()
        (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        # The default strategy alone, in a directory of the bench's own (the daemon's too).
        strategies = write_default_strategy(home / "strategies")
        settings = AssetsSettings(
            home=home,
            symbols=",".join(SYMBOLS),
            synthetic_bars=4000,
            synthetic_predictability=0.2,
            strategies_dir=strategies,
        )
        defs = build_definitions(settings)
        mlflow_uri = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
        with (
            dg.DagsterInstance.from_config(str(dagster_home)) as instance,
            registry_process(home, free_port()) as (registry, key),
            serving_process(
                home,
                port=free_port(),
                registry_url=registry.url,
                api_key=key,
                extra_env={"TRADE2026_STRATEGIES_DIR": str(strategies)},
            ) as serving,
        ):
            assert run_market_data_job(defs, SYMBOLS, instance=instance).success
            env = {
                **os.environ,
                "TRADE2026_HOME": str(home),
                "DAGSTER_HOME": str(dagster_home),
                "TRADE2026_SYMBOLS": ",".join(SYMBOLS),
                "TRADE2026_SYNTHETIC_BARS": "4000",
                "TRADE2026_SYNTHETIC_PREDICTABILITY": "0.2",
                "TRADE2026_STRATEGIES_DIR": str(strategies),
                "TRADE2026_REGISTRY_URL": registry.url,
                "TRADE2026_REGISTRY_API_KEY": key,
                "TRADE2026_AUTO_SWAP_INTERVAL_S": str(interval),
            }
            log = (RESULTS_DIR / "auto-swap-daemon.log").open("w")
            daemon = subprocess.Popen(
                [DAGSTER_DAEMON, "run", "-w", str(REPO / "workspace.yaml")],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                serving.wait_up()
                weak = train(settings, instance, WEAKER_DEFAULT)
                weak_version = _version(weak)
                wait_for_version(serving.url, weak_version, timeout=3 * interval + 60)
                from mlflow import MlflowClient

                mlflow = MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)
                for repetition in range(repetitions):
                    mlflow.set_registered_model_alias(DEFAULT_STRATEGY, "champion", weak_version)
                    reseeded = {"model": {"params": {"seed": 100 + repetition}}}
                    result = train(settings, instance, reseeded)
                    version = _version(result)
                    passed = checks_passed_at(instance, result.run_id)
                    served = wait_for_version(serving.url, version, timeout=2 * interval + 60)
                    rows.append(
                        {
                            "measure": "checks passed → serving answers",
                            "repetition": repetition + 1,
                            "model_version": version,
                            "seconds": round(served - passed, 3),
                            "sensor_interval_s": interval,
                            "ratio_to_interval": round((served - passed) / interval, 3),
                        }
                    )
                    print(f"  repetition {repetition + 1}: {served - passed:.1f} s", flush=True)
            finally:
                os.killpg(daemon.pid, signal.SIGTERM)
                try:
                    daemon.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(daemon.pid, signal.SIGKILL)
                    daemon.wait(10)
                log.close()
    return rows


def _version(result: Any) -> str:
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key == MODEL_KEY:
            return str(materialization.metadata["model_version"].value)
    raise RuntimeError(f"the training run materialized no {MODEL_KEY.to_user_string()}")


def demo_wall_time() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "TRADE2026_HOME": tmp,
            "REGISTRY_PORT": str(free_port()),
            "SERVING_PORT": str(free_port()),
            # Every shipped strategy, whatever this shell points at.
            "TRADE2026_STRATEGIES_DIR": str(STRATEGIES_DIR),
        }
        env.pop("DAGSTER_HOME", None)
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "scripts/demo.py"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        seconds = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"the demo failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return {"measure": "demo wall time (fresh state)", "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--interval", type=int, default=30, help="Sensor interval (s).")
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    print(f"auto-swap loop: {args.repetitions} better models, sensor every {args.interval} s")
    rows = loop_latency(args.repetitions, args.interval)
    seconds = [row["seconds"] for row in rows]
    summary = {
        "measure": "checks passed → serving answers (summary)",
        "median_s": round(statistics.median(seconds), 3),
        "max_s": max(seconds),
        "sensor_interval_s": args.interval,
        "target_s": TARGET_S,
        "met": max(seconds) < TARGET_S,
    }
    rows.append(summary)
    if not args.skip_demo:
        rows.append(demo_wall_time())
    print()
    print(f"{'measure':<46} {'seconds':>9}  notes")
    for row in rows:
        if "repetition" in row:
            print(
                f"{row['measure'] + ' #' + str(row['repetition']):<46} {row['seconds']:>9.1f}  "
                f"{row['ratio_to_interval']:.2f} of the interval"
            )
        elif "median_s" in row:
            verdict = "met" if row["met"] else "MISSED"
            print(
                f"{'checks passed → serving answers, max':<46} {row['max_s']:>9.1f}  median "
                f"{row['median_s']:.1f}; target < {TARGET_S:.0f} s: {verdict}"
            )
        else:
            print(f"{row['measure']:<46} {row['seconds']:>9.1f}")
    print(f"results: {write_results('auto_swap', rows)}")


if __name__ == "__main__":
    main()
