"""Training sets are point in time, split by time with an embargo, and content-addressed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from trade2026_assets.assets.models import no_leakage_result
from trade2026_assets.indicators import compute_indicators
from trade2026_assets.market_data import synthetic_bars
from trade2026_assets.ml.training_set import (
    FEATURES,
    TrainingSetParams,
    boundary_gaps,
    content_hash,
    feature_frame,
    split_by_time,
)


def indicator_rows(n_bars: int = 600, symbols: tuple[str, ...] = ("AAA", "BBB")) -> pl.DataFrame:
    bars = pl.concat([synthetic_bars(s, n_bars=n_bars, predictability=0.1) for s in symbols])
    return compute_indicators(bars.select("symbol", "ts", "close"))


def test_features_are_point_in_time() -> None:
    bars = pl.concat([synthetic_bars(s, n_bars=600, predictability=0.1) for s in ("AAA", "BBB")])
    cut = datetime(2024, 1, 2, tzinfo=UTC) + timedelta(hours=400)
    # Features recomputed from bars that end at `cut` equal those computed from all bars:
    # no indicator or feature of a row looks at a later bar.
    early_bars = bars.filter(pl.col("ts") <= cut).select("symbol", "ts", "close")
    early = feature_frame(compute_indicators(early_bars), horizon=1).drop("label")
    late = (
        feature_frame(compute_indicators(bars.select("symbol", "ts", "close")), horizon=1)
        .drop("label")
        .filter(pl.col("ts") <= cut)
    )
    joined = early.join(late, on=["symbol", "ts"], suffix="_full")
    assert joined.height == early.height > 0
    for name in FEATURES:
        assert np.array_equal(joined[name].to_numpy(), joined[f"{name}_full"].to_numpy()), name


@pytest.mark.parametrize("horizon", [1, 3])
def test_label_is_the_direction_over_the_horizon(horizon: int) -> None:
    rows = indicator_rows()
    frame = feature_frame(rows, horizon=horizon)
    one = rows.filter(pl.col("symbol") == "AAA").sort("ts")
    close = one["close"].to_numpy()
    expected = (close[horizon:] > close[:-horizon]).astype(np.int8)
    labels = frame.filter(pl.col("symbol") == "AAA").sort("ts")
    # Two leading rows lack the lagged returns; the last `horizon` rows have no future.
    assert labels["label"].to_numpy().tolist() == expected[2:].tolist()
    assert labels["ts"].max() == one["ts"][-1 - horizon]


def test_splits_are_ordered_in_time_with_the_embargo_between_them() -> None:
    params = TrainingSetParams(horizon=2, embargo_bars=2)
    frame = split_by_time(feature_frame(indicator_rows(), horizon=2), params)
    edges = frame.group_by("split").agg(pl.col("ts").min().alias("lo"), pl.col("ts").max())
    by = {row["split"]: row for row in edges.iter_rows(named=True)}
    assert by["train"]["ts"] < by["validation"]["lo"] <= by["validation"]["ts"] < by["test"]["lo"]
    gaps = boundary_gaps(frame)
    assert gaps["train_to_validation"] == 2
    assert gaps["validation_to_test"] == 2
    assert gaps["train_to_test"] > 100
    assert no_leakage_result(frame, horizon=2).passed
    # Every symbol is in every split: the split is by time, across symbols.
    assert frame.group_by("split").agg(pl.col("symbol").n_unique())["symbol"].to_list() == [2] * 3


def test_a_leaky_split_is_caught() -> None:
    leaky = TrainingSetParams(horizon=3, embargo_bars=0)
    frame = split_by_time(feature_frame(indicator_rows(), horizon=3), leaky)
    result = no_leakage_result(frame, horizon=3)
    assert not result.passed
    assert result.metadata["min_gap_bars"].value == 0
    assert result.metadata["threshold_bars"].value == 3


def closed_market_rows() -> pl.DataFrame:
    """Hourly bars with 48-hour closures: a calendar where timestamps and bars differ."""
    rows = indicator_rows(n_bars=600)
    return rows.with_columns(
        (
            pl.col("ts") + pl.duration(hours=48) * (pl.int_range(pl.len()).over("symbol") // 100)
        ).alias("ts")
    )


@pytest.mark.parametrize(("embargo", "leaks"), [(0, True), (1, False)])
def test_leakage_is_counted_in_each_symbols_bars(embargo: int, leaks: bool) -> None:
    params = TrainingSetParams(horizon=1, embargo_bars=embargo)
    frame = split_by_time(feature_frame(closed_market_rows(), horizon=1), params)
    # Whatever the calendar, a label's bar (bar + 1) must not be a later split's row.
    later_first = frame.group_by("symbol", "split").agg(pl.col("bar").min().alias("first"))
    train_last = (
        frame.filter(pl.col("split") == "train")
        .group_by("symbol")
        .agg(pl.col("bar").max().alias("last"))
    )
    validation_first = later_first.filter(pl.col("split") == "validation")
    reach = train_last.join(validation_first, on="symbol")
    crosses = bool((reach["last"] + 1 >= reach["first"]).any())
    assert crosses is leaks
    assert no_leakage_result(frame, horizon=1).passed is not leaks


def test_content_hash_names_the_exact_data() -> None:
    params = TrainingSetParams()
    frame = split_by_time(feature_frame(indicator_rows(), horizon=1), params)
    digest = content_hash(frame, params, "set-a")
    assert digest == content_hash(frame.clone(), params, "set-a")
    assert digest != content_hash(frame, TrainingSetParams(test_fraction=0.25), "set-a")
    assert digest != content_hash(frame, params, "set-b")
    changed = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 7).then(0.0).otherwise(pl.col("rsi")).alias("rsi")
    )
    assert digest != content_hash(changed, params, "set-a")


def test_bad_split_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="leave"):
        TrainingSetParams(validation_fraction=0.5, test_fraction=0.45)
    with pytest.raises(ValueError, match="leave no rows"):
        split_by_time(
            feature_frame(indicator_rows(n_bars=60), horizon=1), TrainingSetParams(embargo_bars=40)
        )


def test_the_embargo_follows_the_horizon_unless_set() -> None:
    assert TrainingSetParams(horizon=4).embargo == 4
    assert TrainingSetParams(horizon=4, embargo_bars=6).embargo == 6
    frame = split_by_time(feature_frame(indicator_rows(), horizon=4), TrainingSetParams(horizon=4))
    assert no_leakage_result(frame, horizon=4).passed
