"""Serving's rows carry the very values training learns from."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

from trade2026_assets.feature_catalog import DEFAULT_FEATURES, FEATURE_NAMES, LOOKBACK_ROWS
from trade2026_assets.feature_store.frame import VIEW_FIELDS, serving_frame
from trade2026_assets.ml.training_set import feature_frame
from trade2026_assets.synthetic import synthetic_bars
from trade2026_assets.technical_indicators import compute_indicators

BAR_COLUMNS = ("symbol", "ts", "close", "high", "low", "volume")


def test_serving_rows_equal_the_training_sets_features_bar_by_bar() -> None:
    bars = pl.concat([synthetic_bars(s, n_bars=400, predictability=0.1) for s in ("AAA", "BBB")])
    features = compute_indicators(bars.select(*BAR_COLUMNS))
    created = datetime(2026, 1, 1, tzinfo=UTC)

    serving = serving_frame(features, created_at=created)
    training = feature_frame(features, horizon=1, names=FEATURE_NAMES)

    assert serving.columns == ["symbol", "ts", *VIEW_FIELDS, "indicator_set", "created_at"]
    joined = training.join(serving, on=["symbol", "ts"], suffix="_serving")
    # Training drops each symbol's last bar (no label yet); serving keeps it: it is the one
    # the online store serves.
    assert joined.height == training.height == serving.height - 2
    for name in FEATURE_NAMES:
        assert np.array_equal(joined[name].to_numpy(), joined[f"{name}_serving"].to_numpy())
    # Serving rows start where every catalog feature is defined.
    assert serving.height == features.height - 2 * (LOOKBACK_ROWS - 1)
    last = serving.group_by("symbol").agg(pl.col("ts").max()).sort("symbol")
    assert (
        last["ts"].to_list()
        == bars.group_by("symbol").agg(pl.col("ts").max()).sort("symbol")["ts"].to_list()
    )
    assert serving["created_at"].unique().to_list() == [created]
    assert (
        serving.select(pl.all_horizontal(pl.col(n).is_not_null() for n in FEATURE_NAMES))
        .to_series()
        .all()
    )


def test_the_indicator_columns_are_the_indicators_themselves() -> None:
    bars = synthetic_bars("AAA", n_bars=200)
    features = compute_indicators(bars.select(*BAR_COLUMNS))
    serving = serving_frame(features, created_at=datetime(2026, 1, 1, tzinfo=UTC))
    joined = serving.join(features, on=["symbol", "ts"])
    assert np.array_equal(joined["macd_histogram"].to_numpy(), joined["macd_hist"].to_numpy())
    assert np.array_equal(joined["bb_lower"].to_numpy(), joined["bb_lower_right"].to_numpy())


def test_the_latest_row_needs_only_the_last_lookback_rows() -> None:
    # The parity check derives each symbol's latest serving row from its last
    # LOOKBACK_ROWS feature rows: they must give what the whole history gives.
    features = compute_indicators(synthetic_bars("AAA", n_bars=300).select(*BAR_COLUMNS))
    created = datetime(2026, 1, 1, tzinfo=UTC)
    whole = serving_frame(features, created_at=created).tail(1)
    tail = serving_frame(features.tail(LOOKBACK_ROWS), created_at=created)
    assert tail.height == 1
    assert_frame_equal(tail, whole)
    assert serving_frame(features.tail(LOOKBACK_ROWS - 1), created_at=created).is_empty()


def test_indicator_sets_of_one_symbol_are_derived_apart() -> None:
    # Two sets of one symbol interleave in time: each one's lags and windows must run over
    # its own rows only.
    from trade2026_assets.technical_indicators import IndicatorParams

    bars = synthetic_bars("AAA", n_bars=300).select(*BAR_COLUMNS)
    fast = IndicatorParams(rsi_period=5, atr_period=5)
    both = pl.concat(
        [compute_indicators(bars), compute_indicators(bars, fast)], how="vertical_relaxed"
    ).sort("ts")
    created = datetime(2026, 1, 1, tzinfo=UTC)
    served = serving_frame(both, created_at=created)
    for params in (IndicatorParams(), fast):
        alone = serving_frame(compute_indicators(bars, params), created_at=created)
        mine = served.filter(pl.col("indicator_set") == params.indicator_set())
        assert_frame_equal(mine, alone, check_dtypes=False)
    assert FEATURE_NAMES[:10] == DEFAULT_FEATURES
