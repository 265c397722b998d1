"""XGBoost training and evaluation on a stored training set."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from trade2026_assets.ml.training_set import FEATURES

FloatArray = npt.NDArray[np.float64]


class XgbParams(BaseModel):
    """Hyperparameters (Dagster config of `xgb_model`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_boost_round: int = Field(default=100, ge=1, le=10_000)
    max_depth: int = Field(default=5, ge=1, le=20)
    learning_rate: float = Field(default=0.1, gt=0, le=1)
    subsample: float = Field(default=0.8, gt=0, le=1)
    colsample_bytree: float = Field(default=0.8, gt=0, le=1)
    min_child_weight: float = Field(default=1.0, ge=0)
    early_stopping_rounds: int = Field(default=10, ge=1)
    seed: int = 42
    nthread: int = Field(default=2, ge=1)

    def booster_params(self) -> dict[str, Any]:
        return {
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            "tree_method": "hist",
            "max_depth": self.max_depth,
            "eta": self.learning_rate,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "seed": self.seed,
            "nthread": self.nthread,
        }


def matrix(frame: pl.DataFrame) -> Any:
    import xgboost as xgb

    return xgb.DMatrix(
        frame.select(FEATURES).to_numpy(),
        label=frame.get_column("label").to_numpy(),
        feature_names=list(FEATURES),
    )


def train(train_rows: pl.DataFrame, validation_rows: pl.DataFrame, params: XgbParams) -> Any:
    """A booster trained on `train_rows`, stopped early on the validation log loss."""
    import xgboost as xgb

    return xgb.train(
        params.booster_params(),
        matrix(train_rows),
        num_boost_round=params.num_boost_round,
        evals=[(matrix(validation_rows), "validation")],
        early_stopping_rounds=params.early_stopping_rounds,
        verbose_eval=False,
    )


def predict(booster: Any, rows: pl.DataFrame) -> FloatArray:
    import xgboost as xgb

    data = xgb.DMatrix(rows.select(FEATURES).to_numpy(), feature_names=list(FEATURES))
    if getattr(booster, "best_iteration", None) is not None:
        return np.asarray(
            booster.predict(data, iteration_range=(0, booster.best_iteration + 1)),
            dtype=np.float64,
        )
    return np.asarray(booster.predict(data), dtype=np.float64)


def classification_metrics(labels: npt.NDArray[Any], probabilities: FloatArray) -> dict[str, float]:
    """Accuracy (threshold 0.5), ROC AUC and log loss of up-probabilities."""
    truth = labels.astype(bool)
    clipped = np.clip(probabilities, 1e-7, 1 - 1e-7)
    return {
        "accuracy": float(np.mean((probabilities > 0.5) == truth)),
        "auc": roc_auc(truth, probabilities),
        "log_loss": float(-np.mean(np.where(truth, np.log(clipped), np.log1p(-clipped)))),
    }


def roc_auc(truth: npt.NDArray[np.bool_], scores: FloatArray) -> float:
    """ROC AUC as the Mann-Whitney statistic on mid-ranks (ties count one half), the same
    number as scikit-learn's roc_auc_score in about half the time; 0.5 with one class."""
    from scipy.stats import rankdata

    positives = int(truth.sum())
    negatives = truth.shape[0] - positives
    if positives == 0 or negatives == 0:
        return 0.5
    ranks = rankdata(scores)
    return float((ranks[truth].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def majority_baseline(train_labels: npt.NDArray[Any], test_labels: npt.NDArray[Any]) -> float:
    """Accuracy on the test split of always predicting the training split's majority class."""
    majority = 1 if float(np.mean(train_labels)) >= 0.5 else 0
    return float(np.mean(test_labels == majority))
