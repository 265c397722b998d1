"""`market_bars`: OHLCV bars per symbol in the warehouse's `bars` table, and their checks.

Write, audit, publish: the bars are written to a staging table, the checks run there as
ClickHouse SQL in source order (`seq`), over exactly the rows downstream assets would read,
and the staged symbols replace the published ones only when every blocking check passed.
A failure leaves the published bars as they were, records no materialization and stops
`indicators` in the same run. All checks but the gap report are blocking.
"""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from trade2026_assets.assets.evidence import (
    RuleCheck,
    failed_blocking,
    log_failed,
    refuse_publish,
    rule_check_results,
)
from trade2026_assets.market_data import BarsFileError, MarketDataResource
from trade2026_assets.versions import combined_version, versions_by
from trade2026_assets.warehouse import (
    BARS,
    WAREHOUSE_POOL,
    Published,
    WarehouseResource,
    WarehouseSession,
)

BARS_CHECKS = (
    RuleCheck("no_missing_values", "open, high, low, close and volume are present and finite"),
    RuleCheck("prices_positive", "open, high, low, close > 0"),
    RuleCheck("high_low_consistent", "high >= max(open, close) and low <= min(open, close)"),
    RuleCheck("volume_non_negative", "volume >= 0"),
    RuleCheck(
        "timestamps_strictly_increasing",
        "each bar's timestamp is later than the previous bar's (no duplicates)",
    ),
    RuleCheck(
        "gaps_reported",
        "consecutive bars at most max_gap_bars x the symbol's median bar interval apart",
        blocking=False,
    ),
)
SAMPLE_COLUMNS = ("seq", "ts", "open", "high", "low", "close", "volume", "prev_ts", "delta_ms")

# Every stored bar of the requested symbols in source order (`seq`), joined to the names of
# the checks it violates; per check and symbol: how many bars, and the first few.
# `median_ms` is the symbol's typical bar interval, the yardstick for gaps.
BARS_VIOLATIONS_SQL = """
SELECT
    check_name,
    symbol,
    count() AS failing,
    groupArraySorted(5)((seq, ts, open, high, low, close, volume, prev_ts, delta_ms)) AS first
FROM (
    SELECT *,
        quantileExactIf(0.5)(delta_ms, rn > 1 AND delta_ms > 0)
            OVER (PARTITION BY symbol) AS median_ms
    FROM (
        SELECT symbol, seq, ts, open, high, low, close, volume,
            row_number() OVER w AS rn,
            lagInFrame(ts) OVER w AS prev_ts,
            dateDiff('millisecond', lagInFrame(ts) OVER w, ts) AS delta_ms
        FROM {table:Identifier}
        WHERE symbol IN {symbols:Array(String)}
        WINDOW w AS (PARTITION BY symbol ORDER BY seq
                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    )
)
ARRAY JOIN arrayFilter(name -> name != '', [
    if(open IS NULL OR high IS NULL OR low IS NULL OR close IS NULL OR volume IS NULL
        OR NOT isFinite(assumeNotNull(open)) OR NOT isFinite(assumeNotNull(high))
        OR NOT isFinite(assumeNotNull(low)) OR NOT isFinite(assumeNotNull(close))
        OR NOT isFinite(assumeNotNull(volume)), 'no_missing_values', ''),
    if(ifNull(open <= 0 OR high <= 0 OR low <= 0 OR close <= 0, 0), 'prices_positive', ''),
    if(ifNull(high < greatest(open, close) OR low > least(open, close), 0),
        'high_low_consistent', ''),
    if(ifNull(volume < 0, 0), 'volume_non_negative', ''),
    if(rn > 1 AND delta_ms <= 0, 'timestamps_strictly_increasing', ''),
    if(rn > 1 AND delta_ms > {max_gap_bars:Float64} * median_ms, 'gaps_reported', '')
]) AS check_name
GROUP BY check_name, symbol
"""

BARS_ROWS_SQL = """
SELECT symbol, count() AS rows FROM {table:Identifier} WHERE symbol IN {symbols:Array(String)}
GROUP BY symbol
"""

BARS_CHECK_SPECS = [check.spec("market_bars") for check in BARS_CHECKS]


def bars_check_results(
    session: WarehouseSession, *, symbols: list[str], max_gap_bars: float, table: str = BARS.name
) -> Iterator[dg.AssetCheckResult]:
    """Run every bars check over the rows of `symbols` in `table` (the staged bars, or the
    published ones)."""
    gap_rule = {"gaps_reported": f"{max_gap_bars:g}"}
    yield from rule_check_results(
        session,
        checks=[
            check.with_rule(check.rule.replace("max_gap_bars", gap_rule[check.name]))
            if check.name in gap_rule
            else check
            for check in BARS_CHECKS
        ],
        violations_sql=BARS_VIOLATIONS_SQL,
        rows_sql=BARS_ROWS_SQL,
        params={"symbols": symbols, "max_gap_bars": max_gap_bars, "table": table},
        sample_columns=SAMPLE_COLUMNS,
    )


def build_market_bars(
    partitions: dg.PartitionsDefinition, *, max_gap_bars: float
) -> dg.AssetsDefinition:
    @dg.asset(
        name="market_bars",
        partitions_def=partitions,
        # A backfill of the whole universe is one run, one warehouse write.
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        check_specs=BARS_CHECK_SPECS,
        group_name="market_data",
        kinds={"clickhouse", "polars"},
        metadata={"warehouse_table": BARS.name},
        description="OHLCV bars per symbol (one partition each) in the warehouse table `bars`, "
        "keyed by (symbol, ts); `seq` keeps the source order.",
    )
    def market_bars(
        context: dg.AssetExecutionContext,
        market_data: MarketDataResource,
        warehouse: WarehouseResource,
    ) -> Iterator[dg.MaterializeResult[None] | dg.AssetCheckResult]:
        symbols = list(context.partition_keys)
        try:
            frame = market_data.bars(symbols)
        except BarsFileError as exc:
            raise dg.Failure(
                description=str(exc),
                metadata={"file": exc.file, "row": exc.row or 0, "problem": exc.problem},
            ) from exc
        missing_ts = frame.filter(pl.col("ts").is_null())
        if missing_ts.height:
            first = missing_ts.row(0, named=True)
            raise dg.Failure(
                description=f"{first['symbol']}: bar {first['seq'] + 1} has no timestamp "
                f"({missing_ts.height} such bars)"
            )
        versions = versions_by(frame, "symbol", symbols)
        with warehouse.staged(table=BARS, partitions=symbols) as staged:
            rows = staged.insert(frame.to_arrow())
            with warehouse.session() as session:
                results = list(
                    bars_check_results(
                        session, symbols=symbols, max_gap_bars=max_gap_bars, table=staged.name
                    )
                )
            failed = failed_blocking(results, BARS_CHECK_SPECS)
            if failed:
                yield from refuse_publish(
                    context, results, failed, kept="the published bars are unchanged"
                )
            staged.publish(
                versions={s: Published(versions[s], {}) for s in symbols},
                asset="market_bars",
                run_id=context.run.run_id,
            )
        summary = frame.group_by("symbol", maintain_order=True).agg(
            pl.len().alias("rows"),
            pl.col("ts").min().alias("first"),
            pl.col("ts").max().alias("last"),
        )
        for row in summary.iter_rows(named=True):
            context.add_asset_metadata(
                {
                    "rows": row["rows"],
                    "first_bar": row["first"].isoformat(),
                    "last_bar": row["last"].isoformat(),
                    "data_version": versions[row["symbol"]],
                },
                partition_key=row["symbol"],
            )
        context.log.info("published %d bars for %d symbols", rows, len(symbols))
        yield dg.MaterializeResult(
            # Every partition of a run gets this one version (Dagster's rule); each
            # partition's own hash is in its `data_version` metadata.
            data_version=dg.DataVersion(combined_version(versions)),
            metadata={
                # A single-run backfill materializes many partitions at once: these figures
                # are the run's, the per-symbol ones are in bars_by_symbol.
                "rows_in_run": rows,
                "symbols_in_run": len(symbols),
                "source": market_data.source,
                "bars_by_symbol": dg.MetadataValue.json(
                    {
                        row["symbol"]: {
                            "rows": row["rows"],
                            "first": row["first"].isoformat(),
                            "last": row["last"].isoformat(),
                        }
                        for row in summary.iter_rows(named=True)
                    }
                ),
            },
        )
        log_failed(context, results)
        yield from results

    return market_bars
