"""The promotion evidence: a random walk is not promoted, the holdout changes nothing the
gates or the champion comparison see, and a paired comparison needs its standard errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

from bench.null_gates import declaration_for, training_rows
from tests.trade2026_assets.ml.evaluations import fold_evaluation
from trade2026_assets.ml import promotion
from trade2026_assets.strategy.declaration import DEFAULT_STRATEGY

HOURLY = 365.25 * 24


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_a_model_of_a_random_walk_is_not_promoted(seed: int) -> None:
    declaration = declaration_for(DEFAULT_STRATEGY)
    rows = training_rows(declaration, seed=seed, bars=3000, predictability=0.0)
    evaluation = promotion.walk_forward(declaration, rows, periods_per_year=HOURLY).evaluation
    judged = promotion.judge(evaluation, declaration.gates)
    assert {j.name for j in judged} == {promotion.AUC_CHECK, promotion.BASELINE_CHECK}
    assert not all(j.passed for j in judged), [j.metadata for j in judged]


def test_a_known_edge_is_promoted() -> None:
    declaration = declaration_for(DEFAULT_STRATEGY)
    rows = training_rows(declaration, seed=3, bars=5000, predictability=0.1)
    evaluation = promotion.walk_forward(declaration, rows, periods_per_year=HOURLY).evaluation
    assert all(j.passed for j in promotion.judge(evaluation, declaration.gates))


def test_the_holdout_changes_no_gate_and_no_fold() -> None:
    declaration = declaration_for(DEFAULT_STRATEGY)
    rows = training_rows(declaration, seed=11, bars=2500, predictability=0.1)
    holdout = pl.col("split") == "test"
    rng = np.random.default_rng(0)
    # The holdout's labels flipped and its features scrambled: a different future.
    scrambled = rows.with_columns(
        pl.when(holdout).then(1 - pl.col("label")).otherwise(pl.col("label")).alias("label"),
        *(
            pl.when(holdout)
            .then(pl.Series(rng.normal(size=rows.height)))
            .otherwise(pl.col(feature))
            .alias(feature)
            for feature in declaration.features
        ),
    )
    assert not scrambled.filter(holdout).equals(rows.filter(holdout))
    before = promotion.walk_forward(declaration, rows, periods_per_year=HOURLY)
    after = promotion.walk_forward(declaration, scrambled, periods_per_year=HOURLY)
    assert before.evaluation.summary() == after.evaluation.summary()
    assert [j.passed for j in promotion.judge(before.evaluation, declaration.gates)] == [
        j.passed for j in promotion.judge(after.evaluation, declaration.gates)
    ]
    # The champion's refit sees the same folds, so its comparison cannot move either.
    champion = declaration_for(DEFAULT_STRATEGY)
    theirs = [
        promotion.champion_on_folds(declaration, champion, run.folds, periods_per_year=HOURLY)
        for run in (before, after)
    ]
    assert theirs[0].summary() == theirs[1].summary()
    last_test: Any = before.folds[-1].test_end
    first_holdout: Any = rows.filter(holdout).get_column("ts").min()
    assert last_test < first_holdout


def test_a_paired_comparison_wins_loses_or_ties_by_its_standard_error() -> None:
    champion = [0.55, 0.56, 0.54, 0.55, 0.56]
    steady = [c + 0.02 for c in champion]
    assert promotion.paired_outcome(steady, champion, k=3.5, margin=0.005).outcome == "won"
    assert promotion.paired_outcome(champion, steady, k=3.5, margin=0.005).outcome == "lost"
    # The same mean gain, but one fold carries it all: within the noise.
    lucky = [champion[0] + 0.1, *champion[1:]]
    paired = promotion.paired_outcome(lucky, champion, k=3.5, margin=0.005)
    assert paired.mean_gain == pytest.approx(0.02)
    assert paired.outcome == "tie"
    # A gain below the margin is a tie however steady.
    tiny = [c + 0.001 for c in champion]
    assert promotion.paired_outcome(tiny, champion, k=0.0, margin=0.005).outcome == "tie"
    with pytest.raises(ValueError, match="same folds"):
        promotion.paired_outcome(steady[:4], champion, k=3.5, margin=0.005)


def test_the_gates_subtract_k_standard_errors() -> None:
    evaluation = fold_evaluation([0.50, 0.60, 0.52, 0.58, 0.55], np.zeros(10), trades=0)
    gates = declaration_for(DEFAULT_STRATEGY).gates
    auc = next(j for j in promotion.judge(evaluation, gates) if j.name == promotion.AUC_CHECK)
    # Mean 0.55 is above 0.505, but 0.55 - 3.5 * SE is not.
    assert auc.metadata["wf_auc_mean"] == pytest.approx(0.55)
    assert float(auc.metadata["wf_auc_lower"]) < 0.5 + gates.auc_margin
    assert not auc.passed
    assert promotion.judge(evaluation, gates.model_copy(update={"k": 1.0}))[1].passed
