"""Soak: the production-profile stack (scripts/harness/production.py: registry on PostgreSQL
with events over NATS, MLflow tracking server on PostgreSQL, Feast online store on Redis,
Dagster instance on PostgreSQL, `bentoml serve` with 2 workers) under a steady, bounded
loopback load, with a swap every minute.

Load (each paced, one client each), on the default strategy's routes
(`/strategies/default_ml_strategy/...`): `/signal` for every symbol at 10 req/s, `/predict` one
row at 20 req/s, registry reads (`GET /entities/{id}` and the live slot) at 10 req/s. Every
`--swap-every` seconds the production slot swaps between two trained models, and the swap
must be acknowledged by both serving workers within 15 s. At the end: every failed
request, every ERROR or traceback in the servers' logs, and each server's resident memory
(its whole process tree) after the warm-up and at the end.

Usage: python -m bench.soak [--minutes 10] [--swap-every 60]
"""

from __future__ import annotations

import argparse
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.common import write_default_strategy, write_results
from registry_service.client import RegistryClientError
from scripts.harness.dagster_runs import run_job, run_market_data_job
from scripts.harness.production import ProductionStack, production_stack
from serving.settings import WORKERS
from trade2026_assets.definitions import build_definitions
from trade2026_assets.strategy.declaration import DEFAULT_STRATEGY

SYMBOLS = ["SYNA", "SYNB"]
ROW = [0.001, 0.0005, -0.002, 0.004, 55.0, 0.001, 0.0008, 0.0002, 0.6, 0.03]
LOG_PROBLEM = re.compile(r"\bERROR\b|Traceback|\bCRITICAL\b")
WARM_UP_S = 10.0


@dataclass
class Load:
    name: str
    rate: float
    sent: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    started_at: float = 0.0

    def run(self, call: Callable[[httpx.Client], httpx.Response], stop: threading.Event) -> None:
        interval = 1.0 / self.rate
        next_at = self.started_at = time.monotonic()
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                self.sent += 1
                try:
                    response = call(client)
                    if response.status_code != 200:
                        self._fail(f"{response.status_code}: {response.text[:200]}")
                    elif self.name == "/signal" and response.json().get("errors"):
                        # A signal answer that lacks a symbol's signal is a failure too.
                        self._fail(f"200 with errors: {response.json()['errors']}")
                except httpx.HTTPError as exc:
                    self._fail(f"{type(exc).__name__}: {exc}")
                next_at += interval
                stop.wait(max(0.0, next_at - time.monotonic()))

    def _fail(self, what: str) -> None:
        self.failed += 1
        if len(self.failures) < 10:
            # When, too: a failure at the start and one at a swap have different causes.
            self.failures.append(f"at {time.monotonic() - self.started_at:.1f} s: {what}")


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (BentoML's workers, uvicorn's)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return round(total / 2**20, 1)


def log_problems(logs: dict[str, Path]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, path in logs.items():
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        bad = [line for line in lines if LOG_PROBLEM.search(line)]
        if bad:
            found[name] = bad[:10]
    return found


def prepare(prod: ProductionStack) -> tuple[str, str]:
    """Market data, two trained models of the default strategy (a 5-tree one, then the
    declared one), A live in production and B staged; their ids."""
    assert run_market_data_job(prod.defs, SYMBOLS, instance=prod.instance).success
    declaration = prod.settings.strategies()[DEFAULT_STRATEGY]
    versions = []
    for changes in ({"model": {"params": {"num_boost_round": 5}}}, {}):
        write_default_strategy(prod.settings.strategies_dir, changes)
        outcome = run_job(
            build_definitions(prod.settings), declaration.training_job, instance=prod.instance
        )
        if not outcome.success:
            raise RuntimeError(f"training failed: {outcome.failures}")
        versions.append(str(outcome.metadata_of[f"{DEFAULT_STRATEGY}/model"]["model_version"]))
    ids = []
    for version, model_version in zip(("1.0.0", "1.1.0"), versions, strict=True):
        entity = prod.registry.create_entity(
            name=declaration.entity_name,
            type="strategy",
            version=version,
            config=declaration.entity_config(model_version),
        )
        ids.append(str(entity.entity_id))
    prod.registry.deploy(entity_id=ids[0], environment="production", deployed_by="soak")
    prod.registry.deploy(entity_id=ids[1], environment="staging", deployed_by="soak")
    prod.serving.wait_ready()
    return ids[0], ids[1]


def swap_loop(
    prod: ProductionStack,
    ids: tuple[str, str],
    every_s: float,
    stop: threading.Event,
    outcome: dict[str, Any],
) -> None:
    live, other = ids
    while not stop.wait(every_s):
        try:
            swap = prod.registry.swap(
                from_entity_id=live, to_entity_id=other, reason="soak", initiated_by="soak"
            )
            deadline = time.monotonic() + 15
            while len(acks := prod.registry.get_swap(str(swap.swap_id)).acks) < WORKERS:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"swap {swap.swap_id}: {len(acks)} of {WORKERS} acks")
                time.sleep(0.1)
            if not all(ack.success for ack in acks):
                raise RuntimeError(f"swap {swap.swap_id}: failed ack {acks}")
            detail = prod.registry.get_swap(str(swap.swap_id))
            outcome["swaps"] += 1
            outcome["propagation_ms"].append(detail.propagation_ms)
            live, other = other, live
        except (RegistryClientError, httpx.HTTPError, TimeoutError, RuntimeError) as exc:
            # A failed swap is a soak failure: recorded and reported, the load goes on.
            outcome["swap_failures"].append(f"{type(exc).__name__}: {exc}")


def soak(home: Path, *, seconds: float, swap_every_s: float) -> dict[str, Any]:
    strategies = write_default_strategy(home / "strategies")
    # 4,000 bars a symbol: on fewer, the walk-forward gates (rightly) pass neither model.
    with production_stack(
        home, symbols=SYMBOLS, synthetic_bars=4000, serving_poll_s=1.0, strategies_dir=strategies
    ) as prod:
        ids = prepare(prod)
        registry = prod.registry_process.url
        serving = f"{prod.serving.url}/strategies/{DEFAULT_STRATEGY}"
        headers = {"Authorization": f"Bearer {prod.api_key}"}
        loads = [
            (Load("/signal", 10), lambda c: c.post(f"{serving}/signal", json={"symbols": SYMBOLS})),
            (
                Load("/predict", 20),
                lambda c: c.post(f"{serving}/predict", json={"features": [ROW]}),
            ),
            (
                Load("registry reads", 10),
                lambda c: c.get(f"{registry}/api/v1/entities/{ids[0]}", headers=headers),
            ),
            (
                Load("registry live slot", 5),
                lambda c: c.get(
                    f"{registry}/api/v1/slots/production/{DEFAULT_STRATEGY}/live",
                    headers=headers,
                ),
            ),
        ]
        stop = threading.Event()
        swaps: dict[str, Any] = {"swaps": 0, "propagation_ms": [], "swap_failures": []}
        threads = [
            threading.Thread(target=load.run, args=(call, stop), daemon=True)
            for load, call in loads
        ]
        threads.append(
            threading.Thread(
                target=swap_loop, args=(prod, ids, swap_every_s, stop, swaps), daemon=True
            )
        )
        for thread in threads:
            thread.start()
        time.sleep(WARM_UP_S)
        pids = prod.processes()
        rss_start = {name: tree_rss_mb(pid) for name, pid in pids.items()}
        started = time.monotonic()
        time.sleep(max(0.0, seconds - WARM_UP_S))
        rss_end = {name: tree_rss_mb(pid) for name, pid in pids.items()}
        stop.set()
        for thread in threads:
            thread.join(30)
        elapsed = time.monotonic() - started + WARM_UP_S
        problems = log_problems(prod.logs)
    return {
        "seconds": round(elapsed, 1),
        "loads": [
            {
                "name": load.name,
                "rate": load.rate,
                "sent": load.sent,
                "failed": load.failed,
                "failures": load.failures,
            }
            for load, _ in loads
        ],
        "swaps": swaps["swaps"],
        "swap_failures": swaps["swap_failures"],
        "propagation_ms_max": max(swaps["propagation_ms"], default=None),
        "rss_mb_start": rss_start,
        "rss_mb_end": rss_end,
        "log_problems": problems,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--swap-every", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = soak(Path(tmp), seconds=args.minutes * 60, swap_every_s=args.swap_every)
    print(f"soak: {result['seconds']:.0f} s, {result['swaps']} swaps")
    print(f"{'load':<20} {'rate/s':>7} {'sent':>8} {'failed':>7}")
    for load in result["loads"]:
        print(f"{load['name']:<20} {load['rate']:>7.0f} {load['sent']:>8} {load['failed']:>7}")
    print(f"{'process':<20} {'RSS start MB':>13} {'RSS end MB':>11}")
    for name, start in result["rss_mb_start"].items():
        print(f"{name:<20} {start:>13.1f} {result['rss_mb_end'][name]:>11.1f}")
    print(f"swap failures: {result['swap_failures'] or 'none'}")
    print(f"max swap propagation: {result['propagation_ms_max']} ms")
    print(f"log problems: {result['log_problems'] or 'none'}")
    print(f"results: {write_results('soak', [result])}")


if __name__ == "__main__":
    main()
