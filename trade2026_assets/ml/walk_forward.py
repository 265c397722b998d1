"""Walk-forward folds over a training set's train and validation rows, purged and embargoed.

The rows are a panel, one per (symbol, ts). The folds are cut on the *distinct timestamps*
by scikit-learn's `TimeSeriesSplit`, so every symbol shares the fold boundaries: expanding
windows (each fold trains on everything before its test window) or rolling ones (each fold
trains on as many timestamps as the first fold). A fold's training rows are then purged per
symbol: a row at bar b has a label that looks at bar b + horizon, so it is kept only if
b + horizon + embargo comes before the symbol's first bar of the test window (the embargo
adds bars for serially correlated features). Inside each training window the last
`early_stopping_fraction` of its timestamps is the early-stopping set (the family may use it
or not), purged from the fitting rows the same way, so nothing of the test window chooses
anything.

The stored `test` split is the final holdout: it never enters a fold, and nothing that
compares candidates or picks a champion reads it.

skfolio's `WalkForward` / `CombinatorialPurgedCV` were not used: they split one return
matrix by row index with a purge counted in rows, not a panel of symbols with calendars of
their own purged by the label's horizon in each symbol's bars.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

Window = Literal["expanding", "rolling"]
# A per-symbol ordinal of the rows: the rows of a symbol are its bars after the indicator
# warm-up, with only the split embargo missing, so a distance in rows never exceeds the
# distance in bars and a purge counted in rows is at least as strict as one in bars.
BAR = "_bar"


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: rows to fit on, the early-stopping rows, the test window."""

    index: int
    fit: pl.DataFrame
    early_stopping: pl.DataFrame
    test: pl.DataFrame

    @property
    def test_start(self) -> object:
        return self.test.get_column("ts").min()

    @property
    def test_end(self) -> object:
        return self.test.get_column("ts").max()


def with_bar_ordinal(rows: pl.DataFrame) -> pl.DataFrame:
    """The rows sorted by (symbol, ts) with each symbol's row ordinal (`BAR`)."""
    return rows.sort("symbol", "ts").with_columns(pl.int_range(pl.len()).over("symbol").alias(BAR))


def purge(train: pl.DataFrame, test: pl.DataFrame, horizon: int, embargo: int) -> pl.DataFrame:
    """`train` without the rows whose label window (bar + horizon), widened by `embargo`,
    reaches the same symbol's first bar in `test`, and without any row at or after it. A
    symbol absent from `test` keeps its rows. Both frames carry `BAR` from one ordering."""
    first = test.group_by("symbol").agg(pl.col(BAR).min().alias("_first_test"))
    joined = train.join(first, on="symbol", how="left")
    keep = pl.col("_first_test").is_null() | (
        pl.col(BAR) + horizon + embargo < pl.col("_first_test")
    )
    return joined.filter(keep).drop("_first_test")


def walk_forward_folds(
    rows: pl.DataFrame,
    *,
    folds: int,
    window: Window,
    horizon: int,
    embargo: int,
    early_stopping_fraction: float,
) -> list[Fold]:
    """`folds` purged walk-forward folds over `rows` (symbol, ts, features, label): the test
    windows are consecutive blocks of timestamps at the end of the rows, the training
    windows precede them. ValueError when the rows are too few to cut."""
    from sklearn.model_selection import TimeSeriesSplit

    ordered = with_bar_ordinal(rows)
    timestamps = ordered.get_column("ts").unique().sort()
    n = timestamps.len()
    if n < 2 * (folds + 1):
        raise ValueError(f"{n} timestamps are too few for {folds} walk-forward folds")
    # Rolling windows keep the first fold's training length, so every fold learns from as
    # much history as the first.
    splitter = TimeSeriesSplit(
        n_splits=folds, max_train_size=n // (folds + 1) if window == "rolling" else None
    )
    result = []
    for index, (train_at, test_at) in enumerate(splitter.split(np.arange(n))):
        train_ts = timestamps.gather(train_at)
        test_ts = timestamps.gather(test_at)
        test = ordered.filter(pl.col("ts").is_in(test_ts.implode()))
        train = purge(
            ordered.filter(pl.col("ts").is_in(train_ts.implode())), test, horizon, embargo
        )
        # Cut on what the purge left, so the early-stopping rows are never all purged.
        kept_ts = train.get_column("ts").unique().sort()
        if kept_ts.len() < 2:
            raise ValueError(
                f"walk-forward fold {index} keeps {kept_ts.len()} timestamp(s) to train on "
                "after the purge; declare fewer folds or use more bars"
            )
        cut = kept_ts[max(1, int(kept_ts.len() * (1 - early_stopping_fraction)))]
        early_stopping = train.filter(pl.col("ts") >= cut)
        fit = purge(train.filter(pl.col("ts") < cut), early_stopping, horizon, embargo)
        if fit.height == 0 or early_stopping.height == 0 or test.height == 0:
            raise ValueError(
                f"walk-forward fold {index} has no rows to fit, stop early or test on; "
                "declare fewer folds or use more bars"
            )
        result.append(Fold(index, fit, early_stopping, test))
    return result
