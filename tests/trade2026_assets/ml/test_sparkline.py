"""The small SVG charts: their lines on their own scales, their points summarised honestly,
and a `data:` URI Markdown takes as an image."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import unquote

import numpy as np
import pytest

from trade2026_assets.ml import sparkline, tearsheet
from trade2026_assets.ml.sparkline import HEIGHT, MARGIN


def _heights(path: str) -> list[int]:
    numbers = [int(n) for n in re.findall(r"-?\d+", path.split("V")[0])]
    heights = [numbers[1]]
    for dy in numbers[3::2]:
        heights.append(heights[-1] + dy)
    return heights


def _paths(document: str) -> list[ET.Element]:
    root = ET.fromstring(document)  # noqa: S314 (written by the test)
    return root.findall("{http://www.w3.org/2000/svg}path")


def _result(bars: int = 1000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        "strategy_equity": np.cumprod(1 + rng.normal(0.0001, 0.0002, bars)),
        "buy_and_hold_equity": np.cumprod(1 + rng.normal(0, 0.01, bars)),
        "equal_weight_rebalanced_equity": np.cumprod(1 + rng.normal(0, 0.009, bars)),
    }


def test_a_small_strategy_spans_its_own_scale_next_to_the_benchmarks() -> None:
    # A 2% position moves the strategy's equity by 1%; the benchmarks move by 40%.
    result = {
        "strategy_equity": np.linspace(1.0, 1.01, 1000),
        "buy_and_hold_equity": np.linspace(1.0, 0.6, 1000),
        "equal_weight_rebalanced_equity": np.linspace(1.0, 1.4, 1000),
    }
    hold, rebalanced, strategy = _paths(sparkline.svg(tearsheet.equity_lines(result), points=50))
    top, bottom, middle = MARGIN, HEIGHT - MARGIN, HEIGHT // 2
    # Its own scale: from the bottom edge to the top one.
    ys = _heights(strategy.get("d", ""))
    assert len(ys) == 50
    assert (ys[0], ys[-1]) == (bottom, top)
    # The benchmarks share one (0.6 to 1.4): both start at 1.0, mid-height.
    assert [_heights(line.get("d", ""))[::49] for line in (hold, rebalanced)] == [
        [middle, bottom],
        [middle, top],
    ]


def test_a_drawdown_keeps_its_deepest_bar_when_downsampled() -> None:
    values = np.zeros(1000)
    values[503] = -0.2  # one bad bar that sampling every 20th bar would miss
    assert sparkline.downsample(values, 50, "sample").min() == 0.0
    assert sparkline.downsample(values, 50, "min").min() == -0.2
    series = sparkline.Series(values, "crimson", "dd", area=True, reduce="min")
    (area,) = _paths(sparkline.svg([series], points=50))
    assert max(_heights(area.get("d", ""))) == HEIGHT - MARGIN
    assert area.get("d", "").endswith(f"V{MARGIN}H0z")


def test_downsampling_keeps_the_first_and_last_values() -> None:
    values = np.arange(1000.0)
    shrunk = sparkline.downsample(values, 40)
    assert (shrunk.size, shrunk[0], shrunk[-1]) == (40, 0.0, 999.0)
    assert sparkline.downsample(values[:10], 40).size == 10
    with pytest.raises(ValueError, match="unknown reduction"):
        sparkline.downsample(values, 40, "mean")


def test_the_data_uri_has_no_space_and_decodes_to_the_svg() -> None:
    document = sparkline.svg(tearsheet.equity_lines(_result()), points=20)
    uri = sparkline.data_uri(document)
    assert uri.startswith("data:image/svg+xml,")
    assert " " not in uri
    assert "#" not in uri
    assert unquote(uri.removeprefix("data:image/svg+xml,")) == document


def test_a_flat_line_is_drawn_mid_height() -> None:
    (line,) = _paths(sparkline.svg([sparkline.Series(np.ones(100), "royalblue", "s")], points=10))
    assert set(_heights(line.get("d", ""))) == {HEIGHT // 2}
    with pytest.raises(ValueError, match="at least 2 points"):
        sparkline.svg([sparkline.Series(np.ones(100), "royalblue", "s")], points=1)
