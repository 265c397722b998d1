"""Serving under load, against a minimal BentoML service measured in the same run.

Starts, in a temporary state directory, a registry process (SQLite) with three declared
strategies deployed, each model registered in the real MLflow store (alpha: XGBoost over
the ten default features; beta: a logistic regression; gamma: XGBoost over other
features), then three `bentoml serve` processes of 2 workers each, side by side:
- the reference, bench/minimal_service.py: one typed `@bentoml.api` taking rows of floats
  and returning their sums, with the server settings ours uses;
- ours serving alpha alone (a strategies directory of one declaration);
- ours serving alpha, beta and gamma (three followers, three live models per worker);
- for comparison only, the reference's twin with an `async def` API (BentoML runs a sync
  API in a thread, an async one on the event loop, as our route is).
Each is asked for one row of ten floats: the reference at /predict, ours at
/strategies/alpha/predict. Load comes from `wrk` over loopback, 16 connections: closed
loop (each connection sends its next request when the answer arrives: capacity), then
paced open loop at half the reference's capacity (each wrk thread keeps a timetable of
send slots, so a slow answer does not lower the offered rate: latency below capacity).
The services take turns, scenario by scenario, for `--rounds` rounds (in the listed order,
then reversed, so a drift of the machine's load favours none of them). Each ratio is taken
within a round, between runs seconds apart, and the verdict is the median of the rounds'
ratios (their range is printed): on a shared machine two runs a round apart differ more
than two services do. Before the load, each service's CPU while idle is measured (what its
background threads cost: three strategies' followers against one's).

Targets:
- ours, one strategy, closed loop: requests/s >= 0.9x the reference's;
- ours, one strategy, paced at half the reference's capacity: p99 <= 1.5x the reference's;
- three live strategies: alpha's closed-loop requests/s and paced p99 within 10% of the
  one-strategy service's (at most 10% fewer requests/s, at most 10% higher p99).

`--extended` then runs the earlier scenarios on the legacy routes (`/predict` of 1 and
1,000 rows and `/signal`, from a sequential client and with wrk at 1/16/64 connections;
swap propagation over NATS); a few minutes more.

Usage: python -m bench.serving [--seconds 5] [--rounds 3] [--extended [--swaps 20]]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import percentile, write_results
from bench.registry_load import DONE_LUA, paced, run_wrk
from scripts.harness.processes import descendants

NATS_URL = "nats://127.0.0.1:4222"
CONNECTIONS = 16
ROOT = Path(__file__).resolve().parents[1]
MINIMAL_TARGET = "bench.minimal_service:MinimalService"
# The same with an `async def` API (no thread hop): shown beside, not a target's reference.
MINIMAL_ASYNC_TARGET = "bench.minimal_service:MinimalAsyncService"
MINIMAL_ASYNC = "minimal, async def API (for comparison)"
# alpha is the one measured; beta and gamma are what else a worker serves (their
# followers poll the registry, their models are loaded).
DECLARATIONS = {
    "alpha": "name: alpha\nmodel: {family: xgboost}\n",
    "beta": (
        "name: beta\nmodel: {family: logistic_regression}\n"
        "features: [momentum_5, volume_z, range_atr, rsi, ret_1]\n"
    ),
    "gamma": (
        "name: gamma\nmodel: {family: xgboost}\n"
        "features: [ret_1, rsi, bb_pctb, volatility, momentum_20]\n"
    ),
}
# Seconds each service's idle CPU is sampled (all at once, before any load).
IDLE_SECONDS = 10
CAPACITY_RATIO = 0.9
PACED_P99_RATIO = 1.5
MANY_STRATEGIES_TOLERANCE = 0.10
EXTENDED_TARGETS = {
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

    from scripts.harness.strategy_models import mlflow_store

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


@dataclass
class Contestant:
    """One running service and the request it is measured with."""

    label: str
    url: str
    script: str
    pid: int | None = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="per scenario and service")
    parser.add_argument("--rounds", type=int, default=3, help="turns of every scenario")
    parser.add_argument("--extended", action="store_true", help="the legacy scenarios too")
    parser.add_argument("--swaps", type=int, default=20, help="with --extended")
    parser.add_argument("--calls", type=int, default=2000, help="with --extended")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("error: wrk is not installed (apt-get install wrk; `make bench` does)")
    if args.seconds < 1 or args.rounds < 1:
        raise SystemExit("error: --seconds and --rounds must be at least 1")
    compare(args)
    if args.extended:
        extended(args)


def compare(args: argparse.Namespace) -> None:
    from registry_service.client import RegistryClient
    from scripts.harness.registry import registry_process
    from scripts.harness.services import free_port
    from scripts.harness.serving import ServingProcess
    from scripts.harness.strategy_models import declared_entity, register_strategy_model
    from trade2026_assets.strategy.declaration import parse_declaration

    declarations = {
        name: parse_declaration(text, origin=f"{name}.yaml") for name, text in DECLARATIONS.items()
    }
    alpha = declarations["alpha"]
    row = [0.001] * len(alpha.features)
    body = json.dumps({"features": [row]})
    load_before = os.getloadavg()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        print("preparing models, registry and three services ...", flush=True)
        directories = {"one strategy": ["alpha"], "three strategies": list(DECLARATIONS)}
        for label, names in directories.items():
            directory = home / label.replace(" ", "_")
            directory.mkdir()
            for name in names:
                (directory / f"{name}.yaml").write_text(DECLARATIONS[name])
        uris = {
            name: register_strategy_model(home, declaration, seed=seed)
            for seed, (name, declaration) in enumerate(declarations.items(), start=1)
        }
        with (
            registry_process(home, free_port()) as (registry, key),
            RegistryClient(registry.url, api_key=key) as client,
        ):
            for name, declaration in declarations.items():
                version = uris[name].rsplit("/", 1)[1]
                entity = declared_entity(client, declaration, version)
                client.deploy(entity_id=entity, environment="production", deployed_by="bench")
            ours_env = {
                "TRADE2026_HOME": str(home),
                "SERVING_REGISTRY_URL": registry.url,
                "SERVING_REGISTRY_API_KEY": key,
                "SERVING_POLL_INTERVAL_S": "1",
                "BENTOML_HOME": str(home / "bentoml"),
            }
            services = {
                "minimal BentoML service (reference)": ServingProcess(
                    port=free_port(),
                    env={"BENTOML_HOME": str(home / "bentoml")},
                    log_file=home / "minimal.log",
                    target=MINIMAL_TARGET,
                    cwd=ROOT,
                ),
                **{
                    f"ours, {label}": ServingProcess(
                        port=free_port(),
                        env={
                            **ours_env,
                            "TRADE2026_STRATEGIES_DIR": str(home / label.replace(" ", "_")),
                        },
                        log_file=home / f"{label.replace(' ', '_')}.log",
                    )
                    for label in directories
                },
                MINIMAL_ASYNC: ServingProcess(
                    port=free_port(),
                    env={"BENTOML_HOME": str(home / "bentoml")},
                    log_file=home / "minimal_async.log",
                    target=MINIMAL_ASYNC_TARGET,
                    cwd=ROOT,
                ),
            }
            with contextlib.ExitStack() as stack:
                contestants = []
                for label, process in services.items():
                    stack.enter_context(process)
                    ours = label.startswith("ours,")
                    path = f"{alpha.route}/predict" if ours else "/predict"
                    pid = process.process.pid if process.process else None
                    contestants.append(Contestant(label, process.url, lua_post(path, body), pid))
                for (label, process), contestant in zip(services.items(), contestants, strict=True):
                    process.wait_ready()
                    answers_alpha(contestant.url, lua_path(contestant.script), body, label)
                idle = idle_cpu(contestants, IDLE_SECONDS)
                print("warming up ...", flush=True)
                for contestant in contestants:
                    run_wrk(contestant.url, contestant.script, connections=CONNECTIONS, seconds=2)
                runs += take_turns(contestants, args, mode="closed loop", rate=None)
                reference = contestants[0].label
                capacity = statistics.median(r["rps"] for r in runs if r["service"] == reference)
                pace = round(capacity / 2)
                runs += take_turns(contestants, args, mode="paced", rate=pace)
    load_after = os.getloadavg()
    summary = summarize(runs, [c.label for c in contestants], pace)
    print_runs(runs)
    print()
    print_summary(summary)
    print()
    print(f"idle CPU over {IDLE_SECONDS} s (all processes of a service, % of one core):")
    for label, percent in idle.items():
        print(f"  {label:<42}{percent:>6.2f} %")
    load = {"before": load_before, "after": load_after}
    before, after = (" ".join(f"{x:.2f}" for x in at) for at in (load_before, load_after))
    print(f"load average (1, 5, 15 min) before: {before}; after: {after}")
    results = write_results(
        "serving",
        summary,
        runs=runs,
        idle_cpu_percent=idle,
        load_average=load,
        seconds=args.seconds,
        rounds=args.rounds,
        connections=CONNECTIONS,
        cpus=os.cpu_count(),
    )
    print(f"results: {results}")


def lua_path(script: str) -> str:
    return script.split('wrk.path = "', 1)[1].split('"', 1)[0]


def answers_alpha(url: str, path: str, body: str, label: str) -> None:
    """Fresh connections (spread over both workers) answer 200 twenty times in a row: each
    worker is up and, for ours, serves alpha's live model."""
    import httpx

    headers = {"content-type": "application/json"}
    deadline = time.monotonic() + 60
    streak = 0
    last = ""
    while streak < 20:
        if time.monotonic() > deadline:
            raise SystemExit(f"{label}: {path} does not answer: {last}")
        answer = httpx.post(f"{url}{path}", content=body, headers=headers, timeout=10)
        last = f"{answer.status_code} {answer.text[:300]}"
        streak = streak + 1 if answer.status_code == 200 else 0
        time.sleep(0.02)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its descendants so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for each in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def idle_cpu(contestants: list[Contestant], seconds: float) -> dict[str, float]:
    """Each service's CPU, in % of one core, over `seconds` with no request: what its
    background threads (for ours, the registry followers) take from the requests."""
    started = {c.label: cpu_seconds(c.pid) for c in contestants if c.pid}
    begin = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - begin
    return {
        c.label: round((cpu_seconds(c.pid) - started[c.label]) / elapsed * 100, 2)
        for c in contestants
        if c.pid
    }


def take_turns(
    contestants: list[Contestant], args: argparse.Namespace, *, mode: str, rate: float | None
) -> list[dict[str, Any]]:
    """Each scenario on each service in turn, `args.rounds` times."""
    runs = []
    for turn in range(1, args.rounds + 1):
        for contestant in contestants if turn % 2 else contestants[::-1]:
            script = contestant.script
            if rate is not None:
                script = paced(script, connections=CONNECTIONS, rate=rate)
            result = run_wrk(contestant.url, script, connections=CONNECTIONS, seconds=args.seconds)
            runs.append(
                {
                    "service": contestant.label,
                    "mode": mode,
                    "offered_rps": rate,
                    "round": turn,
                    "connections": CONNECTIONS,
                    **result,
                }
            )
            print(
                f"  {mode:<12} round {turn}  {contestant.label:<42}"
                f"{result['rps']:>8,.0f} req/s  p99 {result['p99_ms']:7.2f} ms",
                flush=True,
            )
    return runs


def summarize(runs: list[dict[str, Any]], labels: list[str], pace: float) -> list[dict[str, Any]]:
    """Per service and mode, the medians over the rounds; then the targets' ratios (the
    median of the ratios within each round)."""
    rows = []
    for mode in ("closed loop", "paced"):
        for label in labels:
            mine = [r for r in runs if r["service"] == label and r["mode"] == mode]
            figures = {
                key: statistics.median(r[key] for r in mine) for key in ("rps", "p50_ms", "p99_ms")
            }
            rows.append(
                {
                    "service": label,
                    "mode": mode,
                    "offered_rps": pace if mode == "paced" else None,
                    "connections": CONNECTIONS,
                    **figures,
                    "errors": sum(r["errors"] for r in mine),
                    "rounds": len(mine),
                }
            )
    reference, one, three, *others = labels

    def paired(numerator: str, denominator: str, mode: str, key: str) -> list[float]:
        """The ratio within each round (runs seconds apart, under the same load)."""
        by_round = {
            (r["service"], r["round"]): r[key]
            for r in runs
            if r["mode"] == mode and r["service"] in (numerator, denominator)
        }
        rounds = sorted({r for (_, r) in by_round})
        return [by_round[(numerator, r)] / by_round[(denominator, r)] for r in rounds]

    checks = [
        (
            "one strategy / reference, closed-loop req/s",
            paired(one, reference, "closed loop", "rps"),
            ">=",
            CAPACITY_RATIO,
        ),
        (
            "one strategy / reference, paced p99",
            paired(one, reference, "paced", "p99_ms"),
            "<=",
            PACED_P99_RATIO,
        ),
        (
            "three strategies / one, closed-loop req/s",
            paired(three, one, "closed loop", "rps"),
            ">=",
            1 - MANY_STRATEGIES_TOLERANCE,
        ),
        (
            "three strategies / one, paced p99",
            paired(three, one, "paced", "p99_ms"),
            "<=",
            1 + MANY_STRATEGIES_TOLERANCE,
        ),
    ]
    for name, ratios, op, bound in checks:
        ratio = statistics.median(ratios)
        met = ratio >= bound if op == ">=" else ratio <= bound
        rows.append(
            {
                "ratio": name,
                "value": ratio,
                "rounds": [round(r, 3) for r in ratios],
                "target": f"{op} {bound:.2f}",
                "met": met,
            }
        )
    for other in others:
        for mode, key, what in (
            ("closed loop", "rps", "closed-loop req/s"),
            ("paced", "p99_ms", "paced p99"),
        ):
            ratios = paired(one, other, mode, key)
            name = f"one strategy / {other.split(' (')[0]}, {what}"
            rows.append(
                {
                    "ratio": name,
                    "value": statistics.median(ratios),
                    "rounds": [round(r, 3) for r in ratios],
                    "target": None,
                    "met": None,
                }
            )
    return rows


def print_runs(runs: list[dict[str, Any]]) -> None:
    header = (
        f"{'service':<42}{'mode':<13}{'round':>6}{'offered':>9}{'req/s':>9}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        offered = f"{run['offered_rps']:,.0f}" if run["offered_rps"] else ""
        print(
            f"{run['service']:<42}{run['mode']:<13}{run['round']:>6}{offered:>9}"
            f"{run['rps']:>9,.0f}{run['p50_ms']:>9.2f}{run['p99_ms']:>9.2f}{run['errors']:>8}"
        )


def print_summary(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'service (median of the rounds)':<42}{'mode':<13}{'offered':>9}{'req/s':>9}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        if "ratio" in row:
            continue
        offered = f"{row['offered_rps']:,.0f}" if row["offered_rps"] else ""
        print(
            f"{row['service']:<42}{row['mode']:<13}{offered:>9}{row['rps']:>9,.0f}"
            f"{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}{row['errors']:>8}"
        )
    print()
    for row in rows:
        if "ratio" in row:
            verdict = "met" if row["met"] else "MISSED"
            target = f"  target {row['target']}: {verdict}" if row["target"] else ""
            spread = f" ({min(row['rounds']):.2f}-{max(row['rounds']):.2f})"
            print(f"{row['ratio']:<52}{row['value']:>6.2f}x{spread:<13}{target}")


def extended(args: argparse.Namespace) -> None:
    """The earlier scenarios, on the legacy routes of the default strategy."""

    import httpx

    from registry_service.client import RegistryClient
    from scripts.harness.dagster_runs import run_market_data_job
    from scripts.harness.registry import registry_process
    from scripts.harness.services import delete_stream, free_port
    from scripts.harness.serving import serving_process
    from scripts.harness.strategy_models import register_models, strategy_entity
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
        target = EXTENDED_TARGETS.get((row["scenario"], row["clients"]))
        if row["scenario"].startswith("swap propagation"):
            target = ("p99_ms", 2000.0)
        row["target"] = f"{target[0]} <= {target[1]}" if target else None
        row["met"] = None if target is None else row[target[0]] <= target[1]
    print_table(rows)
    print(f"results: {write_results('serving_extended', rows)}")


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
