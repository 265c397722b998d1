"""The evidence a model version is promoted on: its walk-forward scores with their
uncertainty, the gates that judge them, and the paired comparison with the champion.

Every number here comes from the walk-forward folds (`walk_forward`), never from the
holdout: the holdout is scored and reported by the caller, and no function here reads it.

* `evaluate` fits a configuration (model family, features, signal rule) on each fold and
  scores the fold's test window: AUC, accuracy, log loss, the majority baseline, and the
  rule's backtest on that window (per-bar net returns, concatenated over the folds).
* `judge` is the blocking gates: the mean fold AUC minus `k` standard errors above
  0.5 + `auc_margin`, and the mean fold accuracy gain over the majority baseline minus `k`
  standard errors above `baseline_margin`. The defaults of k and the margins are the ones the
  null benchmark (`bench/null_gates.py`) shows to keep false promotion under 1 %.
* `paired_outcome` compares two configurations fold by fold on the same folds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from trade2026_assets.ml import classifiers
from trade2026_assets.ml.backtest import BacktestParams, run_backtest
from trade2026_assets.ml.metrics import classification_metrics, majority_baseline
from trade2026_assets.ml.walk_forward import Fold, walk_forward_folds
from trade2026_assets.strategy.declaration import Gates, ModelSpec, StrategyDeclaration
from trade2026_assets.strategy.rule import SignalRule

FloatArray = npt.NDArray[np.float64]
METRICS = ("auc", "accuracy", "log_loss", "majority_baseline")
AUC_CHECK = "auc_above_chance"
BASELINE_CHECK = "beats_majority_baseline"


@dataclass(frozen=True)
class FoldScore:
    fold: int
    test_start: str
    test_end: str
    fit_rows: int
    test_rows: int
    auc: float
    accuracy: float
    log_loss: float
    majority_baseline: float
    sharpe: float
    trades: int

    def row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class Evaluation:
    """One configuration's walk-forward evidence."""

    scores: tuple[FoldScore, ...]
    # Per-bar net returns of the signal rule over every fold's test window, in order.
    returns: FloatArray = field(repr=False)
    periods_per_year: float

    def values(self, metric: str) -> FloatArray:
        return np.array([getattr(score, metric) for score in self.scores], dtype=np.float64)

    def mean(self, metric: str) -> float:
        return float(np.mean(self.values(metric)))

    def se(self, metric: str) -> float:
        return standard_error(self.values(metric))

    @property
    def traded(self) -> bool:
        return any(score.trades > 0 for score in self.scores)

    @property
    def sharpe(self) -> float:
        """The annualized Sharpe ratio of the concatenated out-of-fold returns."""
        return sharpe_ratio(self.returns, self.periods_per_year)

    def summary(self) -> dict[str, float]:
        """Plain numbers: each metric's mean and standard error over the folds."""
        out: dict[str, float] = {"wf_folds": float(len(self.scores))}
        for metric in METRICS:
            out[f"wf_{metric}_mean"] = self.mean(metric)
            out[f"wf_{metric}_se"] = self.se(metric)
        out["wf_sharpe"] = self.sharpe
        out["wf_trades"] = float(sum(score.trades for score in self.scores))
        return out


def standard_error(values: Sequence[float] | FloatArray) -> float:
    """The standard error of the mean (sample standard deviation over sqrt(n)); 0 for one."""
    array = np.asarray(values, dtype=np.float64)
    if array.size < 2:
        return 0.0
    return float(np.std(array, ddof=1) / math.sqrt(array.size))


def sharpe_ratio(returns: FloatArray, periods_per_year: float) -> float:
    """Mean over standard deviation of per-bar returns, annualized; 0 without variance."""
    if returns.size < 2:
        return 0.0
    std = float(np.std(returns, ddof=1))
    return float(np.mean(returns)) / std * math.sqrt(periods_per_year) if std > 0 else 0.0


HOLDOUT = "test"


def evidence_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """The rows the folds are cut from: every split but the holdout (`split` != 'test')."""
    return rows.filter(pl.col("split") != HOLDOUT)


@dataclass(frozen=True)
class WalkForward:
    folds: list[Fold]
    evaluation: Evaluation


def walk_forward(
    declaration: StrategyDeclaration, rows: pl.DataFrame, *, periods_per_year: float
) -> WalkForward:
    """The declaration's folds over a training set's rows (with `split`) and its scores on
    them; the holdout rows are dropped first, so nothing here depends on them."""
    folds = folds_of(declaration, evidence_rows(rows))
    return WalkForward(
        folds, evaluate_declaration(declaration, folds, periods_per_year=periods_per_year)
    )


def folds_of(declaration: StrategyDeclaration, rows: pl.DataFrame) -> list[Fold]:
    """The declaration's walk-forward folds over `rows` (the train and validation rows)."""
    evaluation = declaration.evaluation
    return walk_forward_folds(
        rows,
        folds=evaluation.folds,
        window=evaluation.window,
        horizon=declaration.label.horizon,
        embargo=evaluation.embargo_bars,
        early_stopping_fraction=evaluation.early_stopping_fraction,
    )


def _returns(result: dict[str, Any]) -> FloatArray:
    equity = np.asarray(result["strategy_equity"], dtype=np.float64)
    previous = np.concatenate([[1.0], equity[:-1]])
    return np.asarray(equity / previous - 1.0, dtype=np.float64)


def evaluate(
    spec: ModelSpec,
    features: tuple[str, ...],
    rule: SignalRule,
    folds: Sequence[Fold],
    *,
    fee_bps: float,
    slippage_bps: float,
    periods_per_year: float,
) -> Evaluation:
    """Fit `spec` on each fold's rows (stopping early on its early-stopping rows), score
    its test window and backtest `rule` on it."""
    params = BacktestParams(
        rule=rule, fee_bps=fee_bps, slippage_bps=slippage_bps, periods_per_year=periods_per_year
    )
    scores = []
    returns = []
    for fold in folds:
        model = classifiers.fit(spec, features, fold.fit, fold.early_stopping)
        test = fold.test.sort("symbol", "ts")
        probabilities = classifiers.predict_frame(model, test)
        labels = test.get_column("label").to_numpy()
        metrics = classification_metrics(labels, probabilities)
        backtest = run_backtest(test, probabilities, params)
        fold_returns = _returns(backtest)
        returns.append(fold_returns)
        scores.append(
            FoldScore(
                fold=fold.index,
                test_start=str(test.get_column("ts").min()),
                test_end=str(test.get_column("ts").max()),
                fit_rows=fold.fit.height,
                test_rows=test.height,
                auc=metrics["auc"],
                accuracy=metrics["accuracy"],
                log_loss=metrics["log_loss"],
                majority_baseline=majority_baseline(
                    fold.fit.get_column("label").to_numpy(), labels
                ),
                sharpe=sharpe_ratio(fold_returns, periods_per_year),
                trades=int(backtest["strategy"]["trades"]),
            )
        )
    return Evaluation(tuple(scores), np.concatenate(returns), periods_per_year)


def evaluate_declaration(
    declaration: StrategyDeclaration, folds: Sequence[Fold], *, periods_per_year: float
) -> Evaluation:
    return evaluate(
        declaration.model,
        declaration.features,
        declaration.signal,
        folds,
        fee_bps=declaration.costs.fee_bps,
        slippage_bps=declaration.costs.slippage_bps,
        periods_per_year=periods_per_year,
    )


@dataclass(frozen=True)
class Judgement:
    """A gate's outcome and its evidence (plain numbers)."""

    name: str
    passed: bool
    metadata: dict[str, float | int | str]


def judge(evaluation: Evaluation, gates: Gates) -> list[Judgement]:
    """The blocking gates on the walk-forward evidence (see the module docstring)."""
    fewest = min(score.test_rows for score in evaluation.scores)
    # Below the minimum sample no fold's score is evidence, however good it looks.
    enough = fewest >= gates.min_test_rows
    sample: dict[str, float | int | str] = {
        "folds": len(evaluation.scores),
        "fewest_fold_test_rows": fewest,
        "min_test_rows": gates.min_test_rows,
        "k": gates.k,
    }
    auc_mean, auc_se = evaluation.mean("auc"), evaluation.se("auc")
    auc_lower = auc_mean - gates.k * auc_se
    gain = evaluation.values("accuracy") - evaluation.values("majority_baseline")
    gain_mean, gain_se = float(np.mean(gain)), standard_error(gain)
    gain_lower = gain_mean - gates.k * gain_se
    return [
        Judgement(
            BASELINE_CHECK,
            enough and gain_lower > gates.baseline_margin,
            {
                "wf_accuracy_mean": evaluation.mean("accuracy"),
                "wf_majority_baseline_mean": evaluation.mean("majority_baseline"),
                "accuracy_gain_mean": gain_mean,
                "accuracy_gain_se": gain_se,
                "accuracy_gain_lower": gain_lower,
                "margin": gates.baseline_margin,
                "threshold": gates.baseline_margin,
                **sample,
            },
        ),
        Judgement(
            AUC_CHECK,
            enough and auc_lower > 0.5 + gates.auc_margin,
            {
                "wf_auc_mean": auc_mean,
                "wf_auc_se": auc_se,
                "wf_auc_lower": auc_lower,
                "margin": gates.auc_margin,
                "threshold": 0.5 + gates.auc_margin,
                **sample,
            },
        ),
    ]


@dataclass(frozen=True)
class Paired:
    outcome: str  # 'won' | 'lost' | 'tie'
    mean_gain: float
    se: float
    gains: tuple[float, ...]


def paired_outcome(
    candidate: Sequence[float], champion: Sequence[float], *, k: float, margin: float
) -> Paired:
    """Fold-by-fold gains of the candidate over the champion: 'won' if their mean minus k
    standard errors exceeds `margin`, 'lost' if their mean plus k standard errors is below
    -`margin`, else 'tie'."""
    if len(candidate) != len(champion) or not candidate:
        raise ValueError("a paired comparison needs the same folds for both models")
    gains = np.asarray(candidate, dtype=np.float64) - np.asarray(champion, dtype=np.float64)
    mean, se = float(np.mean(gains)), standard_error(gains)
    if mean - k * se > margin:
        outcome = "won"
    elif mean + k * se < -margin:
        outcome = "lost"
    else:
        outcome = "tie"
    return Paired(outcome, mean, se, tuple(float(g) for g in gains))


def comparable(candidate: StrategyDeclaration, champion: StrategyDeclaration) -> str | None:
    """Why the champion's configuration cannot be refitted on the candidate's folds (its
    labels or indicators differ, so its rows are not these), or None if it can."""
    if champion.label.horizon != candidate.label.horizon:
        return (
            f"the champion predicts {champion.label.horizon} bar(s) ahead, the candidate "
            f"{candidate.label.horizon}"
        )
    if champion.indicator_set != candidate.indicator_set:
        return (
            f"the champion was trained on indicator set {champion.indicator_set}, the "
            f"candidate on {candidate.indicator_set}"
        )
    return None


def champion_on_folds(
    candidate: StrategyDeclaration,
    champion: StrategyDeclaration,
    folds: Sequence[Fold],
    *,
    periods_per_year: float,
) -> Evaluation:
    """The champion's configuration (family, features, signal rule) refitted on the
    candidate's folds; the candidate's costs, which belong to the market, not the model."""
    return evaluate(
        champion.model,
        champion.features,
        champion.signal,
        folds,
        fee_bps=candidate.costs.fee_bps,
        slippage_bps=candidate.costs.slippage_bps,
        periods_per_year=periods_per_year,
    )
