"""`online_features`: each symbol's latest features in the Feast online store, and the
training/serving skew gate `online_offline_parity`.

Write, audit, publish: a run stages the rows it would write (each run symbol's newest row
of the feature store's offline rows, what Feast serves from), audits them together with the
online rows of the symbols it does not write against the warehouse, and writes only its own
symbols' rows to the online store, only when that audit passed. The written rows are read
back; should the store not hold what was written, the previous rows are put back.
"""

import math
import random
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field

from trade2026_assets.assets.evidence import markdown_table, refuse_publish
from trade2026_assets.assets.lineage import refuse_republished, republished, versions_in_run
from trade2026_assets.feature_store.frame import (
    CREATED_COLUMN,
    ENTITY,
    FEATURE_VIEW,
    VIEW_FIELDS,
    serving_frame,
)
from trade2026_assets.feature_store.resource import FeatureStoreResource
from trade2026_assets.ml.training_set import FEATURE_LOOKBACK_ROWS
from trade2026_assets.versions import combined_version, frame_version
from trade2026_assets.warehouse import WAREHOUSE_POOL, WarehouseResource, read_versions

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
# Per field of the feature view: (value, event time in seconds); (None, 0) when absent.
OnlineRow = dict[str, tuple[float | None, int]]


LATEST_OFFLINE_SQL = """
SELECT * FROM serving_features
WHERE symbol IN {symbols:Array(String)}
ORDER BY symbol, ts DESC, created_at DESC
LIMIT 1 BY symbol
"""
FEATURE_ROWS_SQL = """
SELECT symbol, count() AS rows FROM features WHERE symbol IN {symbols:Array(String)}
GROUP BY symbol
"""
BAR_ROWS_SQL = """
SELECT symbol, count() AS rows FROM bars WHERE symbol IN {symbols:Array(String)}
GROUP BY symbol
"""


class OnlineFeaturesConfig(dg.Config):
    parity_sample: int = Field(
        default=100,
        ge=1,
        description="Symbols compared by the parity check per run, of those the run writes "
        "and, as many again, of those it does not.",
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


def offline_latest(
    feature_store: FeatureStoreResource, warehouse: WarehouseResource, symbols: Sequence[str]
) -> pl.DataFrame:
    """Each symbol's newest row of the feature store's offline rows (the Parquet export, or
    `serving_features`): what the online store is given. Symbols without rows are absent."""
    if feature_store.offline == "files":
        parts = []
        for symbol in symbols:
            path = feature_store.offline_dir / f"{symbol}.parquet"
            if path.exists():
                parts.append(pl.read_parquet(path).sort("ts", CREATED_COLUMN).tail(1))
        if not parts:
            return pl.DataFrame()
        frame = pl.concat(parts, how="vertical_relaxed")
    else:
        frame = warehouse.query_frame(LATEST_OFFLINE_SQL, {"symbols": list(symbols)})
    return frame.with_columns(pl.col("symbol").cast(pl.String)).sort("symbol")


def staged_online(rows: pl.DataFrame) -> dict[str, OnlineRow]:
    """Offline rows as the online store will hold them: float32 values at the bar time."""
    staged: dict[str, OnlineRow] = {}
    for row in rows.iter_rows(named=True):
        stamp = int(row["ts"].timestamp())
        staged[row["symbol"]] = {
            name: (None if row[name] is None else float(np.float32(row[name])), stamp)
            for name in VIEW_FIELDS
        }
    return staged


def write_online(store: "FeatureStore", rows: pl.DataFrame) -> None:
    """Write exactly these rows (one per symbol) to the online store: no other symbol's
    row is touched (Feast's `materialize` writes every entity of its time window)."""
    if rows.height:
        frame = rows.select(ENTITY, "ts", CREATED_COLUMN, *VIEW_FIELDS).to_pandas()
        store.write_to_online_store(FEATURE_VIEW, df=frame)


def short_series(warehouse: WarehouseResource, symbols: Sequence[str]) -> str:
    """Why symbols have no serving row: how many bars and indicator rows they have."""
    bars = warehouse.query_frame(BAR_ROWS_SQL, {"symbols": list(symbols)})
    features = warehouse.query_frame(FEATURE_ROWS_SQL, {"symbols": list(symbols)})
    count = {
        name: dict(
            zip(frame["symbol"].cast(pl.String).to_list(), frame["rows"].to_list(), strict=True)
        )
        if frame.height
        else {}
        for name, frame in (("bars", bars), ("features", features))
    }
    return "; ".join(
        f"{symbol}: {count['bars'].get(symbol, 0)} bars, "
        f"{count['features'].get(symbol, 0)} indicator rows (a serving row needs "
        f"{FEATURE_LOOKBACK_ROWS} indicator rows after the warm-up)"
        for symbol in symbols
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
    online: Mapping[str, OnlineRow],
    latest: pl.DataFrame,
    symbols: Sequence[str],
    *,
    written: Sequence[str] | None = None,
) -> dg.AssetCheckResult:
    """Compare online rows (`read_online`, or `staged_online` for what a run is about to
    write) with each symbol's latest row derived from the warehouse
    (`latest_serving_rows`): every field equal at float32 precision, same bar time.
    `written` are the symbols the run writes (all of `symbols` if not given)."""
    by_symbol = {row["symbol"]: row for row in latest.iter_rows(named=True)}
    mismatches: list[dict[str, object]] = []
    compared = 0
    written_set = set(symbols if written is None else written)
    indicator_sets = sorted({str(row["indicator_set"]) for row in by_symbol.values()})
    for symbol in symbols:
        expected = by_symbol.get(symbol)
        if expected is None:
            mismatches.append(
                {"symbol": symbol, "field": "*", "online": "?", "warehouse": "no rows"}
            )
            continue
        bar_seconds = int(expected["ts"].timestamp())
        if symbol not in online:
            mismatches.append(
                {"symbol": symbol, "field": "*", "online": "no row", "warehouse": expected["ts"]}
            )
            continue
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
    failing = sorted({str(m["symbol"]) for m in mismatches})
    return dg.AssetCheckResult(
        check_name=PARITY_CHECK,
        passed=bool(symbols) and not mismatches,
        metadata={
            "symbols_compared": dg.MetadataValue.json(list(symbols)),
            "symbols_written_by_run": dg.MetadataValue.json(sorted(written_set & set(symbols))),
            "symbols_not_written_by_run": dg.MetadataValue.json(sorted(set(symbols) - written_set)),
            "failing_symbols": dg.MetadataValue.json(failing),
            # The indicator definition the compared rows were computed with.
            "indicator_set": ",".join(indicator_sets),
            "values_compared": compared,
            "mismatches": len(mismatches),
            "precision": "float32",
            "first_mismatches": dg.MetadataValue.md(markdown_table(mismatches[:MISMATCH_ROWS])),
        },
    )


def build_online_features(
    partitions: dg.PartitionsDefinition, indicators: dg.AssetsDefinition
) -> dg.AssetsDefinition:
    universe = list(partitions.get_partition_keys())

    @dg.asset(
        name="online_features",
        deps=[indicators],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        check_specs=[
            dg.AssetCheckSpec(
                PARITY_CHECK,
                asset="online_features",
                blocking=True,
                description="the online store, as it is after the run, holds each sampled "
                "symbol's latest warehouse row (the run's symbols and the others), equal at "
                "float32 precision: no training/serving skew",
            )
        ],
        group_name="market_data",
        kinds={"feast"},
        metadata={"feature_view": FEATURE_VIEW},
        description="Each symbol's latest features in the Feast online store (SQLite embedded, "
        "Redis in production): applies `feature_repo/` and writes the run's symbols' newest "
        "offline rows, and no other symbol's, once the parity audit passed.",
    )
    def online_features(
        context: dg.AssetExecutionContext,
        config: OnlineFeaturesConfig,
        feature_store: FeatureStoreResource,
        warehouse: WarehouseResource,
    ) -> Iterator[dg.MaterializeResult[None] | dg.AssetCheckResult]:
        symbols = sorted(context.partition_keys)
        others = sorted(set(universe) - set(symbols))
        warehouse.ensure_schema()
        latest = latest_serving_rows(warehouse, symbols)
        missing = sorted(set(symbols) - set(latest.get_column("symbol").to_list()))
        if missing:
            raise dg.Failure(
                description="no serving features in the warehouse for "
                f"{', '.join(missing)}: {short_series(warehouse, missing)}. Materialize "
                "`indicators` for them, or give them more bars.",
                metadata={"symbols_without_rows": dg.MetadataValue.json(missing)},
            )
        staged_rows = offline_latest(feature_store, warehouse, symbols)
        with warehouse.session() as session:
            published = read_versions(session, "indicators", symbols)
        refuse_republished(
            "indicators",
            republished("indicators", versions_in_run(context, "indicators"), published),
        )
        feature_store.apply()
        store = feature_store.store()
        # Audit the online store as it will be: the staged rows for the run's symbols, the
        # stored ones for the others that the store holds.
        compared_others = parity_sample(others, config.parity_sample)
        before = read_online(store, symbols + compared_others)
        held_others = [s for s in compared_others if before[s][VIEW_FIELDS[0]][1]]
        staged = staged_online(staged_rows)
        compared = parity_sample(symbols, config.parity_sample) + held_others
        audit = parity_result(
            {**before, **staged},
            pl.concat([latest, latest_serving_rows(warehouse, held_others)], how="vertical")
            if held_others
            else latest,
            compared,
            written=symbols,
        )
        if not audit.passed:
            yield from refuse_publish(
                context,
                [audit],
                [audit],
                kept="the online store is unchanged: no symbol's row was written",
            )
        try:
            write_online(store, staged_rows)
            after = read_online(store, symbols)
            verified = parity_result(after, latest, symbols)
        except Exception as exc:  # noqa: BLE001 - any store failure (Feast, Redis, SQLite)
            # A store failing mid-write is handled like one that did not keep the rows.
            failure: Exception | None = exc
        else:
            failure = None
        if failure is not None or not verified.passed:
            # Put the previous rows back. Feast cannot delete a row, so a symbol that had
            # none keeps the one written; the failed check stops everything downstream.
            restore = [s for s in symbols if before[s][VIEW_FIELDS[0]][1]]
            write_online(store, _rows_of(before, restore))
            fresh = sorted(set(symbols) - set(restore))
            kept = "the online store did not hold the written rows; previous rows restored"
            kept += f" for {', '.join(restore) or 'no symbol'}"
            if fresh:
                kept += f" ({', '.join(fresh)} had no row before and keep the one written)"
            if failure is not None:
                raise dg.Failure(
                    description=f"writing the online store failed: {failure}; {kept}"
                ) from failure
            yield from refuse_publish(context, [verified], [verified], kept=kept)
        versions: dict[str, str] = {}
        for row in staged_rows.iter_rows(named=True):
            symbol = row["symbol"]
            versions[symbol] = frame_version(staged_rows.filter(pl.col("symbol") == symbol))
            context.add_asset_metadata(
                {"latest_bar": row["ts"].isoformat(), "data_version": versions[symbol]},
                partition_key=symbol,
            )
        yield dg.MaterializeResult(
            data_version=dg.DataVersion(combined_version(versions)),
            metadata={
                "rows_written": staged_rows.height,
                "symbols": len(symbols),
                "latest_timestamp_by_symbol": dg.MetadataValue.json(
                    {
                        symbol: datetime.fromtimestamp(
                            after[symbol][VIEW_FIELDS[0]][1], UTC
                        ).isoformat()
                        for symbol in symbols
                    }
                ),
                "online_store": feature_store.online_kind,
                "indicator_set": audit.metadata["indicator_set"],
            },
        )
        yield audit

    return online_features


def _rows_of(online: Mapping[str, OnlineRow], symbols: Sequence[str]) -> pl.DataFrame:
    """Online rows (as read) back into a frame that `write_online` takes."""
    now = datetime.now(UTC)
    return pl.DataFrame(
        [
            {
                ENTITY: symbol,
                "ts": datetime.fromtimestamp(online[symbol][VIEW_FIELDS[0]][1], UTC),
                CREATED_COLUMN: now,
                **{name: online[symbol][name][0] for name in VIEW_FIELDS},
            }
            for symbol in symbols
        ]
    )
