"""Serving's rows carry the very values training learns from."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

from trade2026_assets.feature_store.frame import VIEW_FIELDS, serving_frame
from trade2026_assets.indicators import compute_indicators
from trade2026_assets.market_data import synthetic_bars
from trade2026_assets.ml.training_set import FEATURE_LOOKBACK_ROWS, FEATURES, feature_frame


def test_serving_rows_equal_the_training_sets_features_bar_by_bar() -> None:
    bars = pl.concat([synthetic_bars(s, n_bars=400, predictability=0.1) for s in ("AAA", "BBB")])
    features = compute_indicators(bars.select("symbol", "ts", "close"))
    created = datetime(2026, 1, 1, tzinfo=UTC)

    serving = serving_frame(features, created_at=created)
    training = feature_frame(features, horizon=1)

    assert serving.columns == ["symbol", "ts", *VIEW_FIELDS, "indicator_set", "created_at"]
    joined = training.join(serving, on=["symbol", "ts"], suffix="_serving")
    # Training drops each symbol's last bar (no label yet); serving keeps it: it is the one
    # the online store serves.
    assert joined.height == training.height == serving.height - 2
    for name in FEATURES:
        assert np.array_equal(joined[name].to_numpy(), joined[f"{name}_serving"].to_numpy())
    last = serving.group_by("symbol").agg(pl.col("ts").max()).sort("symbol")
    assert (
        last["ts"].to_list()
        == bars.group_by("symbol").agg(pl.col("ts").max()).sort("symbol")["ts"].to_list()
    )
    assert serving["created_at"].unique().to_list() == [created]
    assert (
        serving.select(pl.all_horizontal(pl.col(n).is_not_null() for n in FEATURES))
        .to_series()
        .all()
    )


def test_the_indicator_columns_are_the_indicators_themselves() -> None:
    bars = synthetic_bars("AAA", n_bars=200)
    features = compute_indicators(bars.select("symbol", "ts", "close"))
    serving = serving_frame(features, created_at=datetime(2026, 1, 1, tzinfo=UTC))
    joined = serving.join(features, on=["symbol", "ts"])
    assert np.array_equal(joined["macd_histogram"].to_numpy(), joined["macd_hist"].to_numpy())
    assert np.array_equal(joined["bb_lower"].to_numpy(), joined["bb_lower_right"].to_numpy())


def test_the_latest_row_needs_only_the_last_lookback_rows() -> None:
    # The parity check derives each symbol's latest serving row from its last
    # FEATURE_LOOKBACK_ROWS feature rows: they must give what the whole history gives.
    features = compute_indicators(synthetic_bars("AAA", n_bars=300).select("symbol", "ts", "close"))
    created = datetime(2026, 1, 1, tzinfo=UTC)
    whole = serving_frame(features, created_at=created).tail(1)
    tail = serving_frame(features.tail(FEATURE_LOOKBACK_ROWS), created_at=created)
    assert tail.height == 1
    assert_frame_equal(tail, whole)
    assert serving_frame(features.tail(FEATURE_LOOKBACK_ROWS - 1), created_at=created).is_empty()
