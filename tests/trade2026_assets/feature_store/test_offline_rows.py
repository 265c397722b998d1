"""The feature store's offline rows (the embedded profile's Parquet files) keep one schema,
whoever wrote them, so Feast's file store can read them together.

Feast's `materialize` over files whose `symbol` column is dictionary-encoded in some and
plain text in others crashed in dask (`'numpy.dtypes.ObjectDType' object has no attribute
'categories'`) as soon as its time window held rows of both kinds: seen with a universe
whose symbols' files were exported by different runs (BTCUSD alone, then SP500 with
NASDAQ). Frames reach the export with either encoding: the indicators kernel hands out a
dictionary, a warehouse read plain strings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from trade2026_assets.feature_catalog import DEFAULT_FEATURES
from trade2026_assets.feature_store.frame import FEATURE_VIEW, VIEW_FIELDS
from trade2026_assets.feature_store.resource import FeatureStoreResource
from trade2026_assets.settings import FEATURE_REPO

START = datetime(2018, 1, 1, tzinfo=UTC)


def offline_rows(symbol: str, days: int, *, step_days: int = 1) -> pl.DataFrame:
    ts = [START + timedelta(days=i * step_days) for i in range(days)]
    return pl.DataFrame(
        {
            "symbol": [symbol] * days,
            "ts": pl.Series(ts).dt.cast_time_unit("ms"),
            **{name: [float(i) for i in range(days)] for name in VIEW_FIELDS},
            "indicator_set": ["rsi14"] * days,
            "created_at": pl.Series([START] * days).dt.cast_time_unit("ms"),
        }
    )


def test_files_exported_by_different_runs_materialize_together(tmp_path: Path) -> None:
    store = FeatureStoreResource(
        repo_path=str(FEATURE_REPO), state_dir=str(tmp_path), project="t26_offline_rows"
    )
    # One run exports the monthly symbol from the kernel's dictionary-encoded frame, a
    # later one the two daily symbols from plain text.
    store.export_offline(
        offline_rows("BTCUSD", 12, step_days=30).with_columns(
            pl.col("symbol").cast(pl.Categorical)
        ),
        ["BTCUSD"],
    )
    store.export_offline(
        pl.concat([offline_rows("NASDAQ", 300), offline_rows("SP500", 298)]),
        ["NASDAQ", "SP500"],
    )
    store.apply({"seed_service": DEFAULT_FEATURES})
    feast = store.store()
    # The window of SP500's and NASDAQ's newest rows: rows of files of both runs' making.
    feast.materialize(
        start_date=START + timedelta(days=297),
        end_date=START + timedelta(days=300),
        feature_views=[FEATURE_VIEW],
    )
    online = feast.get_online_features(
        features=[f"{FEATURE_VIEW}:rsi"],
        entity_rows=[
            {"symbol": "NASDAQ", "indicator_set": "rsi14"},
            {"symbol": "SP500", "indicator_set": "rsi14"},
        ],
    ).to_dict()
    assert online["rsi"] == [299.0, 297.0]
    symbol_types = {
        path.stem: pq.read_schema(path).field("symbol").type
        for path in (tmp_path / "offline" / FEATURE_VIEW).glob("*.parquet")
    }
    kinds = {str(kind) for kind in symbol_types.values()}
    assert len(kinds) == 1, symbol_types
    assert "dictionary" not in kinds.pop()

    store.teardown()
