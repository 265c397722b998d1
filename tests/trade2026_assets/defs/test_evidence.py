"""A blocking check that fails stops publication with a failure a reader takes in at a
glance: which checks, and why, a line each; the evidence stays with the checks.

No `from __future__ import annotations`: Dagster reads the asset's context annotation."""

from collections.abc import Iterator

import dagster as dg
from dagster import AssetExecutionContext

from trade2026_assets.defs.evidence import refuse_publish

ROWS_RULE = "close > 0"


@dg.asset(
    check_specs=[
        dg.AssetCheckSpec("positive_close", asset="bars", blocking=True),
        dg.AssetCheckSpec("enough_rows", asset="bars", blocking=True),
        dg.AssetCheckSpec("fresh", asset="bars", blocking=True),
    ]
)
def bars(context: AssetExecutionContext) -> Iterator[dg.AssetCheckResult]:
    results = [
        dg.AssetCheckResult(
            check_name="positive_close",
            passed=False,
            metadata={
                "failing_rows": 2,
                "checked_rows": 40,
                "rule": ROWS_RULE,
                "first_failing_rows": dg.MetadataValue.md("| close |\n|---|\n| -1 |\n| 0 |"),
            },
        ),
        dg.AssetCheckResult(
            check_name="enough_rows", passed=False, metadata={"problem": "no rows to check"}
        ),
        dg.AssetCheckResult(check_name="fresh", passed=True),
    ]
    yield from refuse_publish(context, results, results[:2], kept="the bars are unchanged")


def test_a_failed_blocking_check_fails_the_step_with_which_checks_and_why_only() -> None:
    with dg.instance_for_test() as instance:
        result = dg.materialize([bars], instance=instance, raise_on_error=False)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    data = failure.step_failure_data
    assert data.user_failure_data is not None
    assert data.user_failure_data.description == (
        "2 blocking check(s) failed, nothing was published (the bars are unchanged):\n"
        f"- positive_close: 2 of 40 rows fail ({ROWS_RULE})\n"
        "- enough_rows: no rows to check"
    )
    # The error as the UI prints it above the stack: the same lines, no evidence dump.
    assert data.error is not None
    assert "first_failing_rows" not in data.error.message
    assert "Traceback" not in data.error.message
    assert {key: value.value for key, value in data.user_failure_data.metadata.items()} == {
        "positive_close": f"2 of 40 rows fail ({ROWS_RULE})",
        "enough_rows": "no rows to check",
    }
