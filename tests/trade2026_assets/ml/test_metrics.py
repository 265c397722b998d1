"""Model metrics agree with scikit-learn's reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

from trade2026_assets.ml.metrics import classification_metrics, majority_baseline, roc_auc


@pytest.mark.parametrize("ties", [False, True])
def test_metrics_match_sklearn(ties: bool) -> None:
    rng = np.random.default_rng(3)
    labels = (rng.random(5000) > 0.45).astype(np.uint8)
    scores = np.clip(labels * 0.1 + rng.random(5000) * 0.9, 0, 1)
    if ties:
        scores = np.round(scores, 2)  # boosters emit few distinct values
    metrics = classification_metrics(labels, scores)
    assert metrics["auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(labels, scores > 0.5))
    assert metrics["log_loss"] == pytest.approx(
        log_loss(labels, np.clip(scores, 1e-7, 1 - 1e-7)), abs=1e-12
    )


def test_one_class_and_baseline() -> None:
    assert roc_auc(np.ones(10, dtype=bool), np.linspace(0, 1, 10)) == 0.5
    assert majority_baseline(np.array([1, 1, 0]), np.array([1, 0, 0, 0])) == 0.25
