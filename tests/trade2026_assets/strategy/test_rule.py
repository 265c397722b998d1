"""The signal rule: one definition for the backtest, the entity config and serving."""

from __future__ import annotations

import numpy as np
import pytest

from trade2026_assets.strategy.rule import SignalRule


@pytest.mark.parametrize(
    ("probability", "signal"),
    [
        (0.75, {"action": "BUY", "size": 0.02, "confidence": 0.75}),
        (0.6, {"action": "HOLD", "size": 0.0, "confidence": 0.6}),
        (0.5, {"action": "HOLD", "size": 0.0, "confidence": 0.5}),
        (0.4, {"action": "HOLD", "size": 0.0, "confidence": 0.6}),
        (0.2, {"action": "SELL", "size": 0.02, "confidence": 0.8}),
    ],
)
def test_signal_for_a_probability(probability: float, signal: dict[str, object]) -> None:
    assert SignalRule().signal_for(probability) == pytest.approx(signal)


def test_positions_of_a_series_agree_with_each_signal() -> None:
    rule = SignalRule(buy_threshold=0.55, sell_threshold=0.45, position_size=0.1)
    probabilities = np.linspace(0, 1, 101)
    sizes = {"BUY": 1.0, "SELL": -1.0, "HOLD": 0.0}
    expected = [
        sizes[rule.signal_for(float(p))["action"]] * rule.position_size for p in probabilities
    ]
    assert rule.positions(probabilities).tolist() == pytest.approx(expected)
    assert [rule.position(float(p)) for p in probabilities] == pytest.approx(expected)


def test_bad_rules_and_probabilities_are_refused() -> None:
    with pytest.raises(ValueError, match="sell_threshold"):
        SignalRule(buy_threshold=0.3, sell_threshold=0.4)
    with pytest.raises(ValueError, match="position_size"):
        SignalRule(position_size=0)
    with pytest.raises(ValueError, match="out of"):
        SignalRule().signal_for(1.5)
