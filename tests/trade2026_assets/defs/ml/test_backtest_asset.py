"""What a real backtest materialization records for the Dagster UI: its figures as typed
numbers (plotted over materializations) equal to the tear sheet's, logged exactly in the
model's MLflow run; its tables as typed table entries; its charts small enough to show in
place."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import unquote

import dagster as dg

from tests.trade2026_assets.defs.ml.conftest import SYMBOLS, Trained
from trade2026_assets.defs.ml.backtest_asset import BOOK_FIGURES, STRATEGY_FIGURES
from trade2026_assets.defs.ml.metadata import INLINE_MARKDOWN_LIMIT, SIGNIFICANT

BENCHMARKS = ("buy_and_hold", "equal_weight_rebalanced")


def _figures() -> dict[str, str]:
    """Each figure's Dagster label and its MLflow metric (the strategy's are `backtest_*`)."""
    out = {f"strategy_{name}": f"backtest_{name}" for name in STRATEGY_FIGURES}
    out |= {f"{book}_{name}": f"{book}_{name}" for book in BENCHMARKS for name in BOOK_FIGURES}
    return out


def test_figures_are_typed_numbers_equal_to_the_tear_sheets(trained: Trained) -> None:
    metadata = trained.latest("backtest").metadata
    run_id = trained.latest("model").metadata["mlflow_run_id"].value
    exact = trained.mlflow.get_run(str(run_id)).data.metrics
    for label, metric in _figures().items():
        entry = metadata[label]
        if label.endswith("_trades"):
            assert isinstance(entry, dg.IntMetadataValue), label
            assert entry.value == exact[metric], label
        else:
            assert isinstance(entry, dg.FloatMetadataValue), label
            # Rounded for the eye (the UI prints a float as it is), exact in MLflow.
            assert entry.value == float(f"{exact[metric]:.{SIGNIFICANT}g}"), label
    assert isinstance(metadata["trials"], dg.IntMetadataValue)
    # The JSON blobs are gone; the declared parameters remain one.
    assert {k for k, v in metadata.items() if isinstance(v, dg.JsonMetadataValue)} == {"params"}


def _columns(entry: dg.MetadataValue) -> dict[str, str]:
    assert isinstance(entry, dg.TableMetadataValue)
    return {column.name: column.type for column in entry.schema.columns}


def test_tables_are_typed_table_entries(trained: Trained) -> None:
    metadata = trained.latest("backtest").metadata
    per_symbol = metadata["per_symbol"]
    assert _columns(per_symbol)["symbol"] == "string"
    assert _columns(per_symbol)["net_return"] == "float"
    assert _columns(per_symbol)["trades"] == "int"
    assert isinstance(per_symbol, dg.TableMetadataValue)
    assert [r.data["symbol"] for r in per_symbol.records] == SYMBOLS
    assert _columns(metadata["per_period"])["period"] == "string"
    assert _columns(metadata["per_period"])["buy_and_hold"] == "float"
    assert _columns(metadata["threshold_sensitivity"])["sharpe"] == "float"
    comparison = metadata["comparison"]
    assert _columns(comparison) == {
        "figure": "string",
        "strategy": "float",
        "buy_and_hold": "float",
        "equal_weight_rebalanced": "float",
    }
    assert isinstance(comparison, dg.TableMetadataValue)
    rows = {r.data["figure"]: r.data for r in comparison.records}
    for book in ("strategy", *BENCHMARKS):
        assert rows["total_return"][book] == metadata[f"{book}_total_return"].value


def _svg(entry: dg.MetadataValue) -> ET.Element:
    assert isinstance(entry, dg.MarkdownMetadataValue)
    markdown = entry.value
    # Shorter Markdown is rendered in place; longer hides behind "[Show Markdown]".
    assert len(markdown) < INLINE_MARKDOWN_LIMIT
    found = re.fullmatch(r"!\[[^\]]*\]\(data:image/svg\+xml,(.*)\)", markdown)
    assert found is not None, markdown[:200]
    return ET.fromstring(unquote(found.group(1)))  # noqa: S314 (written by the asset)


def _heights(path: str) -> list[int]:
    """The y of every point of a path drawn as 'M0,y' then relative '1,dy' steps (an area's
    closing 'V..H0z' left out)."""
    numbers = [int(n) for n in re.findall(r"-?\d+", path.split("V")[0])]
    heights = [numbers[1]]
    for dy in numbers[3::2]:
        heights.append(heights[-1] + dy)
    return heights


def test_the_equity_curve_and_drawdown_show_inline_the_strategy_on_its_own_scale(
    trained: Trained,
) -> None:
    metadata = trained.latest("backtest").metadata
    ns = {"svg": "http://www.w3.org/2000/svg"}
    paths = _svg(metadata["equity_curve"]).findall("svg:path", ns)
    colors = [p.get("stroke") for p in paths]
    assert colors == ["darkorange", "seagreen", "royalblue"]
    strategy = _heights(paths[2].get("d", ""))
    assert len(strategy) >= 30
    # Its own scale: the strategy's line spans the chart, however small its moves.
    assert max(strategy) - min(strategy) >= 70
    drawdown = _svg(metadata["strategy_drawdown"]).findall("svg:path", ns)
    assert len(drawdown) == 1
    assert "fill:crimson" in drawdown[0].get("style", "")
    legend = metadata["chart_legend"]
    assert isinstance(legend, dg.TextMetadataValue)
    assert "royalblue strategy (its own scale" in legend.value
