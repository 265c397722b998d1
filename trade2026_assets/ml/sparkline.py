"""Line charts as tiny SVG documents in a `data:` URI, small enough to be embedded in a few
hundred characters: a coarse picture of a curve's shape, not a plot to read values off.

Each series has a scale; series on the same scale share one y-range, so a strategy that
holds 2% of its capital gets its own range next to the benchmarks' and its line is not a
flat stroke under theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from trade2026_assets.ml.backtest import FloatArray

# Drawing units: x advances one unit a point (one character in the path), y spans HEIGHT
# with MARGIN kept free at both edges so a stroke at the extremes is not clipped.
HEIGHT = 90
MARGIN = 5
SVG_NS = "http://www.w3.org/2000/svg"


@dataclass(frozen=True)
class Series:
    values: FloatArray
    # A named SVG colour: a '#' would end the data URI at its fragment.
    color: str
    scale: str
    # Filled down from the scale's top to the line (a drawdown), else a stroke.
    area: bool = False
    # How `points` points summarise a longer series: its value at each sampled bar, or the
    # lowest value of each bucket (a drawdown keeps its deepest point).
    reduce: str = "sample"


def downsample(values: FloatArray, points: int, reduce: str = "sample") -> FloatArray:
    """At most `points` values standing for `values`, first and last kept."""
    values = np.asarray(values, dtype=np.float64)
    if values.size <= points:
        return values
    if reduce == "min":
        return np.array([bucket.min() for bucket in np.array_split(values, points)])
    if reduce != "sample":
        raise ValueError(f"unknown reduction {reduce!r}: 'sample' or 'min'")
    index = np.linspace(0, values.size - 1, points).round().astype(int)
    return np.asarray(values[index], dtype=np.float64)


def ranges(series: Sequence[Series]) -> dict[str, tuple[float, float]]:
    """Each scale's (lowest, highest) over its series' finite values."""
    out: dict[str, tuple[float, float]] = {}
    for line in series:
        finite = np.asarray(line.values, dtype=np.float64)
        finite = finite[np.isfinite(finite)]
        if finite.size == 0:
            continue
        low, high = float(finite.min()), float(finite.max())
        if line.scale in out:
            low, high = min(low, out[line.scale][0]), max(high, out[line.scale][1])
        out[line.scale] = (low, high)
    return out


def _path(values: FloatArray, low: float, high: float, area: bool) -> str:
    span = high - low
    top, usable = MARGIN, HEIGHT - 2 * MARGIN
    filled = np.nan_to_num(values, nan=low)
    rows = (
        np.full(filled.size, HEIGHT // 2)
        if span <= 0
        else np.round(top + (high - filled) / span * usable).astype(int)
    )
    # Relative line-tos: "1,dy" a point, a minus sign doubling as the separator.
    steps = ",".join(f"1{dy:+d}".replace("+", ",") for dy in np.diff(rows))
    path = f"M0,{rows[0]}" + (f"l{steps}" if steps else "")
    return path + f"V{top}H0z" if area else path


def svg(series: Sequence[Series], *, points: int, width: int = 360, height: int = 100) -> str:
    """One SVG: every series downsampled to `points` and drawn on its scale's range (of
    all its values, so a range quoted next to the chart is the drawn one)."""
    if points < 2:
        raise ValueError("a line needs at least 2 points")
    scales = ranges(series)
    shrunk = [
        Series(downsample(s.values, points, s.reduce), s.color, s.scale, s.area, s.reduce)
        for s in series
    ]
    length = max(s.values.size for s in shrunk)
    paths = "".join(
        f"<path d='{_path(s.values, *scales[s.scale], s.area)}' "
        + (f"style='fill:{s.color}' opacity='.5'/>" if s.area else f"stroke='{s.color}'/>")
        for s in shrunk
        if s.scale in scales
    )
    # Stretched to the box without thickening the strokes; an area's inline style outranks
    # the sheet's `fill:none`.
    return (
        f"<svg xmlns='{SVG_NS}' viewBox='0 0 {max(1, length - 1)} {HEIGHT}' "
        f"preserveAspectRatio='none' width='{width}' height='{height}'>"
        "<style>path{fill:none;stroke-width:1.5;vector-effect:non-scaling-stroke}</style>"
        f"{paths}</svg>"
    )


def data_uri(document: str) -> str:
    """`document` as a `data:` URI that Markdown takes as an image destination (no space)."""
    return "data:image/svg+xml," + document.replace(" ", "%20")
