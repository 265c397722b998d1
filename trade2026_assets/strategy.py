"""The default ML strategy (the seed's PROMPT 11), with its predictor injected.

Now the predictor is a local model (`BoosterPredictor`); in Step 6 it is the serving
endpoint. Both answer the same question: the probability that the next bar closes up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypedDict

from trade2026_assets.ml.training_set import FEATURES

Action = Literal["BUY", "SELL", "HOLD"]


class Signal(TypedDict):
    action: Action
    size: float
    confidence: float


class Predictor(Protocol):
    def predict_proba(self, rows: Sequence[Mapping[str, float]]) -> list[float]:
        """Up-probability per row of features."""
        ...


@dataclass(frozen=True)
class StrategyConfig:
    buy_threshold: float = 0.6
    sell_threshold: float = 0.4
    position_size: float = 0.02  # 2% per trade

    def __post_init__(self) -> None:
        if not 0 <= self.sell_threshold <= self.buy_threshold <= 1:
            raise ValueError("need 0 <= sell_threshold <= buy_threshold <= 1")
        if not 0 < self.position_size <= 1:
            raise ValueError("position_size must be in (0, 1]")

    def signal_for(self, probability: float) -> Signal:
        """The rule itself: the signal for an up-probability."""
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability out of [0, 1]: {probability}")
        if probability > self.buy_threshold:
            return {"action": "BUY", "size": self.position_size, "confidence": probability}
        if probability < self.sell_threshold:
            return {"action": "SELL", "size": self.position_size, "confidence": 1.0 - probability}
        return {"action": "HOLD", "size": 0.0, "confidence": max(probability, 1.0 - probability)}


class DefaultMLStrategy:
    """BUY above `buy_threshold`, SELL below `sell_threshold`, HOLD between.

    `confidence` is the model's probability of the direction it leans to: p for BUY,
    1 - p for SELL, max(p, 1 - p) for HOLD. HOLD has size 0 (flat).
    """

    def __init__(self, predictor: Predictor, config: StrategyConfig | None = None) -> None:
        self.predictor = predictor
        self.config = config or StrategyConfig()

    def generate_signal(self, features: Mapping[str, float]) -> Signal:
        missing = [name for name in FEATURES if name not in features]
        if missing:
            raise ValueError(f"features missing: {missing}")
        probability = float(self.predictor.predict_proba([features])[0])
        return self.signal_for(probability)

    def signal_for(self, probability: float) -> Signal:
        return self.config.signal_for(probability)


class BoosterPredictor:
    """A local XGBoost booster as the strategy's predictor."""

    def __init__(self, booster: object) -> None:
        self.booster = booster

    def predict_proba(self, rows: Sequence[Mapping[str, float]]) -> list[float]:
        import polars as pl
        import xgboost as xgb

        from trade2026_assets.ml.model import predict

        booster = self.booster
        assert isinstance(booster, xgb.Booster)
        frame = pl.DataFrame([{name: float(row[name]) for name in FEATURES} for row in rows])
        # The same call as training's scoring: trees up to the early-stopping best only.
        return [float(p) for p in predict(booster, frame)]
