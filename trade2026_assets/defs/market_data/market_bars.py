"""`market_bars`: OHLCV bars per symbol in the warehouse's `bars` table, and their checks.

Write, audit, publish: the bars are written to a staging table, the checks run there as
ClickHouse SQL in source order (`seq`), over exactly the rows downstream assets would read,
and the staged symbols replace the published ones only when every blocking check passed.
A failure leaves the published bars as they were, records no materialization and stops
`indicators` in the same run. All checks but the gap report (which compares the bars with
those each symbol's trading calendar expects) are blocking.
"""

from collections.abc import Iterator, Mapping

import dagster as dg
import polars as pl

from trade2026_assets.bar_files import BarsFileError
from trade2026_assets.calendars import BarCalendar, missing_bars
from trade2026_assets.defs.evidence import (
    SAMPLE_ROWS,
    RuleCheck,
    failed_blocking,
    log_failed,
    markdown_table,
    refuse_publish,
    rule_check_results,
)
from trade2026_assets.defs.market_data.resource import MarketDataResource
from trade2026_assets.versions import combined_version, versions_by
from trade2026_assets.warehouse import (
    BARS,
    WAREHOUSE_POOL,
    Published,
    WarehouseResource,
    WarehouseSession,
    to_frame,
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
)
# Not a row rule: the bars a symbol's trading calendar expects, compared with those stored.
GAPS_CHECK = RuleCheck(
    "gaps_reported",
    "no bar the symbol's trading calendar expects is missing between consecutive bars "
    "(weekends, holidays and closed hours are not gaps)",
    blocking=False,
)
SAMPLE_COLUMNS = ("seq", "ts", "open", "high", "low", "close", "volume", "prev_ts", "delta_ms")

# Every stored bar of the requested symbols in source order (`seq`), joined to the names of
# the checks it violates; per check and symbol: how many bars, and the first few.
BARS_VIOLATIONS_SQL = """
SELECT
    check_name,
    symbol,
    count() AS failing,
    groupArraySorted(5)((seq, ts, open, high, low, close, volume, prev_ts, delta_ms)) AS first
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
ARRAY JOIN arrayFilter(name -> name != '', [
    if(open IS NULL OR high IS NULL OR low IS NULL OR close IS NULL OR volume IS NULL
        OR NOT isFinite(assumeNotNull(open)) OR NOT isFinite(assumeNotNull(high))
        OR NOT isFinite(assumeNotNull(low)) OR NOT isFinite(assumeNotNull(close))
        OR NOT isFinite(assumeNotNull(volume)), 'no_missing_values', ''),
    if(ifNull(open <= 0 OR high <= 0 OR low <= 0 OR close <= 0, 0), 'prices_positive', ''),
    if(ifNull(high < greatest(open, close) OR low > least(open, close), 0),
        'high_low_consistent', ''),
    if(ifNull(volume < 0, 0), 'volume_non_negative', ''),
    if(rn > 1 AND delta_ms <= 0, 'timestamps_strictly_increasing', '')
]) AS check_name
GROUP BY check_name, symbol
"""

BARS_ROWS_SQL = """
SELECT symbol, count() AS rows FROM {table:Identifier} WHERE symbol IN {symbols:Array(String)}
GROUP BY symbol
"""

BARS_TIMES_SQL = """
SELECT symbol, seq, ts FROM {table:Identifier} WHERE symbol IN {symbols:Array(String)}
ORDER BY symbol, seq
"""

BARS_CHECK_SPECS = [check.spec("market_bars") for check in (*BARS_CHECKS, GAPS_CHECK)]


def bars_check_results(
    session: WarehouseSession,
    *,
    symbols: list[str],
    calendars: Mapping[str, BarCalendar],
    table: str = BARS.name,
) -> Iterator[dg.AssetCheckResult]:
    """Run every bars check over the rows of `symbols` in `table` (the staged bars, or the
    published ones); gaps per each symbol's trading calendar (`calendars`)."""
    yield from rule_check_results(
        session,
        checks=BARS_CHECKS,
        violations_sql=BARS_VIOLATIONS_SQL,
        rows_sql=BARS_ROWS_SQL,
        params={"symbols": symbols, "table": table},
        sample_columns=SAMPLE_COLUMNS,
    )
    yield gaps_check_result(session, symbols=symbols, calendars=calendars, table=table)


def gaps_check_result(
    session: WarehouseSession,
    *,
    symbols: list[str],
    calendars: Mapping[str, BarCalendar],
    table: str = BARS.name,
) -> dg.AssetCheckResult:
    """The gap report: each bar after expected bars that are missing, how many, which."""
    stored = to_frame(session.query_arrow(BARS_TIMES_SQL, {"symbols": symbols, "table": table}))
    gaps = missing_bars(stored, calendars)
    per_symbol = {
        symbol: int(rows.height) for (symbol,), rows in gaps.group_by("symbol", maintain_order=True)
    }
    missing = {
        symbol: int(rows["missing"].sum())
        for (symbol,), rows in gaps.group_by("symbol", maintain_order=True)
    }
    by_calendar: dict[str, list[str]] = {}
    for symbol in symbols:
        by_calendar.setdefault(calendars[symbol].describe(), []).append(symbol)
    followed = "; ".join(f"{name}: {', '.join(group)}" for name, group in by_calendar.items())
    samples = [
        {**row, "ts": row["ts"].isoformat(), "prev_ts": row["prev_ts"].isoformat()}
        for row in gaps.head(SAMPLE_ROWS).iter_rows(named=True)
    ]
    return dg.AssetCheckResult(
        check_name=GAPS_CHECK.name,
        passed=gaps.height == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "failing_rows": gaps.height,
            "checked_rows": stored.height,
            "rule": f"{GAPS_CHECK.rule}; calendars: {followed}",
            "failing_rows_by_symbol": dg.MetadataValue.json(per_symbol),
            "missing_bars_by_symbol": dg.MetadataValue.json(missing),
            "first_failing_rows": dg.MetadataValue.md(markdown_table(samples)),
        },
    )


def build_market_bars(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
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
                        session,
                        symbols=symbols,
                        calendars=market_data.calendars(symbols),
                        table=staged.name,
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
                # are the run's; each partition's own (rows, first and last bar, data
                # version) are in its metadata, not repeated in every partition's event.
                "rows_in_run": rows,
                "symbols_in_run": len(symbols),
                "source": market_data.source,
            },
        )
        log_failed(context, results)
        yield from results

    return market_bars
