"""`indicators`: RSI, MACD, Bollinger Bands, returns and volatility per symbol in the
warehouse's `features` table, and their checks."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import numpy as np
import polars as pl
import pyarrow as pa
from pydantic import Field, ValidationError

from trade2026_assets.assets.evidence import RuleCheck, config_failure, rule_check_results
from trade2026_assets.feature_store.frame import serving_frame
from trade2026_assets.feature_store.resource import FeatureStoreResource
from trade2026_assets.indicators import (
    IndicatorParams,
    compute_indicators,
    talib_reference,
    warmup_bars,
)
from trade2026_assets.warehouse import (
    FEATURES,
    INDICATOR_SETS,
    SERVING_FEATURES,
    WarehouseResource,
    WarehouseSession,
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
FROM features
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
SELECT symbol, count() AS rows FROM features WHERE symbol IN {symbols:Array(String)}
GROUP BY symbol
"""
STORED_BARS_SQL = (
    "SELECT symbol, ts, close FROM bars WHERE symbol IN {symbols:Array(String)}"
    " ORDER BY symbol, ts, seq"
)
STORED_FEATURES_SQL = (
    "SELECT symbol, ts, ret_1, log_ret_1, volatility, rsi, macd, macd_signal, macd_hist,"
    " bb_upper, bb_middle, bb_lower"
    " FROM features WHERE symbol IN {symbols:Array(String)} ORDER BY symbol, ts"
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
    session: WarehouseSession, *, symbols: list[str], params: IndicatorParams
) -> Iterator[dg.AssetCheckResult]:
    yield from rule_check_results(
        session,
        checks=INDICATOR_CHECKS,
        violations_sql=INDICATOR_VIOLATIONS_SQL,
        rows_sql=INDICATOR_ROWS_SQL,
        params={"symbols": symbols},
        sample_columns=SAMPLE_COLUMNS,
    )
    yield _reference_result(session, symbols=symbols, params=params)


def _reference_result(
    session: WarehouseSession, *, symbols: list[str], params: IndicatorParams
) -> dg.AssetCheckResult:
    """Re-derive a few stored symbols from their stored bars with TA-Lib called directly and
    compare: the whole path (read, compute, store, read back) must be exact."""
    picked = sorted({symbols[0], symbols[len(symbols) // 2], symbols[-1]})[:REFERENCE_SYMBOLS]
    bars = to_frame(session.query_arrow(STORED_BARS_SQL, {"symbols": picked}))
    stored = to_frame(session.query_arrow(STORED_FEATURES_SQL, {"symbols": picked}))
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
        created_at = datetime.now(UTC)
        rows = bars_read = serving_rows = 0
        rows_by_symbol: dict[str, int] = {}
        # Symbols go through in batches so that a backfill of the whole universe holds one
        # batch's bars and indicators in memory, not all of them.
        for start in range(0, len(symbols), config.batch_symbols):
            batch = symbols[start : start + config.batch_symbols]
            bars = warehouse.query_frame(STORED_BARS_SQL, {"symbols": batch})
            features = compute_indicators(bars, params)
            rows += warehouse.replace_partitions(
                table=FEATURES, data=features.to_arrow(), partitions=batch
            )
            # The feature store's offline rows: Parquet files (embedded) or the
            # `serving_features` table that Feast's ClickHouse store reads (production).
            serving = serving_frame(features, created_at=created_at)
            if feature_store.offline == "files":
                feature_store.export_offline(serving, batch)
                serving_rows += serving.height
            else:
                serving_rows += warehouse.replace_partitions(
                    table=SERVING_FEATURES, data=serving.to_arrow(), partitions=batch
                )
            bars_read += bars.height
            counts = features.group_by("symbol", maintain_order=True).len()
            rows_by_symbol.update({str(row[0]): int(row[1]) for row in counts.iter_rows()})
            del bars, features, serving
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
        context.log.info("stored %d indicator rows for %d symbols", rows, len(symbols))
        yield dg.MaterializeResult(
            metadata={
                "rows_in_run": rows,
                "serving_rows_in_run": serving_rows,
                "bars_read_in_run": bars_read,
                "indicator_set": params.indicator_set(),
                "definition": dg.MetadataValue.json(definition),
                "warmup_bars_dropped_per_symbol": warmup_bars(params),
                "rows_by_symbol": dg.MetadataValue.json(rows_by_symbol),
            }
        )
        with warehouse.session() as session:
            yield from indicator_check_results(session, symbols=symbols, params=params)

    return indicators
