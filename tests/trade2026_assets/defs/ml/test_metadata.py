"""Figures, tables and charts as Dagster metadata: typed, rounded for the eye, and charts
short enough for the UI to render in place."""

from __future__ import annotations

import math
from datetime import datetime

import dagster as dg
import polars as pl

from trade2026_assets.defs.ml.metadata import (
    INLINE_MARKDOWN_LIMIT,
    MAX_POINTS,
    inline_chart,
    number,
    numbers,
    table,
)


def test_numbers_are_typed_and_rounded_and_non_numbers_left_out() -> None:
    assert number(7) == dg.MetadataValue.int(7)
    assert number(0.1234567890123) == dg.MetadataValue.float(0.12346)
    assert number(-1234567.89) == dg.MetadataValue.float(-1234600.0)
    for value in (math.nan, math.inf, True, "1.0", None):
        assert number(value) is None, value
    entries = numbers({"sharpe": 1.23456789, "trades": 12, "cost_share": math.nan}, prefix="s_")
    assert entries == {
        "s_sharpe": dg.MetadataValue.float(1.2346),
        "s_trades": dg.MetadataValue.int(12),
    }
    assert list(numbers({"a": 1.0, "b": 2.0}, ["b"])) == ["b"]


def test_a_frame_becomes_a_table_with_typed_columns() -> None:
    frame = pl.DataFrame(
        {
            "symbol": ["SYNA", "SYNB"],
            "trades": [3, 4],
            "net_return": [0.0123456789, math.nan],
            "held": [True, False],
            "ts": [datetime(2024, 1, 1), datetime(2024, 1, 2)],
        }
    )
    entry = table(frame)
    assert [(c.name, c.type) for c in entry.schema.columns] == [
        ("symbol", "string"),
        ("trades", "int"),
        ("net_return", "float"),
        ("held", "bool"),
        ("ts", "string"),
    ]
    assert entry.records[0].data == {
        "symbol": "SYNA",
        "trades": 3,
        "net_return": 0.012346,
        "held": True,
        "ts": "2024-01-01 00:00:00",
    }
    # JSON has no NaN: an undefined number is empty.
    assert entry.records[1].data["net_return"] is None


def test_a_chart_gets_as_many_points_as_keep_it_inline() -> None:
    chart = inline_chart("line", lambda points: "x" * (10 * points))
    assert chart is not None
    assert len(chart.value) < INLINE_MARKDOWN_LIMIT
    # One point more would not fit.
    assert len(chart.value) + 10 >= INLINE_MARKDOWN_LIMIT
    small = inline_chart("line", lambda points: "x" * points)
    assert small is not None
    assert small.value == f"![line]({'x' * MAX_POINTS})"
    assert inline_chart("line", lambda points: "x" * 1000) is None
