"""Swap latency: request to committed response, on SQLite and PostgreSQL.

One client on loopback swaps a production slot back and forth `--swaps` times (the engine's
real path: locks, validation, two deployment writes, history, events) and sends as many
`validate_only` requests. Latency is measured at the client; the swap rows' own
`duration_ms` (start to commit inside the server) is reported beside it. A GET /health
from the same client is the same-run reference. Target: p99 under 50 ms.
Prints a table and writes bench/results/swap_latency.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import httpx

from bench.common import percentile, registry_for, write_results

TARGET_P99_MS = 50.0


def timed(http: httpx.Client, method: str, path: str, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    response = http.request(method, path, **kwargs)
    elapsed = (time.perf_counter() - start) * 1000
    response.raise_for_status()
    return elapsed, response.json()


def summarize(backend: str, scenario: str, samples: list[float], ref_p50: float) -> dict[str, Any]:
    p99 = percentile(samples, 99)
    return {
        "backend": backend,
        "scenario": scenario,
        "n": len(samples),
        "p50_ms": percentile(samples, 50),
        "p99_ms": p99,
        "max_ms": max(samples),
        "p50_ratio_to_reference": percentile(samples, 50) / ref_p50,
        "meets_target": p99 < TARGET_P99_MS if scenario != "GET /health (reference)" else None,
    }


def bench_backend(backend: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    with (
        registry_for(backend, port=args.port) as (server, key),
        httpx.Client(
            base_url=f"{server.url}/api/v1",
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        ) as http,
    ):
        ids = []
        for version in ("1.0.0", "1.0.1"):
            _, entity = timed(
                http,
                "POST",
                "/entities",
                json={
                    "name": "bench_slot",
                    "type": "strategy",
                    "version": version,
                    "config": {"model_uri": f"models:/bench_slot/{version}"},
                },
            )
            timed(http, "PATCH", f"/entities/{entity['entity_id']}", json={"status": "validated"})
            ids.append(entity["entity_id"])
        timed(
            http,
            "POST",
            "/deployments",
            json={"entity_id": ids[0], "environment": "production", "deployed_by": "bench"},
        )

        reference = [timed(http, "GET", f"{server.url}/health")[0] for _ in range(args.swaps)]
        swaps, server_ms, validations = [], [], []
        live, other = ids
        for i in range(args.swaps):
            body = {
                "from_entity_id": live,
                "to_entity_id": other,
                "reason": f"bench {i}",
                "initiated_by": "bench",
                "swap_type": "automatic",
            }
            elapsed, swap = timed(http, "POST", "/swaps", json=body)
            swaps.append(elapsed)
            server_ms.append(swap["duration_ms"])
            elapsed, answer = timed(
                http,
                "POST",
                "/swaps",
                json={**body, "from_entity_id": other, "to_entity_id": live, "validate_only": True},
            )
            if not answer["valid"]:
                raise RuntimeError(f"validation unexpectedly failed: {answer['errors']}")
            validations.append(elapsed)
            live, other = other, live
    ref_p50 = percentile(reference, 50)
    return [
        summarize(backend, "GET /health (reference)", reference, ref_p50),
        summarize(backend, "POST /swaps", swaps, ref_p50),
        summarize(backend, "POST /swaps validate_only", validations, ref_p50),
        summarize(backend, "swap duration_ms (server)", server_ms, ref_p50),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description="Swap latency on SQLite and PostgreSQL")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--swaps", type=int, default=500)
    parser.add_argument("--port", type=int, default=8392)
    args = parser.parse_args()
    header = (
        f"{'backend':<10} {'scenario':<28} {'n':>5} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7} {'x ref':>6}  target"
    )
    print(header)
    rows = []
    for backend in args.backends.split(","):
        for row in bench_backend(backend.strip(), args):
            rows.append(row)
            target = {True: "met", False: "MISSED", None: ""}[row["meets_target"]]
            print(
                f"{row['backend']:<10} {row['scenario']:<28} {row['n']:>5} "
                f"{row['p50_ms']:>7.2f} {row['p99_ms']:>7.2f} {row['max_ms']:>7.2f} "
                f"{row['p50_ratio_to_reference']:>6.1f}  {target}",
                flush=True,
            )
    print(f"results written to {write_results('swap_latency', rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
