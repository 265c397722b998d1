"""Walk-forward evaluations made up for tests: one fold score per AUC given."""

import numpy as np
import numpy.typing as npt

from trade2026_assets.ml import promotion

HOURLY = 365.25 * 24


def fold_evaluation(
    aucs: list[float], returns: npt.NDArray[np.float64], trades: int
) -> promotion.Evaluation:
    scores = tuple(
        promotion.FoldScore(
            fold=i,
            test_start="",
            test_end="",
            fit_rows=1000,
            test_rows=1000,
            auc=auc,
            accuracy=0.52,
            log_loss=0.69,
            majority_baseline=0.5,
            sharpe=0.0,
            trades=trades,
        )
        for i, auc in enumerate(aucs)
    )
    return promotion.Evaluation(scores, returns, HOURLY)
