"""Walk-forward folds: every symbol shares the boundaries, no fitting row's label reaches
its test window or its early-stopping rows, and the folds walk forward in time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from trade2026_assets.ml.walk_forward import BAR, purge, walk_forward_folds, with_bar_ordinal


def panel(n: int = 300, symbols: tuple[str, ...] = ("AAA", "BBB", "CCC")) -> pl.DataFrame:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return pl.DataFrame(
        {
            "symbol": [s for s in symbols for _ in range(n)],
            "ts": [start + timedelta(hours=i) for _ in symbols for i in range(n)],
            "label": [i % 2 for _ in symbols for i in range(n)],
        }
    )


def last_bar(rows: pl.DataFrame) -> dict[str, int]:
    return dict(rows.group_by("symbol").agg(pl.col(BAR).max()).iter_rows())


def first_bar(rows: pl.DataFrame) -> dict[str, int]:
    return dict(rows.group_by("symbol").agg(pl.col(BAR).min()).iter_rows())


@pytest.mark.parametrize("window", ["expanding", "rolling"])
@pytest.mark.parametrize(("horizon", "embargo"), [(1, 0), (3, 2), (10, 1)])
def test_no_fitting_label_window_reaches_a_later_window(
    window: str, horizon: int, embargo: int
) -> None:
    folds = walk_forward_folds(
        panel(),
        folds=5,
        window=window,  # type: ignore[arg-type]
        horizon=horizon,
        embargo=embargo,
        early_stopping_fraction=0.2,
    )
    assert len(folds) == 5
    for fold in folds:
        tested = first_bar(fold.test)
        stopped = first_bar(fold.early_stopping)
        for symbol, bar in last_bar(fold.fit).items():
            # A row at bar b looks at bar b + horizon: it must end (with the embargo)
            # before the symbol's first bar of every later window.
            assert bar + horizon + embargo < stopped[symbol]
            assert bar + horizon + embargo < tested[symbol]
        for symbol, bar in last_bar(fold.early_stopping).items():
            assert bar + horizon + embargo < tested[symbol]


def test_the_folds_share_boundaries_across_symbols_and_walk_forward() -> None:
    folds = walk_forward_folds(
        panel(), folds=4, window="expanding", horizon=1, embargo=1, early_stopping_fraction=0.2
    )
    previous_end = None
    for fold in folds:
        starts = fold.test.group_by("symbol").agg(pl.col("ts").min())["ts"].unique()
        assert starts.len() == 1  # one boundary for every symbol
        if previous_end is not None:
            assert fold.test_start > previous_end  # type: ignore[operator]
        previous_end = fold.test_end
    # Expanding: each fold fits on more rows than the one before.
    assert [f.fit.height for f in folds] == sorted(f.fit.height for f in folds)


def test_rolling_windows_keep_their_length() -> None:
    folds = walk_forward_folds(
        panel(), folds=4, window="rolling", horizon=1, embargo=0, early_stopping_fraction=0.2
    )
    sizes = {f.fit.height + f.early_stopping.height for f in folds}
    assert max(sizes) - min(sizes) <= 3 * 2  # the purge's rows per symbol at most


def test_purge_drops_exactly_the_rows_whose_label_reaches_the_test_window() -> None:
    rows = with_bar_ordinal(panel(20, ("AAA",)))
    train, test = rows.filter(pl.col(BAR) < 12), rows.filter(pl.col(BAR) >= 12)
    kept = purge(train, test, horizon=2, embargo=1)
    # 8 + 2 + 1 < 12, 9 + 2 + 1 == 12 is too close.
    assert kept.get_column(BAR).max() == 8


def test_too_few_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="too few"):
        walk_forward_folds(
            panel(6),
            folds=5,
            window="expanding",
            horizon=1,
            embargo=0,
            early_stopping_fraction=0.2,
        )
