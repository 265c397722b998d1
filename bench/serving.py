"""Serving under load: `/predict` (1 row, 1,000 rows) at 1, 16 and 64 concurrent clients,
`/signal` for one symbol, and swap propagation (registry commit → a worker serving).

Starts the real stack in a temporary state directory: two models registered in MLflow,
the online features of one symbol (the market-data job), the registry (SQLite, its outbox
relayed to NATS), `bentoml serve` with 2 workers following it (NATS events and a 1 s
poll). Load comes from `wrk` over loopback (closed loop: each connection sends its next
request when the answer arrives), and paced open loop at 100 and 250 req/s over 16
connections (latency below capacity). References measured in the same run: `GET /livez`
(BentoML's HTTP floor, no model) and `inplace_predict` of one row in-process. The same
requests also go one at a time from a Python client (`sequential`), as the issue's anchor
was measured.
Targets: /predict 1 row p99 <= 5 ms at 16 clients; /signal p99 <= 10 ms; propagation
p99 <= 2 s; no errors.

Usage: python -m bench.serving [--seconds 5] [--swaps 20]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import percentile, write_results
from bench.registry_load import DONE_LUA, paced, run_wrk

NATS_URL = "nats://127.0.0.1:4222"
TARGETS = {
    ("/predict 1 row", 16): ("p99_ms", 5.0),
    ("/signal 1 symbol, sequential client", 1): ("p99_ms", 10.0),
    ("/signal 1 symbol", 1): ("p99_ms", 10.0),
}


def lua_post(path: str, body: str) -> str:
    return (
        f'wrk.method = "POST"\nwrk.path = "{path}"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n' + DONE_LUA
    )


def lua_get(path: str) -> str:
    return f'wrk.path = "{path}"\n' + DONE_LUA


def sequential(url: str, body: str, calls: int) -> dict[str, float]:
    """One client, one request at a time (the issue's anchor was measured this way)."""
    import httpx

    headers = {"content-type": "application/json"}
    with httpx.Client(timeout=10) as client:
        for _ in range(100):
            client.post(url, content=body, headers=headers)
        samples = []
        errors = 0
        started = time.perf_counter()
        for _ in range(calls):
            start = time.perf_counter_ns()
            response = client.post(url, content=body, headers=headers)
            samples.append((time.perf_counter_ns() - start) / 1e6)
            errors += response.status_code != 200
        elapsed = time.perf_counter() - started
    return {
        "requests": calls,
        "rps": calls / elapsed,
        "p50_ms": percentile(samples, 50),
        "p99_ms": percentile(samples, 99),
        "errors": errors,
    }


def inplace_reference(home: Path, uri: str, calls: int = 5000) -> dict[str, float]:
    import mlflow.xgboost

    from tests.serving.stack import mlflow_store

    with mlflow_store(home) as mlflow:
        booster = mlflow.xgboost.load_model(uri)
    row = np.zeros((1, 10), dtype=np.float32)
    for _ in range(200):
        booster.inplace_predict(row)
    samples = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        booster.inplace_predict(row)
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return {"p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--swaps", type=int, default=20)
    parser.add_argument("--calls", type=int, default=2000, help="sequential calls per row")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("error: wrk is not installed (apt-get install wrk; `make bench` does)")

    import httpx

    from registry_service.client import RegistryClient
    from tests.conftest import delete_stream, free_port
    from tests.serving.stack import (
        register_models,
        registry_process,
        serving_process,
        strategy_entity,
    )
    from tests.trade2026_assets.dagster_runs import run_market_data_job
    from trade2026_assets.definitions import build_definitions
    from trade2026_assets.settings import AssetsSettings

    token = uuid.uuid4().hex[:10]
    stream, prefix = f"T26BENCH_{token}", f"t26bench.{token}"
    rows: list[dict[str, Any]] = []
    propagation: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        print("preparing models, features, registry and serving ...", flush=True)
        uris = register_models(home, 2)
        settings = AssetsSettings(home=home, symbols="SYNA", synthetic_bars=300)
        assert run_market_data_job(build_definitions(settings), ["SYNA"]).success
        registry_env = {
            "NATS_URL": NATS_URL,
            "REGISTRY_NATS_STREAM": stream,
            "REGISTRY_NATS_SUBJECT_PREFIX": prefix,
            "REGISTRY_RELAY_INTERVAL_SECONDS": "0.05",
        }
        serving_env = {
            "SERVING_POLL_INTERVAL_S": "1",
            "SERVING_NATS_URL": NATS_URL,
            "SERVING_NATS_SUBJECT_PREFIX": prefix,
        }
        try:
            with (
                registry_process(home, free_port(), registry_env) as (registry, key),
                RegistryClient(registry.url, api_key=key) as client,
            ):
                live, other = (
                    strategy_entity(client, f"1.0.{i}", uri) for i, uri in enumerate(uris)
                )
                client.deploy(entity_id=live, environment="production", deployed_by="bench")
                client.deploy(entity_id=other, environment="staging", deployed_by="bench")
                with serving_process(
                    home,
                    port=free_port(),
                    registry_url=registry.url,
                    api_key=key,
                    extra_env=serving_env,
                ) as serving:
                    serving.wait_ready()
                    time.sleep(2)
                    one = json.dumps({"features": [[0.001] * 10]})
                    batch = json.dumps({"features": np.full((1000, 10), 0.001).tolist()})
                    signal = json.dumps({"symbols": ["SYNA"]})
                    check = httpx.post(f"{serving.url}/signal", content=signal, timeout=10)
                    assert check.json()["signals"], check.text
                    scenarios = [
                        ("GET /livez (reference)", lua_get("/livez"), (1, 16, 64)),
                        ("/predict 1 row", lua_post("/predict", one), (1, 16, 64)),
                        ("/predict 1,000 rows", lua_post("/predict", batch), (1, 16, 64)),
                        ("/signal 1 symbol", lua_post("/signal", signal), (1, 16)),
                    ]
                    for name, path, body in (
                        ("/predict 1 row", "/predict", one),
                        ("/predict 1,000 rows", "/predict", batch),
                        ("/signal 1 symbol", "/signal", signal),
                    ):
                        result = sequential(f"{serving.url}{path}", body, args.calls)
                        rows.append(
                            {"scenario": f"{name}, sequential client", "clients": 1, **result}
                        )
                    for name, script, concurrencies in scenarios:
                        for clients in concurrencies:
                            result = run_wrk(
                                serving.url, script, connections=clients, seconds=args.seconds
                            )
                            rows.append({"scenario": name, "clients": clients, **result})
                            print(f"  {name} x{clients}: {result['p99_ms']:.2f} ms p99", flush=True)
                    # Open loop: 16 connections offering a fixed rate, well under capacity.
                    for rate in (100, 250):
                        script = paced(lua_post("/predict", one), connections=16, rate=rate)
                        result = run_wrk(serving.url, script, connections=16, seconds=args.seconds)
                        name = f"/predict 1 row, paced at {rate} req/s"
                        rows.append({"scenario": name, "clients": 16, **result})
                    for i in range(args.swaps):
                        swap = client.swap(
                            from_entity_id=live,
                            to_entity_id=other,
                            reason=f"bench {i}",
                            initiated_by="bench",
                        )
                        deadline = time.monotonic() + 30
                        while len(acks := client.get_swap(str(swap.swap_id)).acks) < 2:
                            if time.monotonic() > deadline:
                                raise SystemExit(f"swap {i}: not acknowledged by both workers")
                            time.sleep(0.02)
                        if not all(ack.success for ack in acks):
                            raise SystemExit(f"swap {i}: a worker failed to switch: {acks}")
                        propagation.append(max(ack.propagation_ms or 0.0 for ack in acks))
                        live, other = other, live
                        time.sleep(0.2)
                reference = inplace_reference(home, uris[0])
        finally:
            delete_stream(stream, NATS_URL)

    rows.append(
        {
            "scenario": "swap propagation (commit → last worker serving)",
            "clients": 0,
            "requests": len(propagation),
            "p50_ms": statistics.median(propagation),
            "p99_ms": percentile(propagation, 99) if len(propagation) > 1 else propagation[0],
            "errors": 0,
        }
    )
    rows.append(
        {"scenario": "inplace_predict 1 row, in-process (reference)", "clients": 0, **reference}
    )
    for row in rows:
        target = TARGETS.get((row["scenario"], row["clients"]))
        if row["scenario"].startswith("swap propagation"):
            target = ("p99_ms", 2000.0)
        row["target"] = f"{target[0]} <= {target[1]}" if target else None
        row["met"] = None if target is None else row[target[0]] <= target[1]
    print_table(rows)
    print(f"results: {write_results('serving', rows)}")


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'scenario':<48}{'clients':>8}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}"
        f"{'errors':>8}  target"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        rps = f"{row['rps']:,.0f}" if "rps" in row else ""
        clients = str(row["clients"]) if row["clients"] else ""
        target = ""
        if row["target"]:
            target = f"{row['target']}: {'met' if row['met'] else 'MISSED'}"
        print(
            f"{row['scenario']:<48}{clients:>8}{rps:>10}{row['p50_ms']:>10.2f}"
            f"{row['p99_ms']:>10.2f}{row.get('errors', 0):>8}  {target}"
        )


if __name__ == "__main__":
    main()
