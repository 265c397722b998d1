"""DefaultMLStrategy: the seed's signal rules, with an injected predictor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest
import xgboost as xgb

from trade2026_assets.ml.training_set import FEATURES
from trade2026_assets.strategy import BoosterPredictor, DefaultMLStrategy, StrategyConfig


class FixedPredictor:
    def __init__(self, probability: float) -> None:
        self.probability = probability
        self.seen: list[Mapping[str, float]] = []

    def predict_proba(self, rows: Sequence[Mapping[str, float]]) -> list[float]:
        self.seen.extend(rows)
        return [self.probability] * len(rows)


ROW = dict.fromkeys(FEATURES, 0.1)


@pytest.mark.parametrize(
    ("probability", "signal"),
    [
        (0.75, {"action": "BUY", "size": 0.02, "confidence": 0.75}),
        (0.6, {"action": "HOLD", "size": 0.0, "confidence": 0.6}),
        (0.5, {"action": "HOLD", "size": 0.0, "confidence": 0.5}),
        (0.2, {"action": "SELL", "size": 0.02, "confidence": 0.8}),
    ],
)
def test_signal_rules(probability: float, signal: dict[str, object]) -> None:
    predictor = FixedPredictor(probability)
    produced = DefaultMLStrategy(predictor).generate_signal(ROW)
    assert produced == pytest.approx(signal)
    assert predictor.seen == [ROW]


def test_configurable_thresholds_and_bad_input() -> None:
    strategy = DefaultMLStrategy(
        FixedPredictor(0.55), StrategyConfig(buy_threshold=0.52, position_size=0.1)
    )
    assert strategy.generate_signal(ROW)["action"] == "BUY"
    with pytest.raises(ValueError, match="features missing"):
        strategy.generate_signal({"rsi": 50.0})
    with pytest.raises(ValueError, match="sell_threshold"):
        StrategyConfig(buy_threshold=0.3, sell_threshold=0.4)


def test_the_predictor_uses_the_early_stopping_best_trees() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(600, len(FEATURES)))
    y = (x[:, 0] + rng.normal(size=600) > 0).astype(int)
    train = xgb.DMatrix(x[:400], label=y[:400], feature_names=list(FEATURES))
    valid = xgb.DMatrix(x[400:], label=y[400:], feature_names=list(FEATURES))
    booster = xgb.train(
        {"objective": "binary:logistic", "seed": 1, "eta": 0.5},
        train,
        200,
        evals=[(valid, "v")],
        early_stopping_rounds=3,
        verbose_eval=False,
    )
    assert booster.best_iteration + 1 < booster.num_boosted_rounds()
    rows = [dict(zip(FEATURES, map(float, row), strict=True)) for row in x[400:405]]
    best = booster.predict(
        xgb.DMatrix(x[400:405], feature_names=list(FEATURES)),
        iteration_range=(0, booster.best_iteration + 1),
    )
    assert BoosterPredictor(booster).predict_proba(rows) == pytest.approx(best.tolist())


def test_a_local_booster_is_a_predictor() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, len(FEATURES)))
    y = (x[:, 0] > 0).astype(int)
    booster = xgb.train(
        {"objective": "binary:logistic", "seed": 1},
        xgb.DMatrix(x, label=y, feature_names=list(FEATURES)),
        20,
    )
    strategy = DefaultMLStrategy(BoosterPredictor(booster))
    up = strategy.generate_signal({**ROW, "ret_1": 2.0})
    down = strategy.generate_signal({**ROW, "ret_1": -2.0})
    assert up["action"] == "BUY"
    assert down["action"] == "SELL"
