"""`online_features`: each symbol's latest features in the Feast online store, and the
training/serving skew gate `online_offline_parity`."""

import contextlib
import io
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field

from trade2026_assets.assets.evidence import markdown_table
from trade2026_assets.feature_store.frame import ENTITY, FEATURE_VIEW, VIEW_FIELDS, serving_frame
from trade2026_assets.feature_store.resource import FeatureStoreResource
from trade2026_assets.ml.training_set import FEATURE_LOOKBACK_ROWS
from trade2026_assets.warehouse import WarehouseResource

if TYPE_CHECKING:
    from feast import FeatureStore

PARITY_CHECK = "online_offline_parity"
# The newest row per symbol: what the online store must hold.
# The last feature rows of each symbol: enough to derive its latest serving row.
LAST_FEATURE_ROWS_SQL = """
SELECT symbol, ts, close, ret_1, log_ret_1, volatility, rsi, macd, macd_signal, macd_hist,
    bb_upper, bb_middle, bb_lower, indicator_set
FROM features
WHERE symbol IN {symbols:Array(String)}
ORDER BY symbol, ts DESC
LIMIT {rows:UInt32} BY symbol
"""
MISMATCH_ROWS = 20


class OnlineFeaturesConfig(dg.Config):
    parity_sample: int = Field(
        default=100, ge=1, description="Symbols compared by the parity check per run."
    )


def latest_serving_rows(warehouse: WarehouseResource, symbols: Sequence[str]) -> pl.DataFrame:
    """Each symbol's latest serving row, derived afresh from the warehouse's `features`
    table by the code training uses: what the online store must hold."""
    rows = warehouse.query_frame(
        LAST_FEATURE_ROWS_SQL, {"symbols": list(symbols), "rows": FEATURE_LOOKBACK_ROWS}
    )
    return (
        serving_frame(rows, created_at=datetime.now(UTC))
        .group_by("symbol")
        .agg(pl.all().sort_by("ts").last())
        .sort("symbol")
    )


def parity_sample(symbols: Sequence[str], size: int) -> list[str]:
    """The symbols the parity check compares: all of them up to `size`, else a sample that
    is the same for the same universe (so a failure can be re-checked)."""
    if len(symbols) <= size:
        return sorted(symbols)
    return sorted(
        random.Random(  # noqa: S311 - a reproducible sample, not a secret
            ",".join(sorted(symbols))
        ).sample(list(symbols), size)
    )


# Per field of the feature view: (value, event time in seconds); (None, 0) when absent.
OnlineRow = dict[str, tuple[float | None, int]]


def read_online(store: "FeatureStore", symbols: Sequence[str]) -> dict[str, OnlineRow]:
    """Every field of the feature view for `symbols`, in one online-store read."""
    response = store.get_online_features(
        features=[f"{FEATURE_VIEW}:{name}" for name in VIEW_FIELDS],
        entity_rows=[{ENTITY: symbol} for symbol in symbols],
    )
    answer = response.to_dict(include_event_timestamps=True)
    return {
        symbol: {name: (answer[name][i], answer[f"{name}__ts"][i]) for name in VIEW_FIELDS}
        for i, symbol in enumerate(symbols)
    }


def _same_float32(online: float | None, warehouse: float) -> bool:
    if online is None:
        return False
    expected = float(np.float32(warehouse))
    if math.isnan(expected):
        return math.isnan(online)
    return online == expected


def parity_result(
    online: Mapping[str, OnlineRow], latest: pl.DataFrame, symbols: Sequence[str]
) -> dg.AssetCheckResult:
    """Compare the online store's rows (`read_online`) with each symbol's latest row derived
    from the warehouse (`latest_serving_rows`): every field equal at float32 precision, same
    bar time."""
    by_symbol = {row["symbol"]: row for row in latest.iter_rows(named=True)}
    mismatches: list[dict[str, object]] = []
    compared = 0
    for symbol in symbols:
        expected = by_symbol.get(symbol)
        if expected is None:
            mismatches.append(
                {"symbol": symbol, "field": "*", "online": "?", "warehouse": "no rows"}
            )
            continue
        bar_seconds = int(expected["ts"].timestamp())
        for name in VIEW_FIELDS:
            compared += 1
            value, stamp = online[symbol][name]
            if not _same_float32(value, expected[name]):
                mismatches.append(
                    {"symbol": symbol, "field": name, "online": value, "warehouse": expected[name]}
                )
            elif stamp != bar_seconds:
                mismatches.append(
                    {
                        "symbol": symbol,
                        "field": f"{name} (bar time)",
                        "online": datetime.fromtimestamp(stamp, UTC).isoformat(),
                        "warehouse": expected["ts"].isoformat(),
                    }
                )
    return dg.AssetCheckResult(
        check_name=PARITY_CHECK,
        passed=not mismatches,
        metadata={
            "symbols_compared": dg.MetadataValue.json(list(symbols)),
            "values_compared": compared,
            "mismatches": len(mismatches),
            "precision": "float32",
            "first_mismatches": dg.MetadataValue.md(markdown_table(mismatches[:MISMATCH_ROWS])),
        },
    )


def build_online_features(
    partitions: dg.PartitionsDefinition, indicators: dg.AssetsDefinition
) -> dg.AssetsDefinition:
    @dg.asset(
        name="online_features",
        deps=[indicators],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            dg.AssetCheckSpec(
                PARITY_CHECK,
                asset="online_features",
                blocking=True,
                description="the online store holds each sampled symbol's latest warehouse "
                "row, equal at float32 precision: no training/serving skew",
            )
        ],
        group_name="market_data",
        kinds={"feast"},
        metadata={"feature_view": FEATURE_VIEW},
        description="Each symbol's latest features in the Feast online store (SQLite embedded, "
        "Redis in production): applies `feature_repo/` and materializes the bars that hold "
        "the run's symbols' newest rows.",
    )
    def online_features(
        context: dg.AssetExecutionContext,
        config: OnlineFeaturesConfig,
        feature_store: FeatureStoreResource,
        warehouse: WarehouseResource,
    ) -> Iterator[dg.MaterializeResult[None] | dg.AssetCheckResult]:
        symbols = sorted(context.partition_keys)
        warehouse.ensure_schema()
        latest = latest_serving_rows(warehouse, symbols)
        missing = sorted(set(symbols) - set(latest.get_column("symbol").to_list()))
        if missing:
            raise dg.Failure(
                description=f"no serving features in the warehouse for {missing}: "
                "materialize `indicators` for them first (a symbol needs "
                f"{FEATURE_LOOKBACK_ROWS} indicator rows)",
                metadata={"symbols_without_rows": dg.MetadataValue.json(missing)},
            )
        feature_store.apply()
        store = feature_store.store()
        bar_times: list[datetime] = latest.get_column("ts").to_list()
        # From the earliest of the run's symbols' newest bars to the newest: every run
        # symbol's latest row is in the window, and a rewritten latest row is written again
        # (Feast's own incremental window would skip bars it has passed once). Feast records
        # the end, so `feast materialize-incremental` continues from there.
        start = min(bar_times)
        end = max(bar_times) + timedelta(seconds=1)
        context.log.info("materializing %s from %s to %s", FEATURE_VIEW, start, end)
        # Feast reports progress with print(): into the run's log instead of the console.
        with contextlib.redirect_stdout(io.StringIO()) as progress:
            store.materialize(start_date=start, end_date=end, feature_views=[FEATURE_VIEW])
        context.log.debug(progress.getvalue())

        online = read_online(store, symbols)
        stamps = [online[symbol][VIEW_FIELDS[0]][1] for symbol in symbols]
        online_times = {
            symbol: datetime.fromtimestamp(stamp, UTC).isoformat() if stamp else None
            for symbol, stamp in zip(symbols, stamps, strict=True)
        }
        expected = {
            row["symbol"]: int(row["ts"].timestamp()) for row in latest.iter_rows(named=True)
        }
        written = sum(
            1 for symbol, stamp in zip(symbols, stamps, strict=True) if stamp == expected[symbol]
        )
        yield dg.MaterializeResult(
            metadata={
                "rows_written": written,
                "symbols": len(symbols),
                "latest_timestamp_by_symbol": dg.MetadataValue.json(online_times),
                "online_store": feature_store.online_kind,
                "window_start": start.isoformat(),
                "window_end": end.isoformat(),
            }
        )
        sample = parity_sample(symbols, config.parity_sample)
        sampled = latest.filter(pl.col("symbol").is_in(sample))
        yield parity_result(online, sampled, sample)

    return online_features
