"""The signal rule: from a model's up-probability to BUY, SELL or HOLD and a position size.

BUY above `buy_threshold`, SELL below `sell_threshold`, HOLD between. `confidence` is the
model's probability of the direction it leans to: p for BUY, 1 - p for SELL,
max(p, 1 - p) for HOLD. HOLD has size 0 (flat). The backtest, the registry entity's config
and serving all apply this one rule with a strategy declaration's thresholds.
"""

from __future__ import annotations

from typing import Literal, TypedDict

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

Action = Literal["BUY", "SELL", "HOLD"]


class Signal(TypedDict):
    action: Action
    size: float
    confidence: float


class SignalRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    buy_threshold: float = Field(default=0.6, ge=0, le=1)
    sell_threshold: float = Field(default=0.4, ge=0, le=1)
    position_size: float = Field(default=0.02, gt=0, le=1, description="Fraction per trade.")

    @model_validator(mode="after")
    def _ordered(self) -> SignalRule:
        if self.sell_threshold > self.buy_threshold:
            raise ValueError(
                f"sell_threshold ({self.sell_threshold}) is above buy_threshold "
                f"({self.buy_threshold}): need 0 <= sell_threshold <= buy_threshold <= 1"
            )
        return self

    def signal_for(self, probability: float) -> Signal:
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability out of [0, 1]: {probability}")
        if probability > self.buy_threshold:
            return {"action": "BUY", "size": self.position_size, "confidence": probability}
        if probability < self.sell_threshold:
            return {"action": "SELL", "size": self.position_size, "confidence": 1.0 - probability}
        return {"action": "HOLD", "size": 0.0, "confidence": max(probability, 1.0 - probability)}

    def position(self, probability: float) -> float:
        """The position the rule holds after this probability: +size, -size or 0."""
        if probability > self.buy_threshold:
            return self.position_size
        if probability < self.sell_threshold:
            return -self.position_size
        return 0.0

    def positions(self, probabilities: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """`position` of each probability of a series."""
        return np.where(
            probabilities > self.buy_threshold,
            self.position_size,
            np.where(probabilities < self.sell_threshold, -self.position_size, 0.0),
        )
