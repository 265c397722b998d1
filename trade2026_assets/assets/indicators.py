"""`indicators`: RSI, MACD, Bollinger Bands, returns and volatility per symbol in the
warehouse's `features` table, and their checks.

Write, audit, publish: the features and the feature store's offline rows are written to
staging (a staging table, staged Parquet files), the checks run on the staged features, and
only when every blocking check passed are they swapped in, each symbol recording the
version of the bars it was computed from. A failure leaves the published features and
offline rows as they were.
"""

import contextlib
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pyarrow as pa
from pydantic import Field, ValidationError

from trade2026_assets.assets.evidence import (
    RuleCheck,
    config_failure,
    failed_blocking,
    log_failed,
    refuse_publish,
    rule_check_results,
)
from trade2026_assets.assets.lineage import refuse_republished, republished, versions_in_run
from trade2026_assets.bars import short_series_problem
from trade2026_assets.feature_store.frame import serving_frame
from trade2026_assets.feature_store.resource import FeatureStoreResource
from trade2026_assets.indicators import (
    IndicatorParams,
    compute_indicators,
    talib_reference,
    warmup_bars,
)
from trade2026_assets.ml.training_set import FEATURE_LOOKBACK_ROWS
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


class IndicatorsConfig(dg.Config):
    """Indicator parameters, settable per run from the launchpad."""

    rsi_period: int = 14
    macd_fast: int = 12
    macd_slow: int = 26
    macd_signal: int = 9
    bb_period: int = 20
    bb_dev_up: float = 2.0
    bb_dev_down: float = 2.0
    volatility_period: int = 20
    batch_symbols: int = Field(default=50, ge=1, description="Symbols computed per batch.")

    def params(self) -> IndicatorParams:
        try:
            return IndicatorParams(**self.model_dump(exclude={"batch_symbols"}))
        except ValidationError as exc:
            raise config_failure(exc, "indicator parameters") from exc


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
    if(NOT (isFinite(close) AND isFinite(ret_1) AND isFinite(log_ret_1)
            AND isFinite(volatility) AND isFinite(rsi) AND isFinite(macd)
            AND isFinite(macd_signal) AND isFinite(macd_hist) AND isFinite(bb_upper)
            AND isFinite(bb_middle) AND isFinite(bb_lower)), 'finite_after_warmup', ''),
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
    "SELECT symbol, ts, close FROM bars WHERE symbol IN {symbols:Array(String)}"
    " ORDER BY symbol, ts, seq"
)
STORED_FEATURES_SQL = (
    "SELECT symbol, ts, ret_1, log_ret_1, volatility, rsi, macd, macd_signal, macd_hist,"
    " bb_upper, bb_middle, bb_lower"
    " FROM {table:Identifier} WHERE symbol IN {symbols:Array(String)} ORDER BY symbol, ts"
)

INDICATOR_CHECK_SPECS = [
    *(check.spec("indicators") for check in INDICATOR_CHECKS),
    dg.AssetCheckSpec(
        "matches_talib_reference",
        asset="indicators",
        blocking=True,
        description="stored values equal TA-Lib's on the stored bars, to 1e-9",
    ),
]


def indicator_check_results(
    session: WarehouseSession,
    *,
    symbols: list[str],
    params: IndicatorParams,
    table: str = FEATURES.name,
) -> Iterator[dg.AssetCheckResult]:
    """Every indicators check over the rows of `symbols` in `table` (the staged features,
    or the published ones)."""
    yield from rule_check_results(
        session,
        checks=INDICATOR_CHECKS,
        violations_sql=INDICATOR_VIOLATIONS_SQL,
        rows_sql=INDICATOR_ROWS_SQL,
        params={"symbols": symbols, "table": table},
        sample_columns=SAMPLE_COLUMNS,
    )
    yield _reference_result(session, symbols=symbols, params=params, table=table)


def _reference_result(
    session: WarehouseSession, *, symbols: list[str], params: IndicatorParams, table: str
) -> dg.AssetCheckResult:
    """Re-derive a few stored symbols from their stored bars with TA-Lib called directly and
    compare: the whole path (read, compute, store, read back) must be exact."""
    picked = sorted({symbols[0], symbols[len(symbols) // 2], symbols[-1]})[:REFERENCE_SYMBOLS]
    bars = to_frame(session.query_arrow(STORED_BARS_SQL, {"symbols": picked}))
    stored = to_frame(session.query_arrow(STORED_FEATURES_SQL, {"symbols": picked, "table": table}))
    warmup = warmup_bars(params)
    worst: dict[str, float] = {}
    mismatched: list[dict[str, object]] = []
    compared = 0
    for symbol in picked:
        close = bars.filter(pl.col("symbol") == symbol)
        mine = stored.filter(pl.col("symbol") == symbol)
        reference = talib_reference(close.get_column("close").to_numpy(), params)[warmup:]
        expected_ts = close.get_column("ts")[warmup:]
        if mine.height != reference.height or not mine.get_column("ts").equals(expected_ts):
            mismatched.append(
                {"symbol": symbol, "stored_rows": mine.height, "expected_rows": reference.height}
            )
            continue
        compared += mine.height
        for column in reference.columns:
            ours = mine.get_column(column).to_numpy()
            theirs = reference.get_column(column).to_numpy()
            both_nan = np.isnan(ours) & np.isnan(theirs)
            diff = np.where(both_nan, 0.0, np.abs(ours - theirs))
            worst[column] = max(worst.get(column, 0.0), float(np.nanmax(diff, initial=0.0)))
            if np.isnan(diff).any():
                worst[column] = float("inf")
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


def build_indicators(
    partitions: dg.PartitionsDefinition, market_bars: dg.AssetsDefinition
) -> dg.AssetsDefinition:
    @dg.asset(
        name="indicators",
        deps=[market_bars],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        check_specs=INDICATOR_CHECK_SPECS,
        group_name="market_data",
        kinds={"clickhouse", "polars"},
        metadata={"warehouse_table": FEATURES.name},
        description="RSI, MACD, Bollinger Bands, returns and volatility per symbol (TA-Lib "
        "definitions) in the warehouse table `features`; warm-up bars are dropped and every "
        "row names its `indicator_set`. The model's features at each bar are the feature "
        "store's offline rows: Parquet files (embedded) or the table `serving_features`.",
    )
    def indicators(
        context: dg.AssetExecutionContext,
        config: IndicatorsConfig,
        warehouse: WarehouseResource,
        feature_store: FeatureStoreResource,
    ) -> Iterator[dg.MaterializeResult[None] | dg.AssetCheckResult]:
        symbols = list(context.partition_keys)
        params = config.params()
        warmup = warmup_bars(params)
        created_at = datetime.now(UTC)
        bars_read = 0
        rows_by_symbol: dict[str, int] = {}
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
            # Symbols go through in batches so that a backfill of the whole universe holds
            # one batch's bars and indicators in memory, not all of them.
            for start in range(0, len(symbols), config.batch_symbols):
                batch = symbols[start : start + config.batch_symbols]
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
                short = _short_series(bars, batch, warmup)
                if short:
                    raise dg.Failure(
                        description="too few bars for the indicators: " + "; ".join(short),
                        metadata={"warmup_bars": warmup},
                    )
                features = compute_indicators(bars, params)
                staged.insert(features.to_arrow())
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
                counts = features.group_by("symbol", maintain_order=True).len()
                rows_by_symbol.update({str(row[0]): int(row[1]) for row in counts.iter_rows()})
                del bars, features, serving
            with warehouse.session() as session:
                results = list(
                    indicator_check_results(
                        session, symbols=symbols, params=params, table=staged.name
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
                            "indicator_set": params.indicator_set(),
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
        definition = params.definition()
        with warehouse.session() as session:
            session.command(INDICATOR_SETS.ddl)
            session.insert_arrow(
                INDICATOR_SETS.name,
                pa.table(
                    {
                        "indicator_set": [params.indicator_set()],
                        "definition": [json.dumps(definition, sort_keys=True)],
                        "talib_version": [str(definition["talib_c_version"])],
                        "created_at": pa.array(
                            [datetime.now(UTC)], type=pa.timestamp("ms", tz="UTC")
                        ),
                    }
                ),
            )
        rows = sum(rows_by_symbol.values())
        for symbol in symbols:
            context.add_asset_metadata(
                {
                    "rows": rows_by_symbol.get(symbol, 0),
                    "data_version": feature_versions[symbol],
                    "bars_data_version": bars_versions[symbol].data_version
                    if symbol in bars_versions
                    else "",
                },
                partition_key=symbol,
            )
        context.log.info("published %d indicator rows for %d symbols", rows, len(symbols))
        yield dg.MaterializeResult(
            data_version=dg.DataVersion(combined_version(feature_versions)),
            metadata={
                "rows_in_run": rows,
                "bars_read_in_run": bars_read,
                "indicator_set": params.indicator_set(),
                "definition": dg.MetadataValue.json(definition),
                "warmup_bars_dropped_per_symbol": warmup,
            },
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


def _short_series(bars: pl.DataFrame, symbols: list[str], warmup: int) -> list[str]:
    """Symbols with too few bars for one complete row of the model's features: the
    indicators' warm-up plus the rows the model's lags read."""
    counts = dict(bars.group_by("symbol").len().iter_rows())
    problems = (
        short_series_problem(symbol, counts.get(symbol, 0), warmup, FEATURE_LOOKBACK_ROWS)
        for symbol in symbols
    )
    return [problem for problem in problems if problem]
