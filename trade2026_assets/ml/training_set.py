"""Point-in-time training sets from the indicator table, split by time with an embargo.

A row at bar t holds features computed from bars up to t only (the indicators are causal,
lags look back) and the label `close[t + horizon] > close[t]` (1 = up). Rows are split by
*timestamp*, across all symbols at once, into train / validation / test; the last
`embargo_bars` timestamps before each boundary are dropped, so no training label reaches
into the validation or test period when `embargo_bars >= horizon`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

FEATURES = (
    "ret_1",
    "ret_1_lag1",
    "ret_1_lag2",
    "volatility",
    "rsi",
    "macd_norm",
    "macd_signal_norm",
    "macd_hist_norm",
    "bb_pctb",
    "bb_width",
)
SPLITS = ("train", "validation", "test")


class TrainingSetParams(BaseModel):
    """How a training set is cut. Part of its content hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    horizon: int = Field(default=1, ge=1, le=1000, description="Label: direction over N bars.")
    validation_fraction: float = Field(default=0.2, gt=0, lt=1)
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    embargo_bars: int = Field(
        default=1,
        ge=0,
        description="Timestamps dropped before each split boundary; must be >= horizon to "
        "avoid leakage (the no_leakage check enforces it).",
    )

    @model_validator(mode="after")
    def _fractions_leave_training(self) -> TrainingSetParams:
        if self.validation_fraction + self.test_fraction >= 0.9:
            raise ValueError("validation_fraction + test_fraction must leave >= 10% to train")
        return self


@dataclass(frozen=True)
class SplitBounds:
    """First timestamp of validation and test (as epoch ms)."""

    validation_start_ms: int
    test_start_ms: int


def feature_frame(features: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """Model features and the label per (symbol, ts), from the `features` table's rows
    (sorted by symbol, ts). Scale-free, so that one model serves every symbol."""
    by_symbol = pl.col("symbol")
    band = pl.col("bb_upper") - pl.col("bb_lower")
    frame = features.sort("symbol", "ts").with_columns(
        pl.col("ret_1").shift(1).over(by_symbol).alias("ret_1_lag1"),
        pl.col("ret_1").shift(2).over(by_symbol).alias("ret_1_lag2"),
        (pl.col("macd") / pl.col("close")).alias("macd_norm"),
        (pl.col("macd_signal") / pl.col("close")).alias("macd_signal_norm"),
        (pl.col("macd_hist") / pl.col("close")).alias("macd_hist_norm"),
        # A flat band (zero width) puts the close in the middle.
        pl.when(band > 0)
        .then((pl.col("close") - pl.col("bb_lower")) / band)
        .otherwise(0.5)
        .alias("bb_pctb"),
        (band / pl.col("bb_middle")).alias("bb_width"),
        pl.col("close").shift(-horizon).over(by_symbol).alias("future_close"),
    )
    return (
        frame.filter(
            pl.col("future_close").is_not_null()
            & pl.all_horizontal(pl.col(name).is_not_null() for name in FEATURES)
        )
        .with_columns((pl.col("future_close") > pl.col("close")).cast(pl.Int8).alias("label"))
        .select("symbol", "ts", *FEATURES, "label")
    )


def split_by_time(frame: pl.DataFrame, params: TrainingSetParams) -> pl.DataFrame:
    """Add `split`; drop the embargoed timestamps before each boundary."""
    timestamps = frame.get_column("ts").unique().sort()
    n = timestamps.len()
    validation_at = int(n * (1 - params.validation_fraction - params.test_fraction))
    test_at = int(n * (1 - params.test_fraction))
    if validation_at <= params.embargo_bars or test_at - validation_at <= params.embargo_bars:
        raise ValueError(
            f"{n} timestamps are too few to split with an embargo of {params.embargo_bars}"
        )
    index = pl.DataFrame({"ts": timestamps, "position": pl.int_range(n, eager=True)})
    embargo = params.embargo_bars

    def position_in(lo: int, hi: int) -> pl.Expr:
        return (pl.col("position") >= lo) & (pl.col("position") < hi)

    return (
        frame.join(index, on="ts", how="left")
        .with_columns(
            pl.when(position_in(0, validation_at - embargo))
            .then(pl.lit("train"))
            .when(position_in(validation_at, test_at - embargo))
            .then(pl.lit("validation"))
            .when(pl.col("position") >= test_at)
            .then(pl.lit("test"))
            .otherwise(None)
            .alias("split")
        )
        .filter(pl.col("split").is_not_null())
        .drop("position")
        .sort("split", "symbol", "ts")
    )


def content_hash(frame: pl.DataFrame, params: TrainingSetParams, indicator_set: str) -> str:
    """What a model names to say exactly which data it learned from."""
    digest = hashlib.sha256()
    digest.update(json.dumps(params.model_dump(), sort_keys=True).encode())
    digest.update(indicator_set.encode())
    for column in frame.columns:
        digest.update(column.encode())
        digest.update(frame.get_column(column).hash(seed=0).to_numpy().tobytes())
    return "ts-" + digest.hexdigest()[:16]


def boundary_gaps(frame: pl.DataFrame) -> dict[str, float]:
    """Bars strictly between the last row of a split and the first row of a later one, on
    the set's own bar interval (the median step between its timestamps). A row's label
    looks `horizon` bars ahead, so a gap below the horizon means leakage."""
    steps = frame.get_column("ts").unique().sort().diff().drop_nulls()
    interval_ms = steps.dt.total_milliseconds().median()
    if not isinstance(interval_ms, int | float) or interval_ms <= 0:
        raise ValueError("the training set has too few timestamps to measure a bar interval")
    edges = {
        split: (
            frame.filter(pl.col("split") == split).get_column("ts").min(),
            frame.filter(pl.col("split") == split).get_column("ts").max(),
        )
        for split in SPLITS
    }
    gaps = {}
    for earlier, later in (("train", "validation"), ("validation", "test"), ("train", "test")):
        last = edges[earlier][1]
        first = edges[later][0]
        if last is None or first is None:
            raise ValueError(f"the training set has no {earlier} or no {later} rows")
        delta_ms = (first - last).total_seconds() * 1000  # type: ignore[operator,union-attr]
        gaps[f"{earlier}_to_{later}"] = delta_ms / float(interval_ms) - 1
    return gaps
