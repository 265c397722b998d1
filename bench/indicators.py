"""Indicators and warehouse at scale: 500 symbols x 20,000 bars (10 million rows).

* Indicator compute time against per-symbol TA-Lib loops in the same run (the ratio is the
  figure to read: this machine is noisy). Every timing runs in a fresh process, in turns,
  so that no contestant inherits the other's warm heap; the median of the repeats counts.
  - `talib loop (RSI, MACD, BBANDS)`: the issue's reference, outputs kept.
  - `talib loop (same columns)`: the same plus returns, log returns, volatility and ATR,
    i.e. exactly the columns `compute_indicators` produces.
  - `compute_indicators`: ours, on the long frame, both cores; checked exact to 1e-9.
* Warehouse (chDB): insert rate of the bars through `replace_partitions` (staging insert plus
  one REPLACE PARTITION per symbol), and read-back rate of what `indicators` reads.
* The whole backfill: the Dagster job over the universe as one run, its wall time and peak
  resident memory (chDB included: it runs in-process). `--backfill-only
  --reference-commit REV` runs only that, taking turns with the same backfill from a
  checkout of REV (a temporary git worktree), `--repeats` times each; the ratio of the
  medians is the figure to read.

Usage: python -m bench.indicators [--symbols 500] [--bars 20000] [--repeats 3]
       [--reference-commit REV] [--backfill-only]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import write_results

TARGET_RATIO = 1.5
TARGET_INSERT_ROWS_PER_S = 3_000_000
TOLERANCE = 1e-9
# Write-audit-publish may cost the backfill at most this much over the reference commit.
TARGET_BACKFILL_RATIO = 1.15


def universe(n_symbols: int) -> list[str]:
    return [f"S{i:04d}" for i in range(n_symbols)]


def make_bars(path: Path, n_symbols: int, n_bars: int) -> None:
    import polars as pl

    from trade2026_assets.synthetic import synthetic_bars

    frames = [synthetic_bars(symbol, n_bars=n_bars) for symbol in universe(n_symbols)]
    pl.concat(frames).write_ipc(path)


def load_bars(path: Path) -> Any:
    import polars as pl

    return pl.read_ipc(path)


# -- parts, each run in a fresh process ------------------------------------------------


def part_compute(contestant: str, data: Path) -> dict[str, Any]:
    import numpy as np
    import polars as pl
    import talib

    from trade2026_assets.technical_indicators import (
        IndicatorParams,
        compute_indicators,
        talib_reference,
    )

    bars = load_bars(data).select("symbol", "ts", "close", "high", "low", "volume")
    per_symbol = bars.partition_by("symbol", maintain_order=True)
    closes = [np.ascontiguousarray(frame.get_column("close").to_numpy()) for frame in per_symbol]
    highs = [np.ascontiguousarray(frame.get_column("high").to_numpy()) for frame in per_symbol]
    lows = [np.ascontiguousarray(frame.get_column("low").to_numpy()) for frame in per_symbol]
    params = IndicatorParams()
    result: dict[str, Any] = {}
    kept: list[Any]
    # One call on a small slice first: imports and lazy set-up are not what is measured.
    compute_indicators(bars.head(1_000), params)
    talib.RSI(closes[0], 14)
    started = time.perf_counter()
    if contestant == "talib_core":
        kept = [
            (
                talib.RSI(c, 14),
                talib.MACD(c, 12, 26, 9),
                talib.BBANDS(c, 20, 2.0, 2.0, 0),  # type: ignore[arg-type]
            )
            for c in closes
        ]
    elif contestant == "talib_same_columns":
        kept = []
        for c, h, lo in zip(closes, highs, lows, strict=True):
            ratio = c[1:] / c[:-1]
            log_ret = np.log(ratio)
            kept.append(
                (
                    talib.RSI(c, 14),
                    talib.MACD(c, 12, 26, 9),
                    talib.BBANDS(c, 20, 2.0, 2.0, 0),  # type: ignore[arg-type]
                    ratio - 1.0,
                    log_ret,
                    talib.STDDEV(log_ret, 20, 1.0),
                    talib.ATR(h, lo, c, 14),
                )
            )
    else:
        features = compute_indicators(bars, params)
        kept = [features]
    result["seconds"] = time.perf_counter() - started
    if contestant == "ours":
        # Exactness, after the clock stopped: every symbol against TA-Lib called directly.
        worst = 0.0
        warmup = len(closes[0]) - features.filter(pl.col("symbol") == "S0000").height
        for symbol, close, high, low in zip(
            universe(len(closes)), closes, highs, lows, strict=True
        ):
            mine = features.filter(pl.col("symbol") == symbol)
            reference = talib_reference(close, params, high=high, low=low)[warmup:]
            for column in reference.columns:
                diff = np.abs(mine.get_column(column).to_numpy() - reference[column].to_numpy())
                worst = max(worst, float(np.nanmax(diff)))
        result["max_abs_diff"] = worst
        result["rows_out"] = features.height
    del kept
    return result


def part_warehouse(data: Path) -> dict[str, Any]:
    from trade2026_assets.warehouse import BARS, WarehouseResource, conform

    bars = load_bars(data)
    symbols = bars.get_column("symbol").unique(maintain_order=True).to_list()
    table = bars.to_arrow()
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = WarehouseResource(chdb_path=str(Path(tmp) / "warehouse"))
        warehouse.ensure_schema()
        # The INSERT alone: typed Arrow rows into a table shaped like `bars`.
        typed = conform(BARS, table)
        with warehouse.session() as session:
            session.command("CREATE TABLE bars_insert_probe AS bars")
            started = time.perf_counter()
            session.insert_arrow("bars_insert_probe", typed)
            raw_insert_s = time.perf_counter() - started
            session.command("DROP TABLE bars_insert_probe")
        # The whole write path of `market_bars`: type, stage, swap 500 partitions in.
        started = time.perf_counter()
        rows = warehouse.replace_partitions(table=BARS, data=table, partitions=symbols)
        insert_s = time.perf_counter() - started
        started = time.perf_counter()
        again = warehouse.replace_partitions(table=BARS, data=table, partitions=symbols)
        replace_s = time.perf_counter() - started
        started = time.perf_counter()
        read = warehouse.query_arrow(
            "SELECT symbol, ts, close FROM bars WHERE symbol IN {symbols:Array(String)}"
            " ORDER BY symbol, ts, seq",
            {"symbols": symbols},
        )
        read_s = time.perf_counter() - started
        assert read.num_rows == rows == again
    return {
        "rows": rows,
        "raw_insert_seconds": raw_insert_s,
        "insert_seconds": insert_s,
        "replace_seconds": replace_s,
        "read_seconds": read_s,
    }


def part_backfill(n_symbols: int, n_bars: int) -> dict[str, Any]:

    from trade2026_assets.definitions import (
        MARKET_DATA_JOB,
        build_definitions,
        partition_range_tags,
    )
    from trade2026_assets.settings import AssetsSettings

    symbols = universe(n_symbols)
    with tempfile.TemporaryDirectory() as tmp:
        settings = AssetsSettings(home=Path(tmp), symbols=",".join(symbols), synthetic_bars=n_bars)
        job = build_definitions(settings).resolve_job_def(MARKET_DATA_JOB)
        started = time.perf_counter()
        outcome = job.execute_in_process(
            tags=partition_range_tags(symbols[0], symbols[-1]),
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            raise_on_error=False,
        )
        seconds = time.perf_counter() - started
    checks = outcome.get_asset_check_evaluations()
    return {
        "success": outcome.success,
        "seconds": seconds,
        "checks_passed": sum(1 for c in checks if c.passed),
        "checks": len(checks),
        # Linux reports ru_maxrss in KiB.
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_part(*args: str, tree: Path | None = None) -> dict[str, Any]:
    """One part in a fresh process; `tree` runs it from another checkout's code."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    completed = subprocess.run(
        [sys.executable, "-m", "bench.indicators", "--part", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
        env=env,
        cwd=tree,
    )
    if completed.returncode != 0:
        raise SystemExit(f"part {args} failed:\n{completed.stdout}\n{completed.stderr}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


# -- driver ----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--bars", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--reference-commit",
        default="",
        help="also run the backfill from this commit's code, for a ratio (e.g. the commit "
        "before a change to the write path)",
    )
    parser.add_argument(
        "--backfill-only", action="store_true", help="skip the compute and warehouse parts"
    )
    parser.add_argument("--part", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.part:
        name, *rest = args.part
        if name == "compute":
            print(json.dumps(part_compute(rest[0], Path(rest[1]))))
        elif name == "warehouse":
            print(json.dumps(part_warehouse(Path(rest[0]))))
        else:
            print(json.dumps(part_backfill(int(rest[0]), int(rest[1]))))
        return

    rows_total = args.symbols * args.bars
    print(
        f"{args.symbols} symbols x {args.bars} bars = {rows_total:,} rows, {os.cpu_count()} cores"
    )
    if args.backfill_only:
        backfill_table(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "bars.arrow"
        make_bars(data, args.symbols, args.bars)
        contestants = ("talib_core", "talib_same_columns", "ours")
        times: dict[str, list[float]] = {name: [] for name in contestants}
        exact: dict[str, Any] = {}
        for _ in range(args.repeats):
            for name in contestants:
                result = run_part("compute", name, str(data))
                times[name].append(result["seconds"])
                if name == "ours":
                    exact = result
        warehouse = run_part("warehouse", str(data))
    backfill = run_part("backfill", str(args.symbols), str(args.bars))

    median = {name: statistics.median(values) for name, values in times.items()}
    ratio_core = median["ours"] / median["talib_core"]
    ratio_same = median["ours"] / median["talib_same_columns"]
    insert_rate = warehouse["rows"] / warehouse["raw_insert_seconds"]
    rows = [
        {"measure": "talib loop (RSI, MACD, BBANDS) s", "value": median["talib_core"]},
        {"measure": "talib loop (same columns) s", "value": median["talib_same_columns"]},
        {"measure": "compute_indicators s", "value": median["ours"]},
        {
            "measure": "ratio vs talib loop (RSI, MACD, BBANDS)",
            "value": ratio_core,
            "target": f"<= {TARGET_RATIO}",
            "met": ratio_core <= TARGET_RATIO,
        },
        {"measure": "ratio vs talib loop (same columns)", "value": ratio_same},
        {
            "measure": "max abs diff vs TA-Lib",
            "value": exact["max_abs_diff"],
            "target": f"<= {TOLERANCE}",
            "met": exact["max_abs_diff"] <= TOLERANCE,
        },
        {
            "measure": "chDB INSERT rows/s",
            "value": insert_rate,
            "target": f">= {TARGET_INSERT_ROWS_PER_S:,}",
            "met": insert_rate >= TARGET_INSERT_ROWS_PER_S,
        },
        {
            "measure": "write path, first (type+stage+swap) rows/s",
            "value": warehouse["rows"] / warehouse["insert_seconds"],
        },
        {
            "measure": "write path, re-materialize rows/s",
            "value": warehouse["rows"] / warehouse["replace_seconds"],
        },
        {
            "measure": "chDB read-back rows/s",
            "value": warehouse["rows"] / warehouse["read_seconds"],
        },
        {
            "measure": "backfill run (bars+indicators+checks) s",
            "value": backfill["seconds"],
            "met": backfill["success"],
        },
        {"measure": "backfill peak RSS MiB", "value": backfill["peak_rss_mib"]},
    ]
    print(f"{'measure':<44} {'value':>16} {'target':>14}  met")
    for row in rows:
        value = row["value"]
        shown = f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"
        met = "" if "met" not in row else ("yes" if row["met"] else "NO")
        print(f"{row['measure']:<44} {shown:>16} {row.get('target', ''):>14}  {met}")
    print(f"backfill checks passed: {backfill['checks_passed']}/{backfill['checks']}")
    path = write_results(
        "indicators",
        [
            *rows,
            {"measure": "raw times s", "value": times},
            {"measure": "symbols", "value": args.symbols},
            {"measure": "bars per symbol", "value": args.bars},
        ],
    )
    print(f"results: {path}")


@contextmanager
def reference_tree(commit: str) -> Iterator[Path]:
    """A temporary git worktree of `commit`, with this benchmark module in it (the
    reference's own may predate `--part backfill`): ours runs against its packages."""
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "reference"
        subprocess.run(
            ["git", "-C", str(root), "worktree", "add", "--detach", "-q", str(tree), commit],
            check=True,
            timeout=120,
        )
        try:
            (tree / "bench" / "indicators.py").write_text(Path(__file__).read_text())
            yield tree
        finally:
            subprocess.run(
                ["git", "-C", str(root), "worktree", "remove", "--force", str(tree)],
                check=False,
                timeout=120,
            )


def backfill_table(args: argparse.Namespace) -> None:
    """Only the backfill, `--repeats` times; with `--reference-commit`, the reference and
    ours take turns (the median of each counts: this machine is noisy)."""
    size = (str(args.symbols), str(args.bars))
    ours: list[dict[str, Any]] = []
    reference: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        tree = (
            stack.enter_context(reference_tree(args.reference_commit))
            if args.reference_commit
            else None
        )
        for _ in range(args.repeats):
            if tree is not None:
                reference.append(run_part("backfill", *size, tree=tree))
            ours.append(run_part("backfill", *size))
    rows = backfill_rows("backfill", ours)
    if reference:
        rows += backfill_rows(f"reference backfill ({args.reference_commit[:10]})", reference)
        ratio = rows[0]["value"] / rows[2]["value"]
        rows.append(
            {
                "measure": "backfill ratio vs reference (medians)",
                "value": ratio,
                "target": f"<= {TARGET_BACKFILL_RATIO}",
                "met": ratio <= TARGET_BACKFILL_RATIO,
            }
        )
    print(f"{'measure':<44} {'value':>16} {'target':>14}  met")
    for row in rows:
        met = "" if "met" not in row else ("yes" if row["met"] else "NO")
        print(f"{row['measure']:<44} {row['value']:>16.3g} {row.get('target', ''):>14}  {met}")
    print(f"backfill checks passed: {ours[-1]['checks_passed']}/{ours[-1]['checks']}")
    path = write_results(
        "indicators_backfill",
        [
            *rows,
            {"measure": "raw seconds", "value": [r["seconds"] for r in ours]},
            {"measure": "raw reference seconds", "value": [r["seconds"] for r in reference]},
            {"measure": "symbols", "value": args.symbols},
            {"measure": "bars per symbol", "value": args.bars},
        ],
    )
    print(f"results: {path}")


def backfill_rows(name: str, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "measure": f"{name} s",
            "value": statistics.median(r["seconds"] for r in runs),
            "met": all(r["success"] for r in runs),
        },
        {"measure": f"{name} peak RSS MiB", "value": max(r["peak_rss_mib"] for r in runs)},
    ]


if __name__ == "__main__":
    main()
