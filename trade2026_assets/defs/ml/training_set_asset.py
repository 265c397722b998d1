"""`<strategy>/training_set`: point-in-time catalog features and the declared label from the
strategy's indicator set, split by time with an embargo, stored under its content hash."""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from trade2026_assets.defs.evidence import markdown_table, refuse_publish
from trade2026_assets.defs.ml.gates import no_leakage_result
from trade2026_assets.defs.ml.reads import TRAINING_SET_HASH, model_rows
from trade2026_assets.feature_catalog import FEATURE_NAMES
from trade2026_assets.ml.point_in_time import (
    FAILING_ROWS_SHOWN,
    MAX_CUTS_PER_SYMBOL,
    TOLERANCE,
    PointInTimeReport,
    check_point_in_time,
)
from trade2026_assets.ml.training_set import SPLITS, content_hash, feature_frame, split_by_time
from trade2026_assets.strategy.declaration import StrategyDeclaration
from trade2026_assets.warehouse import (
    TRAINING_SETS,
    WAREHOUSE_POOL,
    Published,
    WarehouseResource,
    read_versions,
    to_frame,
)

INDICATORS = dg.AssetKey("indicators")
MARKET_BARS = "market_bars"
# The catalog's SOURCE_COLUMNS (a test keeps them equal).
FEATURES_SQL = """
SELECT symbol, ts, close, high, low, volume, ret_1, volatility, rsi, macd, macd_signal,
       macd_hist, bb_upper, bb_middle, bb_lower, atr, indicator_set
FROM features
WHERE symbol IN {symbols:Array(String)} AND indicator_set = {indicator_set:String}
ORDER BY symbol, ts
"""
BARS_SQL = (
    "SELECT symbol, ts, close, high, low, volume FROM bars"
    " WHERE symbol IN {symbols:Array(String)} ORDER BY symbol, ts, seq"
)
STAGED_SQL = "SELECT * FROM {table:Identifier}"
POINT_IN_TIME = "point_in_time"


def point_in_time_result(report: PointInTimeReport, *, columns: int) -> dg.AssetCheckResult:
    """The evidence of a point-in-time recomputation, as the check's metadata."""
    return dg.AssetCheckResult(
        check_name=POINT_IN_TIME,
        passed=report.passed,
        metadata={
            "rows_checked": report.rows_checked,
            "values_compared": report.values_compared,
            "features_per_row": columns,
            "worst_relative_difference": report.worst_relative_difference,
            "tolerance": TOLERANCE,
            "failing_values": len(report.failures),
            "rows_checked_by_symbol": dg.MetadataValue.json(report.cuts_by_symbol),
            "max_rows_per_symbol": MAX_CUTS_PER_SYMBOL,
            "first_failing_rows": dg.MetadataValue.md(
                markdown_table(report.failures[:FAILING_ROWS_SHOWN])
            ),
        },
    )


def stale_inputs(
    partitions: list[str],
    downstream: dict[str, Published],
    upstream_versions: dict[str, Published],
    *,
    upstream: str,
    asset: str,
) -> list[str]:
    """Per partition, why `asset`'s published data was not derived from `upstream`'s
    published data (both versions named); empty when every partition matches."""
    problems = []
    for partition in partitions:
        mine = downstream.get(partition)
        theirs = upstream_versions.get(partition)
        if mine is None:
            problems.append(f"{partition}: {asset} has no recorded version")
        elif theirs is None:
            problems.append(f"{partition}: {upstream} has no recorded version")
        elif mine.inputs.get(upstream) != theirs.data_version:
            problems.append(
                f"{partition}: {asset} was derived from {upstream} version "
                f"{mine.inputs.get(upstream) or '?'}, but the published {upstream} are version "
                f"{theirs.data_version}"
            )
    return problems


def build_training_set(declaration: StrategyDeclaration, symbols: list[str]) -> dg.AssetsDefinition:
    key = dg.AssetKey(declaration.asset_key_path("training_set"))
    lineage_name = key.to_user_string()
    params = declaration.training_set_params()
    indicator_set = declaration.indicator_set

    @dg.asset(
        key=key,
        pool=WAREHOUSE_POOL,
        deps=[INDICATORS],
        group_name=declaration.group,
        kinds={"clickhouse", "polars"},
        check_specs=[
            dg.AssetCheckSpec(
                "no_leakage",
                asset=key,
                blocking=True,
                description="splits are separated by at least the label horizon",
            ),
            dg.AssetCheckSpec(
                POINT_IN_TIME,
                asset=key,
                blocking=True,
                description="sampled stored rows (each symbol's newest, every split's first "
                "and last, a seeded random sample) recomputed from the bars truncated at "
                "their own timestamp equal the stored features (1e-12 relative)",
            ),
        ],
        metadata={
            "warehouse_table": TRAINING_SETS.name,
            "indicator_set": indicator_set,
            "symbols": dg.MetadataValue.json(symbols),
            "features": dg.MetadataValue.json(list(declaration.features)),
        },
        description=f"{declaration.name}: point-in-time features of indicator set "
        f"`{indicator_set}` for {len(symbols)} symbols and the label "
        f"close[t+{params.horizon}] > close[t], split by time (train/validation/test) with "
        "an embargo; stored under its content hash in the warehouse table `training_sets`.",
    )
    def training_set(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.MaterializeResult[None] | dg.AssetCheckResult]:
        with warehouse.session() as session:
            # The features, and the versions they and the bars were published under, read
            # in one session: a set is built from one consistent publication.
            features = to_frame(
                session.query_arrow(
                    FEATURES_SQL, {"symbols": symbols, "indicator_set": indicator_set}
                )
            )
            bars = to_frame(session.query_arrow(BARS_SQL, {"symbols": symbols}))
            feature_versions = read_versions(session, "indicators", symbols)
            bars_versions = read_versions(session, MARKET_BARS, symbols)
        stale = stale_inputs(
            symbols, feature_versions, bars_versions, upstream=MARKET_BARS, asset="indicators"
        )
        if stale:
            raise dg.Failure(
                description="features do not match the published bars: "
                + "; ".join(stale)
                + ". Re-materialize `indicators` for these symbols."
            )
        missing = sorted(set(symbols) - set(features.get_column("symbol").unique().to_list()))
        if missing:
            raise dg.Failure(
                description=f"no features of indicator set {indicator_set} for "
                f"{', '.join(missing)}: materialize `indicators` for them"
            )
        try:
            frame = split_by_time(
                feature_frame(features, params.horizon, declaration.features), params
            )
        except ValueError as exc:
            raise dg.Failure(description=str(exc)) from exc
        digest = content_hash(frame, params, indicator_set, declaration.features)
        leakage = no_leakage_result(frame, params.horizon)
        if not leakage.passed:
            yield from refuse_publish(
                context, [leakage], [leakage], kept=f"training set {digest} was not stored"
            )
        stored = frame.with_columns(pl.lit(digest).alias("training_set"))
        close = features.select(pl.col("symbol").cast(pl.String), "ts", "close")
        stored = stored.join(close, on=["symbol", "ts"], how="left")
        with warehouse.staged(table=TRAINING_SETS, partitions=[digest]) as staged:
            staged.insert(stored.select(TRAINING_SETS.columns).to_arrow())
            # Audit what was stored: the staged rows as the warehouse holds them.
            with warehouse.session() as session:
                written = to_frame(session.query_arrow(STAGED_SQL, {"table": staged.name}))
            pit = point_in_time_result(
                check_point_in_time(
                    written, bars, declaration.indicators, ("close", *FEATURE_NAMES)
                ),
                columns=1 + len(FEATURE_NAMES),
            )
            if not pit.passed:
                yield from refuse_publish(
                    context,
                    [leakage, pit],
                    [pit],
                    kept=f"training set {digest} was not stored",
                )
            staged.publish(
                versions={
                    digest: Published(
                        digest,
                        {
                            f"indicators/{symbol}": feature_versions[symbol].data_version
                            for symbol in symbols
                        },
                    )
                },
                asset=lineage_name,
                run_id=context.run.run_id,
            )
        model_rows(warehouse, digest)  # fills the model's cache from what was stored
        counts = frame.group_by("split").agg(pl.len(), pl.col("label").mean().alias("up"))
        by_split = {row["split"]: row for row in counts.iter_rows(named=True)}
        bounds = frame.group_by("split").agg(pl.col("ts").min(), pl.col("ts").max().alias("to"))
        context.log.info("training set %s: %d rows", digest, frame.height)
        yield dg.MaterializeResult(
            data_version=dg.DataVersion(digest),
            metadata={
                TRAINING_SET_HASH: digest,
                # Read by the model: a set that failed its leakage check is never trained on.
                "no_leakage_passed": leakage.passed,
                "indicator_set": indicator_set,
                "features": dg.MetadataValue.json(list(declaration.features)),
                "label": f"close[t+{params.horizon}] > close[t]",
                "params": dg.MetadataValue.json(params.model_dump()),
                "rows": frame.height,
                "rows_by_split": dg.MetadataValue.json(
                    {split: by_split[split]["len"] for split in SPLITS if split in by_split}
                ),
                "share_up_by_split": dg.MetadataValue.json(
                    {split: by_split[split]["up"] for split in SPLITS if split in by_split}
                ),
                "time_range_by_split": dg.MetadataValue.json(
                    {
                        row["split"]: [row["ts"].isoformat(), row["to"].isoformat()]
                        for row in bounds.iter_rows(named=True)
                    }
                ),
                "feature_versions": dg.MetadataValue.json(
                    {symbol: feature_versions[symbol].data_version for symbol in symbols}
                ),
            },
        )
        yield leakage
        yield pit

    return training_set
