"""Training on 1 million rows: the `default_ml_strategy/model` asset against plain
`xgb.train`.

Both train the same booster (100 trees, depth 5, 2 threads, the asset's other defaults) on
the same 1,000,000 training rows and validation rows of a stored training set; early
stopping is set out of reach so both build all 100 trees. Plain `xgb.train` starts from
the rows already in memory (DMatrix construction + training); the asset's time is the
whole in-process Dagster run of `xgb_model` alone: reading the set from the warehouse,
training, scoring three splits, MLflow logging and model registration, the gate checks.

Usage: python -m bench.training [--rows 1000000] [--repeats 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import write_results
from trade2026_assets.strategy.declaration import DEFAULT_STRATEGY

TARGET_RATIO = 1.3
DEFAULT = DEFAULT_STRATEGY
MODEL_NODE = f"{DEFAULT}__model"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="training-split rows")
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()

    import dagster as dg
    import xgboost as xgb

    from trade2026_assets.definitions import (
        MARKET_DATA_JOB,
        build_definitions,
        partition_range_tags,
    )
    from trade2026_assets.defs.ml.reads import (
        MODEL_ROWS_SQL,
        TRAINING_SET_HASH,
        load_training_set,
        model_splits,
    )
    from trade2026_assets.ml.classifiers import booster_params
    from trade2026_assets.settings import STRATEGIES_DIR, AssetsSettings
    from trade2026_assets.strategy.declaration import XgboostParams
    from trade2026_assets.warehouse import WarehouseResource

    # Train is 60% of the set's timestamps; the warm-up and label drop a few bars more.
    bars = int(args.rows / 0.6 / args.symbols) + 60
    symbols = [f"B{i:03d}" for i in range(args.symbols)]
    model_config = {"early_stopping_rounds": 10_000, "num_boost_round": 100}
    with tempfile.TemporaryDirectory() as tmp, dg.DagsterInstance.ephemeral() as instance:
        # The shipped default strategy, with early stopping out of reach.
        strategies = Path(tmp) / "strategies"
        strategies.mkdir()
        declared = (STRATEGIES_DIR / f"{DEFAULT}.yaml").read_text()
        (strategies / f"{DEFAULT}.yaml").write_text(
            declared.replace(
                "params: {num_boost_round: 100,",
                "params: {early_stopping_rounds: 10000, num_boost_round: 100,",
            )
        )
        settings = AssetsSettings(
            home=Path(tmp),
            strategies_dir=strategies,
            symbols=",".join(symbols),
            synthetic_bars=bars,
            synthetic_predictability=0.1,
        )
        defs = build_definitions(settings)
        print(f"preparing {args.symbols} symbols x {bars} bars ...", flush=True)
        prepared = defs.resolve_job_def(MARKET_DATA_JOB).execute_in_process(
            instance=instance, tags=partition_range_tags(symbols[0], symbols[-1]), run_config=QUIET
        )
        assert prepared.success
        training_set_job = dg.define_asset_job(
            "bench_training_set", selection=[dg.AssetKey([DEFAULT, "training_set"])]
        )
        model_job = dg.define_asset_job("bench_model", selection=[dg.AssetKey([DEFAULT, "model"])])
        defs = dg.Definitions.merge(defs, dg.Definitions(jobs=[training_set_job, model_job]))
        assert (
            defs.resolve_job_def("bench_training_set")
            .execute_in_process(instance=instance, run_config=QUIET)
            .success
        )
        event = instance.get_latest_materialization_event(dg.AssetKey([DEFAULT, "training_set"]))
        assert event is not None
        assert event.asset_materialization is not None
        digest = str(event.asset_materialization.metadata[TRAINING_SET_HASH].value)
        warehouse = WarehouseResource(chdb_path=str(settings.warehouse_path))  # no cache
        # The rows the asset trains on, in the asset's order: both build the same trees.
        frame = load_training_set(warehouse, digest, MODEL_ROWS_SQL)
        train_rows, validation_rows, _ = model_splits(frame)
        print(f"training rows: {train_rows.height:,}, validation rows: {validation_rows.height:,}")
        params = XgboostParams(**model_config)
        features = list(settings.strategies()[DEFAULT].features)

        def matrix(rows: Any) -> Any:
            return xgb.DMatrix(
                rows.select(features).to_numpy(),
                label=rows.get_column("label").to_numpy(),
                feature_names=features,
            )

        plain_times: list[float] = []
        asset_times: list[float] = []
        step_times: list[float] = []
        phases: Any = {}
        for _ in range(args.repeats):
            started = time.perf_counter()
            booster = xgb.train(
                booster_params(params),
                matrix(train_rows),
                num_boost_round=params.num_boost_round,
                evals=[(matrix(validation_rows), "validation")],
                early_stopping_rounds=params.early_stopping_rounds,
                verbose_eval=False,
            )
            plain_times.append(time.perf_counter() - started)
            assert booster.num_boosted_rounds() == params.num_boost_round

            started = time.perf_counter()
            result = defs.resolve_job_def("bench_model").execute_in_process(
                instance=instance,
                run_config=QUIET,
                raise_on_error=False,
            )
            asset_times.append(time.perf_counter() - started)
            step_times.append(_step_seconds(result))
            for materialization in result.asset_materializations_for_node(MODEL_NODE):
                phases = materialization.metadata["seconds_by_phase"].value

    plain = statistics.median(plain_times)
    # The first asset run in a process also imports MLflow and opens its database; a
    # Dagster run worker pays that once per run. Reported apart from the steady state.
    cold = asset_times[0]
    asset = statistics.median(asset_times[1:] or asset_times)
    ratio = asset / plain
    rows: list[dict[str, Any]] = [
        {"measure": "plain xgb.train s", "value": plain},
        {"measure": "model run s (warm)", "value": asset},
        {"measure": "model run s (first, cold)", "value": cold},
        {"measure": "model step s", "value": statistics.median(step_times)},
        {
            "measure": "ratio warm run / plain",
            "value": ratio,
            "target": f"<= {TARGET_RATIO}",
            "met": ratio <= TARGET_RATIO,
        },
        {"measure": "training rows", "value": train_rows.height},
        {"measure": "threads", "value": params.nthread},
        {"measure": "cores", "value": os.cpu_count()},
        {"measure": "raw", "value": {"plain": plain_times, "asset": asset_times}},
        {"measure": "last run's seconds by phase", "value": phases},
    ]
    print(f"{'measure':<24} {'value':>12} {'target':>8}  met")
    rows.insert(4, {"measure": "ratio cold run / plain", "value": cold / plain})
    for row in rows[:6]:
        met = "" if "met" not in row else ("yes" if row["met"] else "NO")
        print(f"{row['measure']:<24} {row['value']:>12.3f} {row.get('target', ''):>8}  {met}")
    print(f"last run's seconds by phase: {phases}")
    print(f"results: {write_results('training', rows)}")


def _step_seconds(result: Any) -> float:
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS":
            return float(event.event_specific_data.duration_ms) / 1000
    return float("nan")


if __name__ == "__main__":
    main()
