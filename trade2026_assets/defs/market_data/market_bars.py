"""`market_bars`: OHLCV bars per symbol in the warehouse's `bars` table, and their checks.

Write, audit, publish, per symbol: the bars are written to a staging table, the checks run
there as ClickHouse SQL in source order (`seq`), over exactly the rows downstream assets
would read, and each symbol's staged bars replace its published ones only when every
blocking check of that symbol passed. Each symbol (partition) carries its own outcome of
every check and its own metadata. A symbol that fails keeps its published bars and records
no materialization; the others are published and materialized, and the step then fails,
so nothing downstream runs in that run. All checks but the gap report (which compares the
bars with those each symbol's trading calendar expects) are blocking.
"""

from collections.abc import Iterator, Mapping

import dagster as dg
import polars as pl

from trade2026_assets.bar_files import BarsFileError
from trade2026_assets.calendars import BarCalendar, missing_bars
from trade2026_assets.defs.evidence import (
    SAMPLE_ROWS,
    RuleCheck,
    check_outputs,
    failed_blocking,
    log_failed,
    markdown_table,
    partition_evaluations,
    refuse_partitions,
    rule_check_results_by_symbol,
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
# The tag Dagster reads a materialization's data version from (not exported by `dagster`).
DATA_VERSION_TAG = "dagster/data_version"
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
) -> dict[str, list[dg.AssetCheckResult]]:
    """Every bars check over the rows of `symbols` in `table` (the staged bars, or the
    published ones), per symbol; gaps per each symbol's trading calendar (`calendars`)."""
    results = rule_check_results_by_symbol(
        session,
        symbols=symbols,
        checks=BARS_CHECKS,
        violations_sql=BARS_VIOLATIONS_SQL,
        rows_sql=BARS_ROWS_SQL,
        params={"symbols": symbols, "table": table},
        sample_columns=SAMPLE_COLUMNS,
    )
    gaps = gaps_check_results(session, symbols=symbols, calendars=calendars, table=table)
    return {symbol: [*results[symbol], gaps[symbol]] for symbol in symbols}


def gaps_check_results(
    session: WarehouseSession,
    *,
    symbols: list[str],
    calendars: Mapping[str, BarCalendar],
    table: str = BARS.name,
) -> dict[str, dg.AssetCheckResult]:
    """The gap report of each symbol: each bar after expected bars that are missing, how
    many, which."""
    stored = to_frame(
        session.query_arrow(BARS_TIMES_SQL, {"symbols": symbols, "table": table})
    ).with_columns(pl.col("symbol").cast(pl.String))
    gaps = missing_bars(stored, calendars)
    if gaps.height:
        gaps = gaps.with_columns(pl.col("symbol").cast(pl.String))
    checked = dict(stored.group_by("symbol").len().iter_rows())
    results = {}
    for symbol in symbols:
        mine = gaps.filter(pl.col("symbol") == symbol) if gaps.height else gaps
        samples = [
            {**row, "ts": row["ts"].isoformat(), "prev_ts": row["prev_ts"].isoformat()}
            for row in mine.head(SAMPLE_ROWS).iter_rows(named=True)
        ]
        results[symbol] = dg.AssetCheckResult(
            check_name=GAPS_CHECK.name,
            passed=mine.height == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "failing_rows": mine.height,
                "checked_rows": int(checked.get(symbol, 0)),
                "rule": f"{GAPS_CHECK.rule}; calendars: {calendars[symbol].describe()}: {symbol}",
                "failing_rows_by_symbol": dg.MetadataValue.json(
                    {symbol: mine.height} if mine.height else {}
                ),
                "missing_bars_by_symbol": dg.MetadataValue.json(
                    {symbol: int(mine["missing"].sum())} if mine.height else {}
                ),
                "first_failing_rows": dg.MetadataValue.md(markdown_table(samples)),
            },
        )
    return results


def build_market_bars(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    # Partitioned checks (a preview in Dagster 1.13): each symbol carries its own outcome.
    check_specs = [
        check.spec("market_bars", partitions_def=partitions) for check in (*BARS_CHECKS, GAPS_CHECK)
    ]

    @dg.asset(
        name="market_bars",
        partitions_def=partitions,
        # A backfill of the whole universe is one run, one warehouse write.
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        check_specs=check_specs,
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
    ) -> Iterator[
        dg.MaterializeResult[None]
        | dg.AssetMaterialization
        | dg.AssetCheckEvaluation
        | dg.Output[None]
    ]:
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
            staged.insert(frame.to_arrow())
            with warehouse.session() as session:
                results = bars_check_results(
                    session,
                    symbols=symbols,
                    calendars=market_data.calendars(symbols),
                    table=staged.name,
                )
            failed = {
                symbol: bad
                for symbol in symbols
                if (bad := failed_blocking(results[symbol], BARS_CHECK_SPECS))
            }
            # Write, audit, publish per symbol: a symbol whose audit failed keeps its
            # published bars; the others are published all the same.
            good = [symbol for symbol in symbols if symbol not in failed]
            if good:
                staged.publish(
                    versions={s: Published(versions[s], {}) for s in good},
                    asset="market_bars",
                    run_id=context.run.run_id,
                    partitions=good,
                )
        summary = (
            frame.filter(pl.col("symbol").is_in(good))
            .group_by("symbol", maintain_order=True)
            .agg(
                pl.len().alias("rows"),
                pl.col("ts").min().alias("first"),
                pl.col("ts").max().alias("last"),
            )
        )
        # Each partition's own figures only: a run's totals would repeat in every one.
        own = {
            str(row["symbol"]): {
                "rows": row["rows"],
                "first_bar": row["first"].isoformat(),
                "last_bar": row["last"].isoformat(),
                "data_version": versions[row["symbol"]],
                "source": market_data.source,
            }
            for row in summary.iter_rows(named=True)
        }
        context.log.info(
            "published %d bars for %d of %d symbols",
            int(summary["rows"].sum()) if summary.height else 0,
            len(good),
            len(symbols),
        )
        for symbol in symbols:
            log_failed(context, results[symbol])
        if failed:
            # The step fails (nothing downstream runs on this run's bars), so no output
            # materializes the range: each published symbol is recorded on its own, the
            # refused ones are not.
            for symbol in good:
                yield dg.AssetMaterialization(
                    asset_key=context.asset_key,
                    partition=symbol,
                    metadata=own[symbol],
                    tags={DATA_VERSION_TAG: versions[symbol]},
                )
            yield from partition_evaluations(results, check_specs)
            raise refuse_partitions(
                context, failed, published=good, kept="their published bars are unchanged"
            )
        for symbol in symbols:
            context.add_asset_metadata(own[symbol], partition_key=symbol)
        yield dg.MaterializeResult(
            # Every partition of a run gets this one version (Dagster's rule); each
            # partition's own hash is in its `data_version` metadata.
            data_version=dg.DataVersion(combined_version(versions)),
        )
        yield from check_outputs(context, check_specs)
        yield from partition_evaluations(results, check_specs)

    return market_bars
