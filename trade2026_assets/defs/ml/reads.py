"""What the ML assets read: an upstream's latest materialization metadata (a content hash,
an MLflow version) and a stored training set's rows. Nothing large travels through an IO
manager: each asset reads the data itself from the warehouse or the model registry."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from trade2026_assets.warehouse import WarehouseResource

TRAINING_SET_HASH = "training_set_hash"
MODEL_VERSION = "model_version"
SPLIT_CODES = {"train": 1, "validation": 2, "test": 3}
ROWS_VERSION = "v2"

# What training reads: symbol, time and close (the walk-forward folds are cut by time and
# backtested), split, every catalog feature, label; strings as plain String
# (ClickHouse hands LowCardinality columns to Arrow far slower), in a fixed order so
# training is repeatable. Every catalog feature (FEATURE_NAMES; a test keeps them equal).
MODEL_ROWS_SQL = """
SELECT toString(symbol) AS symbol, ts, close,
       toUInt8(indexOf(['train', 'validation', 'test'], split)) AS split_code,
       ret_1, ret_1_lag1, ret_1_lag2, volatility, rsi, macd_norm, macd_signal_norm,
       macd_hist_norm, bb_pctb, bb_width, momentum_5, momentum_20, range_atr, volume_z, label
FROM training_sets
WHERE training_set = {training_set:String}
ORDER BY training_set, split, symbol, ts
"""
TEST_ROWS_SQL = """
SELECT toString(split) AS split, toString(symbol) AS symbol, ts, close,
       ret_1, ret_1_lag1, ret_1_lag2, volatility, rsi, macd_norm, macd_signal_norm,
       macd_hist_norm, bb_pctb, bb_width, momentum_5, momentum_20, range_atr, volume_z, label
FROM training_sets
WHERE training_set = {training_set:String} AND split = 'test'
ORDER BY symbol, ts
"""


def latest_metadata(context: dg.AssetExecutionContext, asset: dg.AssetKey, key: str) -> Any:
    """A value from this run's materialization of `asset`, else from its latest one (so
    that two runs at once each follow their own lineage)."""
    materialization = None
    records = context.instance.get_records_for_run(
        run_id=context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    for record in records:
        candidate = record.event_log_entry.asset_materialization
        if candidate is not None and candidate.asset_key == asset:
            materialization = candidate
    if materialization is None:
        event = context.instance.get_latest_materialization_event(asset)
        materialization = event.asset_materialization if event else None
    if materialization is None or key not in materialization.metadata:
        raise dg.Failure(
            description=f"{asset.to_user_string()} has not been materialized yet (no {key})"
        )
    return materialization.metadata[key].value


def load_training_set(warehouse: WarehouseResource, training_set: str, sql: str) -> pl.DataFrame:
    frame = warehouse.query_frame(sql, {"training_set": training_set})
    if frame.height == 0:
        raise dg.Failure(description=f"training set {training_set} is not in the warehouse")
    return frame


def model_rows(warehouse: WarehouseResource, training_set: str) -> pl.DataFrame:
    """The rows a model trains on (MODEL_ROWS_SQL), through a local Arrow cache.

    A training set never changes under its content hash, so its rows can be kept as an
    Arrow IPC file named by that hash (`WarehouseResource.cache_dir`): reading it is a
    memory copy, where a fresh chDB session spends most of a second decompressing. The
    warehouse stays the record; without a cache directory, or with no file yet, the rows
    come from it (and are cached).
    """
    if not warehouse.cache_dir:
        return load_training_set(warehouse, training_set, MODEL_ROWS_SQL)
    # Versioned by the columns read: a file cached by an older query lacks some.
    path = Path(warehouse.cache_dir) / "training_sets" / f"{training_set}.{ROWS_VERSION}.arrow"
    if path.exists():
        return pl.read_ipc(path)
    frame = load_training_set(warehouse, training_set, MODEL_ROWS_SQL)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole, then renamed: a reader never sees half a file.
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    frame.write_ipc(partial)
    partial.replace(path)
    return frame


def model_splits(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Train, validation and test rows of a frame read with MODEL_ROWS_SQL."""
    train, validation, test = (
        frame.filter(pl.col("split_code") == SPLIT_CODES[split])
        for split in ("train", "validation", "test")
    )
    return train, validation, test
