"""Asset checks whose results carry their evidence: the count, the rule and the first
offending rows, as metadata a user reads in the Dagster UI; and run-config errors worded
for the same user."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dagster as dg
import polars as pl
from pydantic import ValidationError

from trade2026_assets.warehouse import WarehouseSession, to_frame

SAMPLE_ROWS = 5


@dataclass(frozen=True)
class RuleCheck:
    """A row-level rule; its violations come from a query that names it in `check_name`."""

    name: str
    rule: str
    blocking: bool = True

    def spec(
        self, asset: str, partitions_def: dg.PartitionsDefinition | None = None
    ) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(
            self.name,
            asset=asset,
            blocking=self.blocking,
            description=self.rule,
            partitions_def=partitions_def,
        )

    def with_rule(self, rule: str) -> RuleCheck:
        return dataclasses.replace(self, rule=rule)


def rule_check_results(
    session: WarehouseSession,
    *,
    checks: Sequence[RuleCheck],
    violations_sql: str,
    rows_sql: str,
    params: Mapping[str, object],
    sample_columns: Sequence[str],
) -> Iterator[dg.AssetCheckResult]:
    """One result per check, from two queries: rows per symbol (`rows_sql`: symbol, rows)
    and violations per check and symbol (`violations_sql`: check_name, symbol, failing,
    first — the first offending rows as tuples in `sample_columns` order)."""
    rows = to_frame(session.query_arrow(rows_sql, params))
    violations = to_frame(session.query_arrow(violations_sql, params))
    yield from _rule_results(checks, rows, violations, sample_columns)


def rule_check_results_by_symbol(
    session: WarehouseSession,
    *,
    symbols: Sequence[str],
    checks: Sequence[RuleCheck],
    violations_sql: str,
    rows_sql: str,
    params: Mapping[str, object],
    sample_columns: Sequence[str],
) -> dict[str, list[dg.AssetCheckResult]]:
    """`rule_check_results` for each symbol on its own (one partition's evidence names only
    its rows), from the same two queries over all of `symbols`."""
    rows = to_frame(session.query_arrow(rows_sql, params))
    violations = to_frame(session.query_arrow(violations_sql, params))
    if rows.height:
        rows = rows.with_columns(pl.col("symbol").cast(pl.String))
    if violations.height:
        violations = violations.with_columns(pl.col("symbol").cast(pl.String))
    return {
        symbol: list(
            _rule_results(
                checks,
                rows.filter(pl.col("symbol") == symbol) if rows.height else rows,
                violations.filter(pl.col("symbol") == symbol) if violations.height else violations,
                sample_columns,
            )
        )
        for symbol in symbols
    }


def _rule_results(
    checks: Sequence[RuleCheck],
    rows: pl.DataFrame,
    violations: pl.DataFrame,
    sample_columns: Sequence[str],
) -> Iterator[dg.AssetCheckResult]:
    checked = int(rows.get_column("rows").sum()) if rows.height else 0
    for check in checks:
        if checked == 0:
            # A rule that saw no row proved nothing: it does not pass.
            yield dg.AssetCheckResult(
                check_name=check.name,
                passed=False,
                severity=dg.AssetCheckSeverity.ERROR
                if check.blocking
                else dg.AssetCheckSeverity.WARN,
                metadata={
                    "failing_rows": 0,
                    "checked_rows": 0,
                    "rule": check.rule,
                    "problem": "no rows to check",
                },
            )
            continue
        mine = violations.filter(pl.col("check_name") == check.name).sort("symbol")
        per_symbol = dict(zip(mine["symbol"].to_list(), mine["failing"].to_list(), strict=True))
        samples = [
            {"symbol": symbol, **dict(zip(sample_columns, _values(row), strict=True))}
            for symbol, first in zip(mine["symbol"].to_list(), mine["first"].to_list(), strict=True)
            for row in first
        ][:SAMPLE_ROWS]
        failures = int(sum(per_symbol.values()))
        yield dg.AssetCheckResult(
            check_name=check.name,
            passed=failures == 0,
            severity=dg.AssetCheckSeverity.ERROR if check.blocking else dg.AssetCheckSeverity.WARN,
            metadata={
                "failing_rows": failures,
                "checked_rows": checked,
                "rule": check.rule,
                "failing_rows_by_symbol": dg.MetadataValue.json(per_symbol),
                "first_failing_rows": dg.MetadataValue.md(markdown_table(samples)),
            },
        )


def failed_blocking(
    results: Sequence[dg.AssetCheckResult], specs: Sequence[dg.AssetCheckSpec]
) -> list[dg.AssetCheckResult]:
    """The results of blocking checks that did not pass."""
    blocking = {spec.name for spec in specs if spec.blocking}
    return [r for r in results if not r.passed and r.check_name in blocking]


def evidence_text(result: dg.AssetCheckResult | dg.AssetCheckEvaluation) -> str:
    """A failed check's evidence in a few lines: what the shell prints and the failure says."""
    lines = [f"check {result.check_name} did not pass:"]
    for key, value in result.metadata.items():
        raw = value.value if isinstance(value, dg.MetadataValue) else value
        if key == "first_failing_rows" or key == "first_mismatches":
            lines.append(f"  {key}:")
            lines += [f"    {line}" for line in str(raw).splitlines()]
        else:
            lines.append(f"  {key}: {raw}")
    return "\n".join(lines)


def log_failed(context: dg.AssetExecutionContext, results: Sequence[dg.AssetCheckResult]) -> None:
    """Log each failed check's evidence, so the shell (`dagster asset materialize`) shows
    values, thresholds and the first failing rows, not only "did not pass"."""
    for result in results:
        if not result.passed:
            context.log.warning(evidence_text(result))


def refuse_publish(
    context: dg.AssetExecutionContext,
    results: Sequence[dg.AssetCheckResult],
    failed: Sequence[dg.AssetCheckResult],
    *,
    kept: str,
) -> Iterator[dg.AssetCheckResult]:
    """Report every check, log each failed one's evidence, then fail the step: nothing was
    published (`kept` says what stays in place), so no materialization is recorded and
    downstream steps do not run.

    The failure itself names each failed check and why, in a line each; the evidence (values,
    first failing rows) is the checks' own and the step's log's, not repeated here."""
    yield from results
    context.log.error("\n".join(evidence_text(result) for result in failed))
    raise dg.Failure(
        description=failure_text(failed, kept=kept),
        metadata={str(result.check_name): why_failed(result) for result in failed},
        allow_retries=False,
    )


def failure_text(failed: Sequence[dg.AssetCheckResult], *, kept: str) -> str:
    """`blocking check(s) failed, nothing was published (...)` and a line per check."""
    lines = [f"{len(failed)} blocking check(s) failed, nothing was published ({kept}):"]
    lines += [f"- {result.check_name}: {why_failed(result)}" for result in failed]
    return "\n".join(lines)


def why_failed(result: dg.AssetCheckResult) -> str:
    """One line: the check's count against its rule, or its stated problem."""

    def raw(key: str) -> Any:
        value = result.metadata.get(key)
        return value.value if isinstance(value, dg.MetadataValue) else value

    if raw("problem") is not None:
        return str(raw("problem"))
    if raw("failing_rows") is not None and raw("checked_rows") is not None:
        rule = f" ({raw('rule')})" if raw("rule") else ""
        return f"{raw('failing_rows')} of {raw('checked_rows')} rows fail{rule}"
    if result.description:
        return result.description
    scalars = [
        f"{key} {raw(key)}"
        for key in result.metadata
        if isinstance(raw(key), (int, float, str, bool)) and len(str(raw(key))) <= 60
    ]
    return ", ".join(scalars[:4]) or "did not pass (no evidence recorded)"


def partition_evaluations(
    results_by_partition: Mapping[str, Sequence[dg.AssetCheckResult]],
    specs: Sequence[dg.AssetCheckSpec],
) -> Iterator[dg.AssetCheckEvaluation]:
    """Each partition's own outcome of each check (`AssetCheckResult` can only name the
    partition of a single-partition run; a single-run backfill covers many)."""
    by_name = {spec.name: spec for spec in specs}
    for partition, results in results_by_partition.items():
        for result in results:
            spec = by_name[str(result.check_name)]
            yield dg.AssetCheckEvaluation(
                asset_key=spec.asset_key,
                check_name=spec.name,
                passed=result.passed,
                metadata=result.metadata,
                severity=result.severity,
                description=result.description,
                blocking=spec.blocking,
                partition=partition,
            )


def check_outputs(
    context: dg.AssetExecutionContext, specs: Sequence[dg.AssetCheckSpec]
) -> Iterator[dg.Output[None]]:
    """The step's output of each selected check: Dagster requires one, and only an
    `AssetCheckResult` yields it on its own (`partition_evaluations` do not)."""
    selected = context.selected_asset_check_keys
    for spec in specs:
        if spec.key in selected:
            yield dg.Output(
                None, output_name=context.assets_def.get_output_name_for_asset_check_key(spec.key)
            )


def refuse_partitions(
    context: dg.AssetExecutionContext,
    failed: Mapping[str, Sequence[dg.AssetCheckResult]],
    *,
    published: Sequence[str],
    kept: str,
) -> dg.Failure:
    """The failure of a step whose blocking checks failed for some partitions (`failed`:
    partition → its failed results) after the others (`published`) were published: which
    partitions, which checks and their evidence; `kept` says what stays in place."""
    context.log.error(
        "\n".join(
            f"{partition}: {evidence_text(result)}"
            for partition, results in failed.items()
            for result in results
        )
    )
    # Which partitions, which checks and why, a line each; the evidence is in the log above.
    done = f"published {', '.join(published)}; " if published else "nothing was published; "
    lines = [
        f"blocking check(s) failed for {', '.join(failed)}; {done}not published: "
        f"{', '.join(failed)} ({kept}):"
    ]
    lines += [
        f"- {partition}: {result.check_name}: {why_failed(result)}"
        for partition, results in failed.items()
        for result in results
    ]
    return dg.Failure(
        description="\n".join(lines),
        metadata={
            f"{partition}: {result.check_name}": why_failed(result)
            for partition, results in failed.items()
            for result in results
        },
        allow_retries=False,
    )


def config_failure(exc: ValidationError, what: str) -> dg.Failure:
    """A run-config validation error as a step failure naming each bad field."""
    problems = "; ".join(
        f"{'.'.join(str(part) for part in err['loc']) or what}: {err['msg']}"
        for err in exc.errors()
    )
    return dg.Failure(description=f"invalid {what}: {problems}")


def _values(row: Any) -> list[Any]:
    # Unnamed ClickHouse tuples arrive as structs with positional field names.
    return [_plain(value) for value in (row.values() if isinstance(row, dict) else row)]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "_none_"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
