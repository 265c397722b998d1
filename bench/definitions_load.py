"""Definitions load time with 1, 10 and 50 declared strategies.

What `dagster dev`, the daemon and every run worker pay when they load the code location:
a fresh process that imports it, reads and validates the declarations, builds every
strategy's assets, jobs and sensor, and resolves the repository (Dagster's own validation
of the asset graph and of every job). `total s` is that process's wall time (the target's
measure); `build s` is the part after the imports, which grows with the strategies
(Dagster's asset decorator and job resolution, some 40-60 ms a strategy here). Best of
`--repeats` per count. The strategies differ in universe, features, horizon, indicator parameters,
thresholds and model family, as real ones would.

Target: 50 strategies load in under 2x the time of 1.

Usage: python -m bench.definitions_load [--counts 1,10,50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import write_results

TARGET_RATIO = 2.0
SYMBOLS = [f"SYN{chr(ord('A') + i)}" for i in range(5)]
FEATURE_CHOICES = (
    ["ret_1", "ret_1_lag1", "rsi", "bb_pctb"],
    ["momentum_5", "momentum_20", "range_atr", "volume_z"],
    ["ret_1", "volatility", "macd_norm", "macd_hist_norm", "bb_width"],
)
# Run in the fresh process: prints one JSON line.
PROBE = """
import json, sys, time
started = time.perf_counter()
from trade2026_assets.definitions import build_definitions
from trade2026_assets.settings import load_settings
imported = time.perf_counter()
definitions = build_definitions(load_settings())
repository = definitions.get_repository_def()
repository.get_all_jobs()
keys = repository.asset_graph.get_all_asset_keys()
done = time.perf_counter()
print(json.dumps({"import_s": imported - started, "load_s": done - imported,
                  "assets": len(keys), "sensors": len(repository.sensor_defs)}))
"""


def declaration(i: int) -> str:
    features = FEATURE_CHOICES[i % len(FEATURE_CHOICES)]
    family = "xgboost" if i % 2 == 0 else "logistic_regression"
    symbols = SYMBOLS[: 2 + i % 4]
    return (
        f"name: strategy_{i:03d}\n"
        f"universe: {{symbols: [{', '.join(symbols)}]}}\n"
        f"indicators: {{rsi_period: {10 + i % 3}}}\n"
        f"features: [{', '.join(features)}]\n"
        f"label: {{horizon: {1 + i % 3}}}\n"
        f"model: {{family: {family}}}\n"
        f"signal: {{buy_threshold: {0.55 + (i % 5) / 100:.2f}, sell_threshold: 0.45}}\n"
    )


def measure(count: int, repeats: int) -> dict[str, Any]:
    best: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "strategies"
        directory.mkdir()
        for i in range(count):
            (directory / f"strategy_{i:03d}.yaml").write_text(declaration(i))
        env = {
            **os.environ,
            "TRADE2026_HOME": str(Path(tmp) / "home"),
            "TRADE2026_STRATEGIES_DIR": str(directory),
            "TRADE2026_SYMBOLS": ",".join(SYMBOLS),
        }
        for _ in range(repeats):
            started = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", PROBE],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=300,
            ).stdout
            result = json.loads(out.strip().splitlines()[-1])
            result["total_s"] = time.perf_counter() - started
            if best is None or result["total_s"] < best["total_s"]:
                best = result
    assert best is not None
    return {"strategies": count, **best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,10,50")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    rows = [measure(count, args.repeats) for count in counts]
    reference = rows[0]["total_s"]
    header = ("strategies", "assets", "sensors", "total s", "ratio", "import s", "build s")
    print("{:>10} {:>7} {:>8} {:>8} {:>6} {:>9} {:>8}".format(*header))
    for row in rows:
        row["ratio_to_first"] = row["total_s"] / reference
        row["build_ratio_to_first"] = row["load_s"] / rows[0]["load_s"]
        print(
            f"{row['strategies']:>10} {row['assets']:>7} {row['sensors']:>8} "
            f"{row['total_s']:>8.2f} {row['ratio_to_first']:>6.2f} {row['import_s']:>9.2f} "
            f"{row['load_s']:>8.2f}"
        )
    worst = rows[-1]["ratio_to_first"]
    verdict = "met" if worst < TARGET_RATIO else "NOT met"
    print(
        f"target: {rows[-1]['strategies']} strategies < {TARGET_RATIO}x of "
        f"{rows[0]['strategies']}: {verdict} ({worst:.2f}x)"
    )
    path = write_results(
        "definitions_load", [*rows, {"target_ratio": TARGET_RATIO, "met": worst < TARGET_RATIO}]
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
