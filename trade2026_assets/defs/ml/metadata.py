"""Figures, tables and charts as the Dagster UI shows them.

- A number is a typed float or int entry, so the asset's Plots tab draws it over
  materializations. The UI prints a float entry's value as it is (no formatting), so the
  value is rounded to `SIGNIFICANT` digits; the exact figures are the MLflow run's metrics.
- A table is a table entry with typed columns, its floats rounded the same way.
- A chart is a Markdown image of an SVG `data:` URI under `INLINE_MARKDOWN_LIMIT`
  characters: the UI renders shorter Markdown in place and hides longer behind
  "[Show Markdown]" (`MetadataEntry.tsx`, `mdStr.length < 1000`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import dagster as dg
import polars as pl

SIGNIFICANT = 5
INLINE_MARKDOWN_LIMIT = 1000
# The most points a chart line gets, and the fewest before it is not worth showing.
MAX_POINTS = 120
MIN_POINTS = 8


def rounded(value: float) -> float:
    return float(f"{value:.{SIGNIFICANT}g}")


def number(value: object) -> dg.MetadataValue | None:
    """An int or float entry; None for what is not a finite number (bools included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int):
        return dg.MetadataValue.int(value)
    if not math.isfinite(value):
        return None
    return dg.MetadataValue.float(rounded(value))


def numbers(
    values: Mapping[str, object], names: Iterable[str] | None = None, *, prefix: str = ""
) -> dict[str, dg.MetadataValue]:
    """`prefix + name` entries for `names` (all by default) that are finite numbers."""
    out: dict[str, dg.MetadataValue] = {}
    for name in values if names is None else names:
        entry = number(values.get(name))
        if entry is not None:
            out[f"{prefix}{name}"] = entry
    return out


def _cell(value: object) -> str | int | float | bool | None:
    if isinstance(value, float):
        return rounded(value) if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def _column_type(dtype: pl.DataType) -> str:
    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_integer():
        return "int"
    if dtype.is_float():
        return "float"
    return "string"


def table(frame: pl.DataFrame) -> dg.TableMetadataValue:
    """A table entry of `frame`, its columns typed from the frame's."""
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(name, _column_type(dtype))
            for name, dtype in zip(frame.columns, frame.dtypes, strict=True)
        ]
    )
    records = [
        dg.TableRecord({key: _cell(value) for key, value in row.items()})
        for row in frame.iter_rows(named=True)
    ]
    return dg.MetadataValue.table(records=records, schema=schema)


def records_table(rows: list[dict[str, Any]]) -> dg.TableMetadataValue:
    """A table entry of row mappings sharing one set of keys."""
    return table(pl.DataFrame(rows))


def inline_chart(alt: str, data_uri: Callable[[int], str]) -> dg.MarkdownMetadataValue | None:
    """A Markdown image of `data_uri(points)` with as many points as keep it inline; None
    when even `MIN_POINTS` do not fit."""
    low, high = MIN_POINTS, MAX_POINTS
    best = None
    # The length grows with the points: the largest count that fits, by bisection.
    while low <= high:
        middle = (low + high) // 2
        markdown = f"![{alt}]({data_uri(middle)})"
        if len(markdown) < INLINE_MARKDOWN_LIMIT:
            best, low = markdown, middle + 1
        else:
            high = middle - 1
    return None if best is None else dg.MetadataValue.md(best)
