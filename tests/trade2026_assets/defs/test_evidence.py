"""Check results built from warehouse queries: a rule that saw no rows proves nothing."""

from __future__ import annotations

from pathlib import Path

from trade2026_assets.defs.evidence import RuleCheck, rule_check_results
from trade2026_assets.defs.market_data.market_bars import (
    BARS_ROWS_SQL,
    BARS_VIOLATIONS_SQL,
    SAMPLE_COLUMNS,
)
from trade2026_assets.warehouse import BARS, WarehouseResource


def test_a_check_over_zero_rows_does_not_pass(tmp_path: Path) -> None:
    warehouse = WarehouseResource(chdb_path=str(tmp_path / "warehouse"))
    warehouse.ensure_schema()
    checks = [RuleCheck("prices_positive", "prices > 0"), RuleCheck("g", "r", blocking=False)]
    with warehouse.session() as session:
        results = list(
            rule_check_results(
                session,
                checks=checks,
                violations_sql=BARS_VIOLATIONS_SQL,
                rows_sql=BARS_ROWS_SQL,
                params={"symbols": ["NONE"], "table": BARS.name},
                sample_columns=SAMPLE_COLUMNS,
            )
        )
    assert [result.passed for result in results] == [False, False]
    assert results[0].metadata["problem"].value == "no rows to check"
    assert results[0].metadata["checked_rows"].value == 0
    assert results[1].severity.value == "WARN"
