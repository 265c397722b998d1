"""Point in time, proven: stored feature rows recomputed from the bars truncated at each
row's timestamp.

A feature of bar t may read bars up to t only. Recomputing a row from `bars[ts <= t]` with
the real indicator kernel and the catalog, and finding the stored value again, proves it:
a value that read a later bar (a shift in the stored data, or in the feature code) cannot
be recomputed without that bar. TA-Lib's EMA-seeded indicators depend on the whole
history, so every cut recomputes the symbol's full prefix; the sample stays small
(`MAX_CUTS_PER_SYMBOL`) so the check costs seconds. The sample always holds each symbol's
newest rows (where a look-ahead shows first: their future is not stored) and the first and
last row of each split, plus a seeded random sample.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from trade2026_assets.feature_catalog import catalog_features
from trade2026_assets.technical_indicators import IndicatorParams, compute_indicators

TOLERANCE = 1e-12
NEWEST_ROWS = 3
RANDOM_ROWS = 24
# Cuts recomputed per symbol (each one a full-prefix recomputation), at most.
MAX_CUTS_PER_SYMBOL = 40
SEED = 2026
FAILING_ROWS_SHOWN = 20
BAR_COLUMNS = ("symbol", "ts", "close", "high", "low", "volume")

Derive = Callable[[pl.DataFrame], pl.DataFrame]


@dataclass(frozen=True)
class PointInTimeReport:
    rows_checked: int
    values_compared: int
    worst_relative_difference: float
    # symbol, ts, feature, stored, recomputed of every value that differs.
    failures: list[dict[str, object]] = field(default_factory=list)
    cuts_by_symbol: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        # A check that recomputed nothing proved nothing.
        return self.rows_checked > 0 and not self.failures


def sample_rows(
    stored: pl.DataFrame,
    *,
    newest: int = NEWEST_ROWS,
    random_rows: int = RANDOM_ROWS,
    seed: int = SEED,
) -> pl.DataFrame:
    """The stored rows to recompute, per symbol: its `newest` rows, the first and last row
    of each split (when the rows carry `split`), then a random sample seeded by `seed` and
    the symbol (the same rows again on the same data), at most `MAX_CUTS_PER_SYMBOL`."""
    picked = []
    for (symbol,), rows in stored.sort("symbol", "ts").group_by("symbol", maintain_order=True):
        index = np.arange(rows.height)
        chosen: list[int] = list(index[-newest:]) if newest else []
        if "split" in rows.columns:
            for _, part in rows.with_row_index("_i").group_by("split", maintain_order=True):
                positions = part.get_column("_i")
                chosen += [int(positions[0]), int(positions[-1])]
        chosen = list(dict.fromkeys(int(i) for i in chosen))[:MAX_CUTS_PER_SYMBOL]
        rest = np.setdiff1d(index, chosen)
        room = min(random_rows, MAX_CUTS_PER_SYMBOL - len(chosen), rest.size)
        if room > 0:
            rng = np.random.default_rng([seed, zlib.crc32(str(symbol).encode())])
            chosen += [int(i) for i in rng.choice(rest, size=room, replace=False)]
        picked.append(rows[sorted(chosen)])
    return pl.concat(picked) if picked else stored.clear()


def recompute(
    bars: pl.DataFrame,
    params: IndicatorParams,
    cuts: pl.DataFrame,
    *,
    derive: Derive = catalog_features,
) -> pl.DataFrame:
    """Per (symbol, ts) of `cuts`, the row `derive` makes from the indicators of that
    symbol's bars up to ts only (bars sorted by symbol, then time). A cut the truncated
    bars give no row for is absent."""
    parts = []
    for (symbol,), wanted in cuts.group_by("symbol", maintain_order=True):
        mine = bars.filter(pl.col("symbol") == symbol).select(BAR_COLUMNS)
        ts = mine.get_column("ts")
        for cut in wanted.get_column("ts").to_list():
            truncated = mine.head(int(ts.search_sorted(cut, side="right")))
            rows = derive(compute_indicators(truncated, params, workers=1))
            parts.append(rows.filter(pl.col("ts") == cut).tail(1))
    if not parts:
        return pl.DataFrame()
    return pl.concat(parts, how="diagonal_relaxed").with_columns(pl.col("symbol").cast(pl.String))


def compare(
    stored: pl.DataFrame, recomputed: pl.DataFrame, columns: Sequence[str]
) -> PointInTimeReport:
    """Every value of `columns` of the stored rows against its recomputation: equal to
    `TOLERANCE` (relative); missing (null or NaN) equals missing only."""
    failures: list[dict[str, object]] = []
    worst = 0.0
    compared = 0
    by_key = {(str(r["symbol"]), r["ts"]): r for r in recomputed.iter_rows(named=True)}
    for row in stored.sort("symbol", "ts").iter_rows(named=True):
        where = {"symbol": str(row["symbol"]), "ts": row["ts"].isoformat()}
        again = by_key.get((str(row["symbol"]), row["ts"]))
        if again is None:
            failures.append({**where, "feature": "*", "stored": "row", "recomputed": "no row"})
            continue
        for name in columns:
            compared += 1
            ours, theirs = _value(row.get(name)), _value(again.get(name))
            if ours is None or theirs is None:
                if ours is not theirs:
                    failures.append(
                        {**where, "feature": name, "stored": ours, "recomputed": theirs}
                    )
                continue
            scale = max(abs(ours), abs(theirs))
            difference = 0.0 if ours == theirs else abs(ours - theirs) / scale
            worst = max(worst, difference)
            if difference > TOLERANCE:
                failures.append({**where, "feature": name, "stored": ours, "recomputed": theirs})
    cuts = stored.group_by("symbol").len()
    return PointInTimeReport(
        rows_checked=stored.height,
        values_compared=compared,
        worst_relative_difference=worst,
        failures=failures,
        cuts_by_symbol={str(s): int(n) for s, n in cuts.iter_rows()},
    )


def check_point_in_time(
    stored: pl.DataFrame,
    bars: pl.DataFrame,
    params: IndicatorParams,
    columns: Sequence[str],
    *,
    derive: Derive = catalog_features,
    newest: int = NEWEST_ROWS,
    random_rows: int = RANDOM_ROWS,
) -> PointInTimeReport:
    """Sample `stored` (`sample_rows`), recompute the sample from the truncated `bars`
    and compare `columns`."""
    sample = sample_rows(
        stored.with_columns(pl.col("symbol").cast(pl.String)),
        newest=newest,
        random_rows=random_rows,
    )
    bars = bars.with_columns(pl.col("symbol").cast(pl.String)).sort(
        "symbol", "ts", maintain_order=True
    )
    return compare(sample, recompute(bars, params, sample, derive=derive), columns)


def _value(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number


def merged(reports: Sequence[PointInTimeReport]) -> PointInTimeReport:
    """One report of several (one per indicator set, say)."""
    cuts: dict[str, int] = {}
    for report in reports:
        for symbol, count in report.cuts_by_symbol.items():
            cuts[symbol] = cuts.get(symbol, 0) + count
    return PointInTimeReport(
        rows_checked=sum(r.rows_checked for r in reports),
        values_compared=sum(r.values_compared for r in reports),
        worst_relative_difference=max((r.worst_relative_difference for r in reports), default=0.0),
        failures=[failure for r in reports for failure in r.failures],
        cuts_by_symbol=cuts,
    )
