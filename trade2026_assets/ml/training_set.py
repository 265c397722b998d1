"""Point-in-time training sets from the indicator table, split by time with an embargo.

A row at bar t holds every feature of the catalog (`feature_catalog`) computed from bars up
to t only (the indicators are causal, lags look back) and the label
`close[t + horizon] > close[t]` (1 = up). Rows are split by *timestamp*, across all symbols
at once, into train / validation / test; the last rows within `embargo_bars` (default: the
horizon) of the next split's first bar are dropped per symbol, so no training label reaches
into the validation or test period.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from trade2026_assets.feature_catalog import (
    FEATURE_NAMES,
    catalog_features,
    complete,
    unknown_features,
)

SPLITS = ("train", "validation", "test")


class TrainingSetParams(BaseModel):
    """How a training set is cut. Part of its content hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    horizon: int = Field(default=1, ge=1, le=1000, description="Label: direction over N bars.")
    validation_fraction: float = Field(default=0.2, gt=0, lt=1)
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    embargo_bars: int | None = Field(
        default=None,
        ge=0,
        description="Bars dropped before each split boundary (per symbol); unset means the "
        "horizon. Below the horizon labels leak, and the no_leakage check fails.",
    )

    @property
    def embargo(self) -> int:
        return self.horizon if self.embargo_bars is None else self.embargo_bars

    @model_validator(mode="after")
    def _fractions_leave_training(self) -> TrainingSetParams:
        if self.validation_fraction + self.test_fraction >= 0.9:
            raise ValueError("validation_fraction + test_fraction must leave >= 10% to train")
        return self


def feature_frame(features: pl.DataFrame, horizon: int, names: Sequence[str]) -> pl.DataFrame:
    """Every catalog feature and the label per (symbol, ts), from the `features` table's
    rows, on the rows where the strategy's features (`names`) are all defined and the label
    is known. The other catalog features are kept (null where their lookback is longer), so
    one stored set serves every strategy of the same indicator set and horizon."""
    unknown = unknown_features(tuple(names))
    if unknown or not names:
        raise ValueError(f"features not in the catalog: {unknown or 'none named'}")
    if "indicator_set" in features.columns:
        sets = features.get_column("indicator_set").unique().sort().to_list()
        if len(sets) > 1:
            # Lags and labels run along one series per symbol: sets must not interleave.
            raise ValueError(f"features of one indicator set at a time, got {sets}")
    frame = catalog_features(features).with_columns(
        pl.col("close").shift(-horizon).over("symbol").alias("future_close")
    )
    return (
        frame.filter(pl.col("future_close").is_not_null() & complete(tuple(names)))
        .with_columns((pl.col("future_close") > pl.col("close")).cast(pl.Int8).alias("label"))
        .select("symbol", "ts", "bar", *FEATURE_NAMES, "label")
    )


def split_by_time(frame: pl.DataFrame, params: TrainingSetParams) -> pl.DataFrame:
    """Add `split` by timestamp (the same boundaries for every symbol), then drop, per
    symbol, the rows whose bar plus `embargo_bars` reaches that symbol's first bar of the
    next split: with `embargo_bars >= horizon` no label looks past its split."""
    timestamps = frame.get_column("ts").unique().sort()
    n = timestamps.len()
    validation_at = int(n * (1 - params.validation_fraction - params.test_fraction))
    test_at = int(n * (1 - params.test_fraction))
    if validation_at < 1 or test_at <= validation_at or test_at >= n:
        raise ValueError(f"{n} timestamps are too few to split into train/validation/test")
    validation_start = timestamps[validation_at]
    test_start = timestamps[test_at]
    by_symbol = pl.col("symbol")
    ts = pl.col("ts")
    split = (
        pl.when(ts < validation_start)
        .then(pl.lit("train"))
        .when(ts < test_start)
        .then(pl.lit("validation"))
        .otherwise(pl.lit("test"))
    )
    first_bar_from = {
        start: pl.col("bar").filter(ts >= start).min().over(by_symbol)
        for start in (validation_start, test_start)
    }
    reach = pl.col("bar") + params.embargo
    # A symbol without bars after a boundary has nothing there to leak into (null: keep).
    next_first = (
        pl.when(pl.col("split") == "train")
        .then(first_bar_from[validation_start])
        .when(pl.col("split") == "validation")
        .then(first_bar_from[test_start])
        .otherwise(None)
    )
    split_frame = (
        frame.with_columns(split.alias("split"))
        .with_columns(next_first.alias("next_first_bar"))
        .filter(pl.col("next_first_bar").is_null() | (reach < pl.col("next_first_bar")))
        .drop("next_first_bar")
        .sort("split", "symbol", "ts")
    )
    present = set(split_frame.get_column("split").unique().to_list())
    if present != set(SPLITS):
        raise ValueError(
            f"{n} timestamps with an embargo of {params.embargo} bars leave no rows "
            f"in {sorted(set(SPLITS) - present)}"
        )
    # One calendar's boundaries can leave a symbol of another calendar or frequency
    # entirely on one side: it would be trained on and never tested, or the reverse.
    counts = split_frame.group_by("symbol", "split").len()
    missing = [
        f"{symbol} has no {split} rows"
        for symbol in sorted(frame.get_column("symbol").unique().to_list())
        for split in SPLITS
        if counts.filter((pl.col("symbol") == symbol) & (pl.col("split") == split)).height == 0
    ]
    if missing:
        raise ValueError(
            "the time split (validation from "
            f"{validation_start}, test from {test_start}) does not represent every symbol in "
            f"every split: {'; '.join(missing)}. Train symbols of one calendar and frequency "
            "together, or give them overlapping histories"
        )
    return split_frame


def content_hash(
    frame: pl.DataFrame,
    params: TrainingSetParams,
    indicator_set: str,
    features: Sequence[str],
) -> str:
    """What a model names to say exactly which data it learned from: the rows, how they
    were cut, the indicator set and the strategy's feature list (which chose the rows)."""
    digest = hashlib.sha256()
    digest.update(json.dumps(params.model_dump(), sort_keys=True).encode())
    digest.update(indicator_set.encode())
    digest.update(json.dumps(list(features)).encode())
    for column in frame.columns:
        digest.update(column.encode())
        digest.update(frame.get_column(column).hash(seed=0).to_numpy().tobytes())
    return "ts-" + digest.hexdigest()[:16]


def boundary_gaps(frame: pl.DataFrame) -> dict[str, float]:
    """Per split boundary, the fewest bars any symbol has strictly between its last row
    before the boundary and its first row after it, counted in that symbol's own bars
    (`bar`). A label looks `horizon` bars ahead, so a gap below the horizon is leakage."""
    edges = frame.group_by("symbol", "split").agg(
        pl.col("bar").min().alias("first"), pl.col("bar").max().alias("last")
    )
    gaps: dict[str, float] = {}
    for earlier, later in (("train", "validation"), ("validation", "test"), ("train", "test")):
        joined = edges.filter(pl.col("split") == earlier).join(
            edges.filter(pl.col("split") == later), on="symbol", suffix="_later"
        )
        if joined.height:
            smallest = (joined["first_later"] - joined["last"] - 1).min()
            gaps[f"{earlier}_to_{later}"] = float(smallest)  # type: ignore[arg-type]
    if not gaps:
        raise ValueError("no symbol has rows on both sides of a split boundary")
    return gaps
