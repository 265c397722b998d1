"""`online_features`: the latest features of each (symbol, indicator set) in the Feast
online store, and the training/serving skew gate `online_offline_parity`.

Write, audit, publish: a run stages the rows it would write (the newest row of each of its
symbols' indicator sets in the feature store's offline rows, what Feast serves from),
audits them together with the online rows of the symbols it does not write against the
warehouse, and writes only its own symbols' rows to the online store, only when that audit
passed. The written rows are read
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

from trade2026_assets.defs.evidence import markdown_table, refuse_publish
from trade2026_assets.defs.lineage import refuse_republished, republished, versions_in_run
from trade2026_assets.defs.market_data.indicators import symbol_indicator_sets
from trade2026_assets.defs.ml.training_set_asset import (
    BARS_SQL,
    POINT_IN_TIME,
    point_in_time_result,
)
from trade2026_assets.feature_catalog import LOOKBACK_ROWS
from trade2026_assets.feature_store.frame import (
    CREATED_COLUMN,
    ENTITY,
    FEATURE_VIEW,
    INDICATOR_SET_ENTITY,
    JOIN_KEYS,
    VIEW_FIELDS,
    serving_frame,
)
from trade2026_assets.feature_store.resource import FeatureStoreResource
from trade2026_assets.ml.point_in_time import check_point_in_time, merged
from trade2026_assets.technical_indicators import IndicatorParams
from trade2026_assets.versions import combined_version, frame_version
from trade2026_assets.warehouse import WAREHOUSE_POOL, WarehouseResource, read_versions

if TYPE_CHECKING:
    from feast import FeatureStore

PARITY_CHECK = "online_offline_parity"
# The last feature rows of each (symbol, indicator set): enough to derive its latest
# serving row.
LAST_FEATURE_ROWS_SQL = """
SELECT symbol, ts, close, high, low, volume, ret_1, log_ret_1, volatility, rsi, macd,
    macd_signal, macd_hist, bb_upper, bb_middle, bb_lower, atr, indicator_set
FROM features
WHERE symbol IN {symbols:Array(String)}
ORDER BY symbol, indicator_set, ts DESC
LIMIT {rows:UInt32} BY symbol, indicator_set
"""
MISMATCH_ROWS = 20
# An online row's key: (symbol, indicator set), the feature view's join keys.
Key = tuple[str, str]
# Per field of the feature view: (value, event time in seconds); (None, 0) when absent.
OnlineRow = dict[str, tuple[float | None, int]]


LATEST_OFFLINE_SQL = """
SELECT * FROM serving_features
WHERE symbol IN {symbols:Array(String)}
ORDER BY symbol, indicator_set, ts DESC, created_at DESC
LIMIT 1 BY symbol, indicator_set
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
        description="Symbols compared by the parity check per run (each with every indicator "
        "set), of those the run writes and, as many again, of those it does not.",
    )


def label(key: Key) -> str:
    """How evidence names an online row: `SYMBOL/indicator_set`."""
    return f"{key[0]}/{key[1]}"


def keys_of(rows: pl.DataFrame) -> list[Key]:
    if rows.is_empty():
        return []
    return [(str(s), str(i)) for s, i in rows.select(ENTITY, INDICATOR_SET_ENTITY).iter_rows()]


def latest_serving_rows(warehouse: WarehouseResource, symbols: Sequence[str]) -> pl.DataFrame:
    """Each (symbol, indicator set)'s latest serving row, derived afresh from the
    warehouse's `features` table by the code training uses: what the online store must
    hold."""
    rows = warehouse.query_frame(
        LAST_FEATURE_ROWS_SQL, {"symbols": list(symbols), "rows": LOOKBACK_ROWS}
    ).with_columns(pl.col("symbol", "indicator_set").cast(pl.String))
    return (
        serving_frame(rows, created_at=datetime.now(UTC))
        .group_by(*JOIN_KEYS)
        .agg(pl.all().sort_by("ts").last())
        .sort(*JOIN_KEYS)
    )


def offline_latest(
    feature_store: FeatureStoreResource, warehouse: WarehouseResource, symbols: Sequence[str]
) -> pl.DataFrame:
    """Each (symbol, indicator set)'s newest row of the feature store's offline rows (the
    Parquet export, or `serving_features`): what the online store is given. Keys without
    rows are absent."""
    if feature_store.offline == "files":
        parts = []
        for symbol in symbols:
            path = feature_store.offline_dir / f"{symbol}.parquet"
            if path.exists():
                rows = pl.read_parquet(path).sort(INDICATOR_SET_ENTITY, "ts", CREATED_COLUMN)
                parts.append(rows.group_by(INDICATOR_SET_ENTITY, maintain_order=True).tail(1))
        if not parts:
            return pl.DataFrame()
        frame = pl.concat(parts, how="diagonal_relaxed")
    else:
        frame = warehouse.query_frame(LATEST_OFFLINE_SQL, {"symbols": list(symbols)})
    return frame.with_columns(pl.col(*JOIN_KEYS).cast(pl.String)).sort(*JOIN_KEYS)


def staged_online(rows: pl.DataFrame) -> dict[Key, OnlineRow]:
    """Offline rows as the online store will hold them: float32 values at the bar time."""
    staged: dict[Key, OnlineRow] = {}
    for row in rows.iter_rows(named=True):
        stamp = int(row["ts"].timestamp())
        staged[(row[ENTITY], row[INDICATOR_SET_ENTITY])] = {
            name: (None if row[name] is None else float(np.float32(row[name])), stamp)
            for name in VIEW_FIELDS
        }
    return staged


def write_online(store: "FeatureStore", rows: pl.DataFrame) -> None:
    """Write exactly these rows (one per (symbol, indicator set)) to the online store: no
    other row is touched (Feast's `materialize` writes every entity of its time window)."""
    if rows.height:
        frame = rows.select(*JOIN_KEYS, "ts", CREATED_COLUMN, *VIEW_FIELDS).to_pandas()
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
        f"{LOOKBACK_ROWS} indicator rows of its indicator set after the warm-up)"
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


def read_online(store: "FeatureStore", keys: Sequence[Key]) -> dict[Key, OnlineRow]:
    """Every field of the feature view for `keys`, in one online-store read."""
    if not keys:
        return {}
    response = store.get_online_features(
        features=[f"{FEATURE_VIEW}:{name}" for name in VIEW_FIELDS],
        entity_rows=[{ENTITY: symbol, INDICATOR_SET_ENTITY: iset} for symbol, iset in keys],
    )
    answer = response.to_dict(include_event_timestamps=True)
    return {
        key: {name: (answer[name][i], answer[f"{name}__ts"][i]) for name in VIEW_FIELDS}
        for i, key in enumerate(keys)
    }


def _same_float32(online: float | None, warehouse: float) -> bool:
    if online is None:
        return False
    expected = float(np.float32(warehouse))
    if math.isnan(expected):
        return math.isnan(online)
    return online == expected


def parity_result(
    online: Mapping[Key, OnlineRow],
    latest: pl.DataFrame,
    keys: Sequence[Key],
    *,
    written: Sequence[Key] | None = None,
) -> dg.AssetCheckResult:
    """Compare online rows (`read_online`, or `staged_online` for what a run is about to
    write) with each (symbol, indicator set)'s latest row derived from the warehouse
    (`latest_serving_rows`): every field equal at float32 precision, same bar time.
    `written` are the rows the run writes (all of `keys` if not given)."""
    by_key = {(row[ENTITY], row[INDICATOR_SET_ENTITY]): row for row in latest.iter_rows(named=True)}
    mismatches: list[dict[str, object]] = []
    compared = 0
    written_set = set(keys if written is None else written)
    for key in keys:
        symbol, indicator_set = key
        where = {"symbol": symbol, "indicator_set": indicator_set}
        expected = by_key.get(key)
        if expected is None:
            mismatches.append({**where, "field": "*", "online": "?", "warehouse": "no rows"})
            continue
        bar_seconds = int(expected["ts"].timestamp())
        if key not in online:
            mismatches.append(
                {**where, "field": "*", "online": "no row", "warehouse": expected["ts"]}
            )
            continue
        for name in VIEW_FIELDS:
            compared += 1
            value, stamp = online[key][name]
            if not _same_float32(value, expected[name]):
                mismatches.append(
                    {**where, "field": name, "online": value, "warehouse": expected[name]}
                )
            elif stamp != bar_seconds:
                mismatches.append(
                    {
                        **where,
                        "field": f"{name} (bar time)",
                        "online": datetime.fromtimestamp(stamp, UTC).isoformat(),
                        "warehouse": expected["ts"].isoformat(),
                    }
                )
    failing = sorted({(str(m["symbol"]), str(m["indicator_set"])) for m in mismatches})
    indicator_sets = sorted({indicator_set for _, indicator_set in keys})
    return dg.AssetCheckResult(
        check_name=PARITY_CHECK,
        passed=bool(keys) and not mismatches,
        metadata={
            "symbols_compared": dg.MetadataValue.json(sorted({s for s, _ in keys})),
            "symbols_written_by_run": dg.MetadataValue.json(
                sorted({s for s, _ in written_set & set(keys)})
            ),
            "symbols_not_written_by_run": dg.MetadataValue.json(
                sorted({s for s, _ in set(keys) - written_set})
            ),
            "rows_compared": dg.MetadataValue.json([label(key) for key in keys]),
            "rows_written_by_run": dg.MetadataValue.json(
                sorted(label(key) for key in written_set & set(keys))
            ),
            "rows_not_written_by_run": dg.MetadataValue.json(
                sorted(label(key) for key in set(keys) - written_set)
            ),
            "failing_symbols": dg.MetadataValue.json(sorted({s for s, _ in failing})),
            "failing_rows": dg.MetadataValue.json([label(key) for key in failing]),
            # The indicator definitions the compared rows were computed with.
            "indicator_sets": dg.MetadataValue.json(indicator_sets),
            "indicator_set": ",".join(indicator_sets),
            "values_compared": compared,
            "mismatches": len(mismatches),
            "precision": "float32",
            "first_mismatches": dg.MetadataValue.md(markdown_table(mismatches[:MISMATCH_ROWS])),
        },
    )


def online_point_in_time(
    staged_rows: pl.DataFrame, bars: pl.DataFrame, params_of: Mapping[str, IndicatorParams]
) -> dg.AssetCheckResult:
    """Every row the run would put online (each key's newest offline row) recomputed from
    its symbol's bars truncated at the row's bar, by the code the offline rows come from."""
    created_at = datetime.now(UTC)

    def derive(rows: pl.DataFrame) -> pl.DataFrame:
        return serving_frame(rows, created_at=created_at)

    reports = [
        check_point_in_time(
            rows, bars, params_of[str(name)], VIEW_FIELDS, derive=derive, random_rows=0
        )
        for (name,), rows in staged_rows.group_by(INDICATOR_SET_ENTITY, maintain_order=True)
        if str(name) in params_of
    ]
    return point_in_time_result(merged(reports), columns=len(VIEW_FIELDS))


def build_online_features(
    partitions: dg.PartitionsDefinition,
    indicators: dg.AssetsDefinition,
    indicator_sets: Mapping[str, Sequence[IndicatorParams]],
    services: Mapping[str, Sequence[str]],
) -> dg.AssetsDefinition:
    """The `online_features` asset: the latest row of every (symbol, indicator set) of
    `indicator_sets` online, and one feature service per strategy (`services`: name → the
    model's features, in order)."""
    universe = list(partitions.get_partition_keys())
    params_of = {
        params.indicator_set(): params
        for sets in symbol_indicator_sets(indicator_sets, universe).values()
        for params in sets
    }
    sets_of = {
        symbol: [params.indicator_set() for params in sets]
        for symbol, sets in symbol_indicator_sets(indicator_sets, universe).items()
    }
    services = {name: tuple(features) for name, features in services.items()}

    def keys_for(symbols: Sequence[str]) -> list[Key]:
        return [(symbol, name) for symbol in symbols for name in sets_of[symbol]]

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
                "symbol's latest warehouse row of every indicator set (the run's symbols "
                "and the others), equal at float32 precision: no training/serving skew",
            ),
            dg.AssetCheckSpec(
                POINT_IN_TIME,
                asset="online_features",
                blocking=True,
                description="every row the run writes online recomputed from its symbol's "
                "bars truncated at the row's bar equals the staged row (1e-12 relative)",
            ),
        ],
        group_name="market_data",
        kinds={"feast"},
        metadata={
            "feature_view": FEATURE_VIEW,
            "feature_services": dg.MetadataValue.json(sorted(services)),
        },
        description="The latest features of each (symbol, indicator set) in the Feast online "
        "store (SQLite embedded, Redis in production): applies `feature_repo/` (one view, one "
        "feature service per strategy) and writes the run's symbols' newest offline rows, "
        "and no other symbol's, once the parity audit passed.",
    )
    def online_features(
        context: dg.AssetExecutionContext,
        config: OnlineFeaturesConfig,
        feature_store: FeatureStoreResource,
        warehouse: WarehouseResource,
    ) -> Iterator[dg.MaterializeResult[None] | dg.AssetCheckResult]:
        symbols = sorted(context.partition_keys)
        keys = keys_for(symbols)
        others = sorted(set(universe) - set(symbols))
        warehouse.ensure_schema()
        latest = latest_serving_rows(warehouse, symbols)
        latest = latest.filter(
            pl.struct(*JOIN_KEYS).is_in([{ENTITY: s, INDICATOR_SET_ENTITY: i} for s, i in keys])
        )
        missing = sorted(set(keys) - set(keys_of(latest)))
        if missing:
            without = sorted({symbol for symbol, _ in missing})
            raise dg.Failure(
                description="no serving features in the warehouse for "
                f"{', '.join(label(key) for key in missing)}: {short_series(warehouse, without)}"
                ". Materialize `indicators` for them, or give them more bars.",
                metadata={
                    "symbols_without_rows": dg.MetadataValue.json(without),
                    "rows_missing": dg.MetadataValue.json([label(key) for key in missing]),
                },
            )
        offline = offline_latest(feature_store, warehouse, symbols)
        # Only the declared sets go online (the offline rows hold what `indicators` wrote).
        staged_rows = (
            offline.filter(
                pl.struct(*JOIN_KEYS).is_in([{ENTITY: s, INDICATOR_SET_ENTITY: i} for s, i in keys])
            )
            if offline.height
            else offline
        )
        with warehouse.session() as session:
            published = read_versions(session, "indicators", symbols)
        refuse_republished(
            "indicators",
            republished("indicators", versions_in_run(context, "indicators"), published),
        )
        feature_store.apply(services)
        store = feature_store.store()
        # Audit the online store as it will be: the staged rows for the run's symbols, the
        # stored ones for the others that the store holds.
        compared_others = keys_for(parity_sample(others, config.parity_sample))
        before = read_online(store, keys + compared_others)
        held_others = [key for key in compared_others if before[key][VIEW_FIELDS[0]][1]]
        staged = staged_online(staged_rows)
        compared = keys_for(parity_sample(symbols, config.parity_sample)) + held_others
        others_latest = (
            latest_serving_rows(warehouse, sorted({s for s, _ in held_others}))
            if held_others
            else None
        )
        audit = parity_result(
            {**before, **staged},
            pl.concat([latest, others_latest], how="vertical_relaxed")
            if others_latest is not None
            else latest,
            compared,
            written=keys,
        )
        pit = online_point_in_time(
            staged_rows,
            warehouse.query_frame(BARS_SQL, {"symbols": symbols}),
            params_of,
        )
        if not audit.passed or not pit.passed:
            yield from refuse_publish(
                context,
                [audit, pit],
                [result for result in (audit, pit) if not result.passed],
                kept="the online store is unchanged: no row was written",
            )
        try:
            write_online(store, staged_rows)
            after = read_online(store, keys)
            verified = parity_result(after, latest, keys)
        except Exception as exc:  # noqa: BLE001 - any store failure (Feast, Redis, SQLite)
            # A store failing mid-write is handled like one that did not keep the rows.
            failure: Exception | None = exc
        else:
            failure = None
        if failure is not None or not verified.passed:
            # Put the previous rows back. Feast cannot delete a row, so a row that did not
            # exist keeps the one written; the failed check stops everything downstream.
            restore = [key for key in keys if before[key][VIEW_FIELDS[0]][1]]
            write_online(store, _rows_of(before, restore))
            fresh = sorted(set(keys) - set(restore))
            kept = "the online store did not hold the written rows; previous rows restored"
            kept += f" for {', '.join(label(key) for key in restore) or 'no row'}"
            if fresh:
                kept += (
                    f" ({', '.join(label(key) for key in fresh)} had no row before and keep "
                    "the one written)"
                )
            if failure is not None:
                raise dg.Failure(
                    description=f"writing the online store failed: {failure}; {kept}"
                ) from failure
            yield from refuse_publish(context, [verified], [verified], kept=kept)
        versions: dict[str, str] = {}
        # Each partition's own figures only: a run's totals would repeat in every one.
        for symbol in symbols:
            rows = staged_rows.filter(pl.col(ENTITY) == symbol).sort(INDICATOR_SET_ENTITY)
            versions[symbol] = frame_version(rows)
            own = [key for key in keys if key[0] == symbol]
            context.add_asset_metadata(
                {
                    "rows_written": rows.height,
                    "latest_bar_by_indicator_set": dg.MetadataValue.json(
                        {
                            str(row[INDICATOR_SET_ENTITY]): row["ts"].isoformat()
                            for row in rows.iter_rows(named=True)
                        }
                    ),
                    # Read back from the online store after the write.
                    "latest_timestamp_by_row": dg.MetadataValue.json(
                        {
                            label(key): datetime.fromtimestamp(
                                after[key][VIEW_FIELDS[0]][1], UTC
                            ).isoformat()
                            for key in own
                        }
                    ),
                    "indicator_sets": dg.MetadataValue.json(sets_of[symbol]),
                    "data_version": versions[symbol],
                },
                partition_key=symbol,
            )
        context.log.info("wrote %d online rows for %d symbols", staged_rows.height, len(symbols))
        yield dg.MaterializeResult(
            data_version=dg.DataVersion(combined_version(versions)),
            metadata={
                "online_store": feature_store.online_kind,
                "feature_services": dg.MetadataValue.json(sorted(services)),
            },
        )
        yield audit
        yield pit

    return online_features


def _rows_of(online: Mapping[Key, OnlineRow], keys: Sequence[Key]) -> pl.DataFrame:
    """Online rows (as read) back into a frame that `write_online` takes."""
    now = datetime.now(UTC)
    return pl.DataFrame(
        [
            {
                ENTITY: symbol,
                INDICATOR_SET_ENTITY: indicator_set,
                "ts": datetime.fromtimestamp(
                    online[(symbol, indicator_set)][VIEW_FIELDS[0]][1], UTC
                ),
                CREATED_COLUMN: now,
                **{name: online[(symbol, indicator_set)][name][0] for name in VIEW_FIELDS},
            }
            for symbol, indicator_set in keys
        ]
    )
