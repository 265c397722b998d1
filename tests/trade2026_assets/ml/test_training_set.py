"""Training sets are point in time, split by time with an embargo, and content-addressed."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from trade2026_assets import feature_catalog
from trade2026_assets.defs.ml.gates import no_leakage_result
from trade2026_assets.feature_catalog import DEFAULT_FEATURES, FEATURE_NAMES, catalog_features
from trade2026_assets.ml import training_set
from trade2026_assets.ml.point_in_time import check_point_in_time, sample_rows
from trade2026_assets.ml.training_set import (
    TrainingSetParams,
    boundary_gaps,
    content_hash,
    feature_frame,
    split_by_time,
)
from trade2026_assets.synthetic import synthetic_bars
from trade2026_assets.technical_indicators import IndicatorParams, compute_indicators

BAR_COLUMNS = ("symbol", "ts", "close", "high", "low", "volume")


def indicator_rows(n_bars: int = 600, symbols: tuple[str, ...] = ("AAA", "BBB")) -> pl.DataFrame:
    bars = pl.concat([synthetic_bars(s, n_bars=n_bars, predictability=0.1) for s in symbols])
    return compute_indicators(bars.select(*BAR_COLUMNS))


def pit_bars() -> pl.DataFrame:
    return pl.concat(
        [synthetic_bars(s, n_bars=600, predictability=0.1) for s in ("AAA", "BBB")]
    ).select(*BAR_COLUMNS)


def test_features_are_point_in_time() -> None:
    # Every stored row, the newest included, recomputed from the bars up to its own bar.
    bars = pit_bars()
    params = TrainingSetParams()
    stored = split_by_time(feature_frame(compute_indicators(bars), 1, DEFAULT_FEATURES), params)
    report = check_point_in_time(stored, bars, IndicatorParams(), FEATURE_NAMES)
    assert report.passed, report.failures[:5]
    assert report.worst_relative_difference <= 1e-12
    newest = stored.group_by("symbol").agg(pl.col("ts").max())
    sample = sample_rows(stored)
    assert newest.join(sample, on=["symbol", "ts"]).height == 2
    for split in ("train", "validation", "test"):
        edges = (
            stored.filter(pl.col("split") == split)
            .group_by("symbol")
            .agg(pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"))
        )
        for edge in ("first", "last"):
            hits = edges.join(sample, left_on=["symbol", edge], right_on=["symbol", "ts"])
            assert hits.height == 2, (split, edge)


def test_a_one_bar_shift_in_the_stored_rows_fails_on_the_newest_rows_alone() -> None:
    bars = pit_bars()
    stored = split_by_time(
        feature_frame(compute_indicators(bars), 1, DEFAULT_FEATURES), TrainingSetParams()
    ).sort("symbol", "ts")
    future = catalog_features(compute_indicators(bars)).select(
        "symbol", "ts", pl.col("rsi").shift(-1).over("symbol").alias("next_rsi")
    )
    # Only each symbol's two newest rows read the next bar.
    newest = pl.int_range(pl.len()).over("symbol") >= pl.len().over("symbol") - 2
    shifted = (
        stored.with_columns(pl.col("symbol").cast(pl.String))
        .join(future.with_columns(pl.col("symbol").cast(pl.String)), on=["symbol", "ts"])
        .with_columns(
            pl.when(newest).then(pl.col("next_rsi")).otherwise(pl.col("rsi")).alias("rsi")
        )
        .drop("next_rsi")
    )
    report = check_point_in_time(shifted, bars, IndicatorParams(), FEATURE_NAMES, random_rows=0)
    assert not report.passed
    assert {(f["symbol"], f["feature"]) for f in report.failures} == {
        ("AAA", "rsi"),
        ("BBB", "rsi"),
    }
    assert len(report.failures) == 4


def test_a_one_bar_shift_in_the_feature_code_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    bars = pit_bars()
    real = feature_catalog.catalog_features

    def peeks(features: pl.DataFrame) -> pl.DataFrame:
        # ret_1_lag1 reads the next bar's return instead of the previous one's.
        frame = real(features)
        return frame.with_columns(pl.col("ret_1").shift(-1).over("symbol").alias("ret_1_lag1"))

    monkeypatch.setattr(feature_catalog, "catalog_features", peeks)
    monkeypatch.setattr(training_set, "catalog_features", peeks)
    stored = split_by_time(
        feature_frame(compute_indicators(bars), 1, DEFAULT_FEATURES), TrainingSetParams()
    )
    # The newest rows alone show it: nothing after them is stored.
    report = check_point_in_time(
        stored, bars, IndicatorParams(), FEATURE_NAMES, derive=peeks, random_rows=0
    )
    assert not report.passed
    assert {f["feature"] for f in report.failures} == {"ret_1_lag1"}
    assert {f["recomputed"] for f in report.failures} == {None}


@pytest.mark.parametrize("horizon", [1, 3])
def test_label_is_the_direction_over_the_horizon(horizon: int) -> None:
    rows = indicator_rows()
    frame = feature_frame(rows, horizon=horizon, names=DEFAULT_FEATURES)
    one = rows.filter(pl.col("symbol") == "AAA").sort("ts")
    close = one["close"].to_numpy()
    expected = (close[horizon:] > close[:-horizon]).astype(np.int8)
    labels = frame.filter(pl.col("symbol") == "AAA").sort("ts")
    # Two leading rows lack the lagged returns; the last `horizon` rows have no future.
    assert labels["label"].to_numpy().tolist() == expected[2:].tolist()
    assert labels["ts"].max() == one["ts"][-1 - horizon]


def test_splits_are_ordered_in_time_with_the_embargo_between_them() -> None:
    params = TrainingSetParams(horizon=2, embargo_bars=2)
    frame = split_by_time(
        feature_frame(indicator_rows(), horizon=2, names=DEFAULT_FEATURES), params
    )
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
    frame = split_by_time(feature_frame(indicator_rows(), horizon=3, names=DEFAULT_FEATURES), leaky)
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
    frame = split_by_time(
        feature_frame(closed_market_rows(), horizon=1, names=DEFAULT_FEATURES), params
    )
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
    frame = split_by_time(
        feature_frame(indicator_rows(), horizon=1, names=DEFAULT_FEATURES), params
    )
    digest = content_hash(frame, params, "set-a", DEFAULT_FEATURES)
    assert digest == content_hash(frame.clone(), params, "set-a", DEFAULT_FEATURES)
    assert digest != content_hash(
        frame, TrainingSetParams(test_fraction=0.25), "set-a", DEFAULT_FEATURES
    )
    assert digest != content_hash(frame, params, "set-b", DEFAULT_FEATURES)
    changed = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 7).then(0.0).otherwise(pl.col("rsi")).alias("rsi")
    )
    assert digest != content_hash(changed, params, "set-a", DEFAULT_FEATURES)
    # The same rows chosen for another feature list are another training set.
    assert digest != content_hash(frame, params, "set-a", DEFAULT_FEATURES[:5])


def test_bad_split_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="leave"):
        TrainingSetParams(validation_fraction=0.5, test_fraction=0.45)
    with pytest.raises(ValueError, match="leave no rows"):
        split_by_time(
            feature_frame(indicator_rows(n_bars=60), horizon=1, names=DEFAULT_FEATURES),
            TrainingSetParams(embargo_bars=40),
        )


def test_the_embargo_follows_the_horizon_unless_set() -> None:
    assert TrainingSetParams(horizon=4).embargo == 4
    assert TrainingSetParams(horizon=4, embargo_bars=6).embargo == 6
    frame = split_by_time(
        feature_frame(indicator_rows(), horizon=4, names=DEFAULT_FEATURES),
        TrainingSetParams(horizon=4),
    )
    assert no_leakage_result(frame, horizon=4).passed


def test_rows_are_kept_where_the_strategys_features_are_complete() -> None:
    rows = indicator_rows()
    ten = feature_frame(rows, horizon=1, names=DEFAULT_FEATURES)
    longer = feature_frame(rows, horizon=1, names=("ret_1", "momentum_20", "volume_z"))
    # Every catalog feature is stored, whichever the strategy reads.
    assert set(FEATURE_NAMES) <= set(ten.columns)
    assert set(FEATURE_NAMES) <= set(longer.columns)
    per_symbol = rows.filter(pl.col("symbol") == "AAA").height
    # The ten need two rows of lags; momentum over 20 bars needs 20 earlier rows.
    assert ten.filter(pl.col("symbol") == "AAA").height == per_symbol - 2 - 1
    assert longer.filter(pl.col("symbol") == "AAA").height == per_symbol - 20 - 1
    assert ten["momentum_20"].null_count() > 0
    assert longer.select(pl.col("momentum_20", "volume_z").null_count()).row(0) == (0, 0)


def test_unknown_features_are_refused() -> None:
    with pytest.raises(ValueError, match=r"not in the catalog: \['nope'\]"):
        feature_frame(indicator_rows(n_bars=100), horizon=1, names=("rsi", "nope"))
