"""`indicators`: RSI, MACD, Bollinger Bands, ATR, returns and volatility per symbol and
indicator set in the warehouse's `features` table, and their checks. The indicator sets are
the declared strategies' (`build_indicators` is given them per symbol): no run config
chooses parameters.

Write, audit, publish: the features and the feature store's offline rows are written to
staging (a staging table, staged Parquet files), the checks run on the staged features, and
only when every blocking check passed are they swapped in, each symbol recording the
version of the bars it was computed from. A failure leaves the published features and
offline rows as they were.
"""

import contextlib
import json
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pyarrow as pa

from trade2026_assets.bars import short_series_problem
from trade2026_assets.defs.evidence import (
    RuleCheck,
    failed_blocking,
    log_failed,
    refuse_publish,
    rule_check_results,
)
from trade2026_assets.defs.lineage import refuse_republished, republished, versions_in_run
from trade2026_assets.feature_catalog import LOOKBACK_ROWS
from trade2026_assets.feature_store.frame import serving_frame
from trade2026_assets.feature_store.resource import FeatureStoreResource
from trade2026_assets.technical_indicators import (
    IndicatorParams,
    compute_indicators,
    talib_reference,
    warmup_bars,
)
from trade2026_assets.versions import combined_version, versions_by
from trade2026_assets.warehouse import (
    FEATURES,
    INDICATOR_SETS,
    SERVING_FEATURES,
    WAREHOUSE_POOL,
    Published,
    WarehouseResource,
    WarehouseSession,
    read_versions,
    to_frame,
)

REFERENCE_TOLERANCE = 1e-9
# Stored symbols re-derived from their stored bars by TA-Lib directly, per run.
REFERENCE_SYMBOLS = 3


# Symbols computed per batch: a backfill of the whole universe holds one batch's bars and
# indicators in memory, not all of them.
BATCH_SYMBOLS = 50


def symbol_indicator_sets(
    indicator_sets: Mapping[str, Sequence[IndicatorParams]], symbols: Sequence[str]
) -> dict[str, list[IndicatorParams]]:
    """Each symbol's distinct indicator sets (by name, in name order), or a ValueError
    naming the symbols without one and the symbols that are not in the universe."""
    unknown = sorted(set(indicator_sets) - set(symbols))
    if unknown:
        raise ValueError(f"indicator sets for symbols outside the universe: {unknown}")
    missing = [symbol for symbol in symbols if not indicator_sets.get(symbol)]
    if missing:
        raise ValueError(f"no indicator set for {missing}: no declared strategy trades them")
    return {
        symbol: sorted(
            {params.indicator_set(): params for params in indicator_sets[symbol]}.values(),
            key=lambda params: params.indicator_set(),
        )
        for symbol in symbols
    }


INDICATOR_CHECKS = (
    RuleCheck("rsi_in_range", "0 <= rsi <= 100"),
    RuleCheck(
        "finite_after_warmup", "every stored value is finite (no NaN or infinity after warm-up)"
    ),
    RuleCheck("bands_ordered", "bb_lower <= bb_middle <= bb_upper"),
)
SAMPLE_COLUMNS = ("ts", "close", "rsi", "macd", "macd_signal", "bb_upper", "bb_middle", "bb_lower")

INDICATOR_VIOLATIONS_SQL = """
SELECT
    check_name,
    symbol,
    count() AS failing,
    groupArraySorted(5)((ts, close, rsi, macd, macd_signal, bb_upper, bb_middle, bb_lower))
        AS first
FROM {table:Identifier}
ARRAY JOIN arrayFilter(name -> name != '', [
    if(isFinite(rsi) AND (rsi < 0 OR rsi > 100), 'rsi_in_range', ''),
    if(NOT (isFinite(close) AND isFinite(high) AND isFinite(low) AND isFinite(volume)
            AND isFinite(ret_1) AND isFinite(log_ret_1)
            AND isFinite(volatility) AND isFinite(rsi) AND isFinite(macd)
            AND isFinite(macd_signal) AND isFinite(macd_hist) AND isFinite(bb_upper)
            AND isFinite(bb_middle) AND isFinite(bb_lower) AND isFinite(atr)),
        'finite_after_warmup', ''),
    if(isFinite(bb_lower) AND isFinite(bb_middle) AND isFinite(bb_upper)
        AND NOT (bb_lower <= bb_middle AND bb_middle <= bb_upper), 'bands_ordered', '')
]) AS check_name
WHERE symbol IN {symbols:Array(String)}
GROUP BY check_name, symbol
"""
INDICATOR_ROWS_SQL = """
SELECT symbol, count() AS rows FROM {table:Identifier} WHERE symbol IN {symbols:Array(String)}
GROUP BY symbol
"""
STORED_BARS_SQL = (
    "SELECT symbol, ts, close, high, low, volume FROM bars"
    " WHERE symbol IN {symbols:Array(String)} ORDER BY symbol, ts, seq"
)
STORED_FEATURES_SQL = (
    "SELECT symbol, indicator_set, ts, close, high, low, volume, ret_1, log_ret_1,"
    " volatility, rsi, macd, macd_signal, macd_hist, bb_upper, bb_middle, bb_lower, atr"
    " FROM {table:Identifier} WHERE symbol IN {symbols:Array(String)}"
    " ORDER BY symbol, indicator_set, ts"
)

INDICATOR_CHECK_SPECS = [
    *(check.spec("indicators") for check in INDICATOR_CHECKS),
    dg.AssetCheckSpec(
        "matches_talib_reference",
        asset="indicators",
        blocking=True,
        description="stored values of every indicator set equal TA-Lib's on the stored "
        "bars, to 1e-9, and the stored bar columns equal the bars",
    ),
]


def indicator_check_results(
    session: WarehouseSession,
    *,
    symbols: list[str],
    indicator_sets: Mapping[str, Sequence[IndicatorParams]],
    table: str = FEATURES.name,
) -> Iterator[dg.AssetCheckResult]:
    """Every indicators check over the rows of `symbols` in `table` (the staged features,
    or the published ones), every indicator set of each symbol (`indicator_sets`)."""
    yield from rule_check_results(
        session,
        checks=INDICATOR_CHECKS,
        violations_sql=INDICATOR_VIOLATIONS_SQL,
        rows_sql=INDICATOR_ROWS_SQL,
        params={"symbols": symbols, "table": table},
        sample_columns=SAMPLE_COLUMNS,
    )
    yield _reference_result(session, symbols=symbols, indicator_sets=indicator_sets, table=table)


def _reference_result(
    session: WarehouseSession,
    *,
    symbols: list[str],
    indicator_sets: Mapping[str, Sequence[IndicatorParams]],
    table: str,
) -> dg.AssetCheckResult:
    """Re-derive a few stored symbols from their stored bars with TA-Lib called directly and
    compare, every indicator set of each: the whole path (read, compute, store, read back)
    must be exact."""
    picked = sorted({symbols[0], symbols[len(symbols) // 2], symbols[-1]})[:REFERENCE_SYMBOLS]
    bars = to_frame(session.query_arrow(STORED_BARS_SQL, {"symbols": picked})).with_columns(
        pl.col("symbol").cast(pl.String)
    )
    stored = to_frame(
        session.query_arrow(STORED_FEATURES_SQL, {"symbols": picked, "table": table})
    ).with_columns(pl.col("symbol", "indicator_set").cast(pl.String))
    worst: dict[str, float] = {}
    mismatched: list[dict[str, object]] = []
    compared = 0
    for symbol in picked:
        for params in indicator_sets.get(symbol, ()):
            warmup = warmup_bars(params)
            name = params.indicator_set()
            of_symbol = bars.filter(pl.col("symbol") == symbol)
            mine = stored.filter((pl.col("symbol") == symbol) & (pl.col("indicator_set") == name))
            reference = talib_reference(
                of_symbol.get_column("close").to_numpy(),
                params,
                high=of_symbol.get_column("high").to_numpy(),
                low=of_symbol.get_column("low").to_numpy(),
            ).with_columns(
                of_symbol.get_column(column).cast(pl.Float64).fill_null(float("nan"))
                for column in ("close", "high", "low", "volume")
            )[warmup:]
            expected_ts = of_symbol.get_column("ts")[warmup:]
            if mine.height != reference.height or not mine.get_column("ts").equals(expected_ts):
                mismatched.append(
                    {
                        "symbol": symbol,
                        "indicator_set": name,
                        "stored_rows": mine.height,
                        "expected_rows": reference.height,
                    }
                )
                continue
            compared += mine.height
            _compare(mine, reference, worst)
    max_diff = max(worst.values(), default=0.0)
    passed = not mismatched and max_diff <= REFERENCE_TOLERANCE
    return dg.AssetCheckResult(
        check_name="matches_talib_reference",
        passed=passed,
        metadata={
            "symbols_compared": dg.MetadataValue.json(picked),
            "rows_compared": compared,
            "max_abs_diff": max_diff,
            "tolerance": REFERENCE_TOLERANCE,
            "max_abs_diff_by_column": dg.MetadataValue.json(worst),
            "row_mismatches": dg.MetadataValue.json(mismatched),
        },
    )


def _compare(mine: pl.DataFrame, reference: pl.DataFrame, worst: dict[str, float]) -> None:
    """Record the largest absolute difference per column (NaN on one side only: infinite)."""
    for column in reference.columns:
        ours = mine.get_column(column).to_numpy()
        theirs = reference.get_column(column).to_numpy()
        both_nan = np.isnan(ours) & np.isnan(theirs)
        diff = np.where(both_nan, 0.0, np.abs(ours - theirs))
        worst[column] = max(worst.get(column, 0.0), float(np.nanmax(diff, initial=0.0)))
        if np.isnan(diff).any():
            worst[column] = float("inf")


def build_indicators(
    partitions: dg.PartitionsDefinition,
    market_bars: dg.AssetsDefinition,
    indicator_sets: Mapping[str, Sequence[IndicatorParams]],
    *,
    batch_symbols: int = BATCH_SYMBOLS,
) -> dg.AssetsDefinition:
    """The `indicators` asset: per symbol, every indicator set some declared strategy
    trading it needs (`indicator_sets`: symbol → its sets), all in the symbol's partition
    of `features`; a run replaces every set of its symbols."""
    if batch_symbols < 1:
        raise ValueError(f"batch_symbols must be at least 1, got {batch_symbols}")
    sets_of = symbol_indicator_sets(indicator_sets, list(partitions.get_partition_keys()))

    @dg.asset(
        name="indicators",
        deps=[market_bars],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        check_specs=INDICATOR_CHECK_SPECS,
        group_name="market_data",
        kinds={"clickhouse", "polars"},
        metadata={
            "warehouse_table": FEATURES.name,
            "indicator_sets": dg.MetadataValue.json(
                sorted({p.indicator_set() for sets in sets_of.values() for p in sets})
            ),
        },
        description="RSI, MACD, Bollinger Bands, ATR, returns and volatility per symbol "
        "(TA-Lib definitions) in the warehouse table `features`, once for each indicator set "
        "a declared strategy trading the symbol needs; warm-up bars are dropped and every row "
        "names its `indicator_set`. Every catalog feature at each bar is the feature store's "
        "offline rows: Parquet files (embedded) or the table `serving_features`.",
    )
    def indicators(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        feature_store: FeatureStoreResource,
    ) -> Iterator[dg.MaterializeResult[None] | dg.AssetCheckResult]:
        symbols = list(context.partition_keys)
        run_sets = {symbol: sets_of[symbol] for symbol in symbols}
        definitions = {
            params.indicator_set(): params for sets in run_sets.values() for params in sets
        }
        created_at = datetime.now(UTC)
        bars_read = 0
        rows_by_symbol: dict[str, int] = {}
        bars_read_by_symbol: dict[str, int] = {}
        feature_versions: dict[str, str] = {}
        bars_versions: dict[str, Published] = {}
        offline_staging = feature_store.staging_dir(context.run.run_id)
        bars_in_run = versions_in_run(context, "market_bars")
        with contextlib.ExitStack() as stack:
            staged = stack.enter_context(warehouse.staged(table=FEATURES, partitions=symbols))
            # The offline rows: staged files (embedded) or a staging `serving_features`.
            staged_serving = (
                None
                if feature_store.offline == "files"
                else stack.enter_context(
                    warehouse.staged(table=SERVING_FEATURES, partitions=symbols)
                )
            )
            stack.enter_context(_removed_after(offline_staging))
            for start in range(0, len(symbols), batch_symbols):
                batch = symbols[start : start + batch_symbols]
                with warehouse.session() as session:
                    # The bars and the version they were published under, in one session.
                    bars = to_frame(
                        session.query_arrow(STORED_BARS_SQL, {"symbols": batch})
                    ).with_columns(pl.col("symbol").cast(pl.String))
                    batch_versions = read_versions(session, "market_bars", batch)
                refuse_republished(
                    "market_bars",
                    republished(
                        "market_bars",
                        {s: v for s, v in bars_in_run.items() if s in batch},
                        batch_versions,
                    ),
                )
                bars_versions.update(batch_versions)
                short = _short_series(bars, {symbol: run_sets[symbol] for symbol in batch})
                if short:
                    raise dg.Failure(
                        description="too few bars for the indicators: " + "; ".join(short),
                        metadata={
                            "warmup_bars": dg.MetadataValue.json(
                                {name: warmup_bars(p) for name, p in definitions.items()}
                            )
                        },
                    )
                parts = []
                for name in sorted(definitions):
                    wanted = [s for s in batch if definitions[name] in run_sets[s]]
                    if not wanted:
                        continue
                    computed = compute_indicators(
                        bars.filter(pl.col("symbol").is_in(wanted)), definitions[name]
                    )
                    staged.insert(computed.to_arrow())
                    parts.append(computed.with_columns(pl.col("symbol").cast(pl.String)))
                features = pl.concat(parts, how="vertical")
                # One version per symbol over all of its sets, in set-name order.
                feature_versions.update(versions_by(features, "symbol", batch))
                # The feature store's offline rows: Parquet files (embedded) or the
                # `serving_features` table that Feast's ClickHouse store reads (production).
                serving = serving_frame(features, created_at=created_at)
                if feature_store.offline == "files":
                    feature_store.export_offline(serving, batch, directory=offline_staging)
                else:
                    assert staged_serving is not None
                    staged_serving.insert(serving.to_arrow())
                bars_read += bars.height
                bars_read_by_symbol.update(
                    {str(row[0]): int(row[1]) for row in bars.group_by("symbol").len().iter_rows()}
                )
                counts = features.group_by("symbol", maintain_order=True).len()
                rows_by_symbol.update({str(row[0]): int(row[1]) for row in counts.iter_rows()})
                del bars, features, serving, parts
            with warehouse.session() as session:
                results = list(
                    indicator_check_results(
                        session, symbols=symbols, indicator_sets=run_sets, table=staged.name
                    )
                )
            failed = failed_blocking(results, INDICATOR_CHECK_SPECS)
            if failed:
                yield from refuse_publish(
                    context,
                    results,
                    failed,
                    kept="the published features and offline rows are unchanged",
                )
            staged.publish(
                versions={
                    symbol: Published(
                        feature_versions[symbol],
                        {
                            "market_bars": bars_versions[symbol].data_version
                            if symbol in bars_versions
                            else "",
                            "indicator_set": ",".join(p.indicator_set() for p in run_sets[symbol]),
                        },
                    )
                    for symbol in symbols
                },
                asset="indicators",
                run_id=context.run.run_id,
                # Complete once the offline rows are published too: they are part of it.
                finish=False,
            )
            if feature_store.offline == "files":
                feature_store.publish_offline(offline_staging, symbols)
            else:
                assert staged_serving is not None
                staged_serving.publish()
            staged.finish()
        described = {name: params.definition() for name, params in sorted(definitions.items())}
        with warehouse.session() as session:
            session.command(INDICATOR_SETS.ddl)
            session.insert_arrow(
                INDICATOR_SETS.name,
                pa.table(
                    {
                        "indicator_set": list(described),
                        "definition": [json.dumps(d, sort_keys=True) for d in described.values()],
                        "talib_version": [str(d["talib_c_version"]) for d in described.values()],
                        "created_at": pa.array(
                            [datetime.now(UTC)] * len(described),
                            type=pa.timestamp("ms", tz="UTC"),
                        ),
                    }
                ),
            )
        rows = sum(rows_by_symbol.values())
        # Each partition's own figures only: a run's totals would repeat in every one.
        for symbol in symbols:
            context.add_asset_metadata(
                {
                    "rows": rows_by_symbol.get(symbol, 0),
                    "bars_read": bars_read_by_symbol.get(symbol, 0),
                    "data_version": feature_versions[symbol],
                    "bars_data_version": bars_versions[symbol].data_version
                    if symbol in bars_versions
                    else "",
                    "indicator_sets": dg.MetadataValue.json(
                        [params.indicator_set() for params in run_sets[symbol]]
                    ),
                    "definitions": dg.MetadataValue.json(
                        {p.indicator_set(): described[p.indicator_set()] for p in run_sets[symbol]}
                    ),
                    "warmup_bars_dropped": dg.MetadataValue.json(
                        {p.indicator_set(): warmup_bars(p) for p in run_sets[symbol]}
                    ),
                },
                partition_key=symbol,
            )
        context.log.info(
            "published %d indicator rows of %d indicator set(s) from %d bars for %d symbols",
            rows,
            len(described),
            bars_read,
            len(symbols),
        )
        yield dg.MaterializeResult(
            # Every partition of a run gets this one version (Dagster's rule); each
            # partition's own hash is in its `data_version` metadata.
            data_version=dg.DataVersion(combined_version(feature_versions)),
        )
        log_failed(context, results)
        yield from results

    return indicators


@contextmanager
def _removed_after(directory: Path) -> Iterator[None]:
    """Staged files never outlive the step, published or not."""
    try:
        yield
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _short_series(bars: pl.DataFrame, sets: Mapping[str, Sequence[IndicatorParams]]) -> list[str]:
    """Symbols with too few bars for one complete row of every catalog feature under each
    of their indicator sets: the set's warm-up plus the rows the catalog's lookbacks read."""
    counts = dict(bars.group_by("symbol").len().iter_rows())
    problems = (
        short_series_problem(
            symbol,
            counts.get(symbol, 0),
            max(warmup_bars(params) for params in symbol_sets),
            LOOKBACK_ROWS,
        )
        for symbol, symbol_sets in sets.items()
    )
    return [problem for problem in problems if problem]
