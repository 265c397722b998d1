"""Online feature reads in-process: Feast's `get_online_features` for 1 and 100 symbols on
Redis and SQLite, and serving's `OnlineFeatureReader` on top of it.

The targets judge Feast's call and our reader (which reads the response's protobuf
directly); `+ to_dict()` is the seed's way of reading the answer, shown for comparison.
Each store is filled the way the pipeline fills it (serving rows of synthetic bars, applied
and materialized by FeatureStoreResource). Every timing is p50/p99 over `--calls` calls
after a warm-up. The reference, measured in the same run, is the bare store read of the
same rows (one Redis HGETALL per key in a pipeline; one SQLite SELECT): the ratio is what
Feast and our reader add. Targets (Redis): p99 <= 1 ms for 1 symbol, <= 10 ms for 100.

Usage: python -m bench.online_features [--calls 2000] [--redis 127.0.0.1:6379]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import percentile, write_results

TARGET_P99_MS = {1: 1.0, 100: 10.0}
BARS = 120
# One strategy's service over the seed's ten features, on the default indicator set.
SERVICE = "bench_strategy"


def timed(call: Callable[[], object], calls: int, warmup: int = 200) -> dict[str, float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return {"p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99)}


def filled_store(kind: str, home: Path, redis: str, symbols: list[str]) -> Any:
    import polars as pl

    from trade2026_assets.defs.market_data.resource import MarketDataResource
    from trade2026_assets.feature_catalog import DEFAULT_FEATURES
    from trade2026_assets.feature_store.frame import FEATURE_VIEW, serving_frame
    from trade2026_assets.feature_store.resource import FeatureStoreResource
    from trade2026_assets.technical_indicators import compute_indicators

    resource = FeatureStoreResource(
        repo_path=str(Path(__file__).resolve().parents[1] / "feature_repo"),
        state_dir=str(home / kind),
        project=f"bench_{uuid.uuid4().hex[:8]}",
        redis_connection=redis if kind == "redis" else "",
    )
    bars = MarketDataResource(n_bars=BARS).bars(symbols)
    serving = serving_frame(
        compute_indicators(bars.select("symbol", "ts", "close", "high", "low", "volume")),
        created_at=datetime.now(UTC),
    )
    resource.export_offline(serving, symbols)
    resource.apply({SERVICE: DEFAULT_FEATURES})
    latest = serving.get_column("ts").max()
    assert isinstance(latest, datetime)
    start = serving.group_by("symbol").agg(pl.col("ts").max())["ts"].min()
    assert isinstance(start, datetime)
    resource.store().materialize(
        start_date=start, end_date=latest + timedelta(seconds=1), feature_views=[FEATURE_VIEW]
    )
    return resource


def bare_reader(kind: str, resource: Any, redis: str) -> Callable[[int], Callable[[], object]]:
    """The store read without Feast, for `n` of the materialized entities."""
    from trade2026_assets.feature_store.frame import FEATURE_VIEW

    if kind == "redis":
        import redis as redis_client

        host, port = redis.split(",")[0].split(":")
        client = redis_client.Redis(host=host, port=int(port), socket_timeout=5)
        keys = list(client.scan_iter(b"*" + resource.project.encode()))

        def redis_read(n: int) -> Callable[[], object]:
            def read() -> object:
                pipe = client.pipeline(transaction=False)
                for key in keys[:n]:
                    pipe.hgetall(key)
                return pipe.execute()

            return read

        return redis_read
    connection = sqlite3.connect(Path(resource.state_dir) / "online.db")
    table = f"{resource.project}_{FEATURE_VIEW}"
    # A table name cannot be a bound parameter; it is built from our own project name.
    keys = [row[0] for row in connection.execute(f"SELECT DISTINCT entity_key FROM {table}")]  # noqa: S608

    def sqlite_read(n: int) -> Callable[[], object]:
        marks = ",".join("?" * n)
        sql = f"SELECT entity_key, feature_name, value, event_ts FROM {table} WHERE entity_key IN ({marks})"  # noqa: S608, E501

        def read() -> object:
            return connection.execute(sql, keys[:n]).fetchall()

        return read

    return sqlite_read


def measure(
    kind: str,
    store: Any,
    reader: Any,
    bare: Callable[[int], Callable[[], object]],
    wanted: list[str],
    calls: int,
) -> list[dict[str, Any]]:
    from trade2026_assets.feature_catalog import DEFAULT_FEATURES
    from trade2026_assets.feature_store.frame import ENTITY, INDICATOR_SET_ENTITY
    from trade2026_assets.technical_indicators import IndicatorParams

    service = store.get_feature_service(SERVICE)
    indicator_set = IndicatorParams().indicator_set()
    entity_rows = [{ENTITY: symbol, INDICATOR_SET_ENTITY: indicator_set} for symbol in wanted]
    n = len(wanted)
    measured = {
        "bare store read": timed(bare(n), calls),
        "feast get_online_features": timed(
            lambda: store.get_online_features(features=service, entity_rows=entity_rows),
            calls,
        ),
        "  + to_dict()": timed(
            lambda: store.get_online_features(features=service, entity_rows=entity_rows).to_dict(
                include_event_timestamps=True
            ),
            calls,
        ),
        "OnlineFeatureReader.get": timed(
            lambda: reader.get(wanted, indicator_set=indicator_set, features=DEFAULT_FEATURES),
            calls,
        ),
    }
    answer = reader.get(wanted, indicator_set=indicator_set, features=DEFAULT_FEATURES)
    assert len(answer.found) == n, answer.problems
    reference = measured["bare store read"]["p99_ms"]
    rows = []
    for what, timing in measured.items():
        judged = what in ("feast get_online_features", "OnlineFeatureReader.get")
        target = TARGET_P99_MS[n] if kind == "redis" and judged else None
        rows.append(
            {
                "store": kind,
                "symbols": n,
                "what": what,
                "features": len(DEFAULT_FEATURES),
                "calls": calls,
                **{k: round(v, 3) for k, v in timing.items()},
                "p99_vs_bare": round(timing["p99_ms"] / reference, 2),
                "target_p99_ms": target,
                "met": None if target is None else timing["p99_ms"] <= target,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--redis", default="127.0.0.1:6379", help="Feast Redis connection")
    parser.add_argument("--stores", default="redis,sqlite")
    args = parser.parse_args()

    from trade2026_assets.feature_store.retrieval import OnlineFeatureReader

    symbols = [f"S{i:03d}" for i in range(100)]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.stores.split(","):
            print(f"filling the {kind} online store ...", flush=True)
            resource = filled_store(kind, Path(tmp), args.redis, symbols)
            try:
                store = resource.store()
                reader = OnlineFeatureReader(store)
                bare = bare_reader(kind, resource, args.redis)
                for n in (1, 100):
                    rows += measure(kind, store, reader, bare, symbols[:n], args.calls)
            finally:
                resource.teardown()

    header = (
        f"{'store':<7}{'symbols':>8}  {'what':<28}{'p50 ms':>9}{'p99 ms':>9}{'x bare':>8}  target"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        target = (
            ""
            if row["target_p99_ms"] is None
            else (f"p99 <= {row['target_p99_ms']} ms: {'met' if row['met'] else 'MISSED'}")
        )
        print(
            f"{row['store']:<7}{row['symbols']:>8}  {row['what']:<28}{row['p50_ms']:>9.3f}"
            f"{row['p99_ms']:>9.3f}{row['p99_vs_bare']:>8.2f}  {target}"
        )
    print(f"results: {write_results('online_features', rows)}")


if __name__ == "__main__":
    main()
