"""The champion checks on the model asset: paired on the same folds, a champion that never
traded is reported as such, not beaten, and the deflated Sharpe has the last word."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.trade2026_assets.ml.evaluations import fold_evaluation
from trade2026_assets.defs.ml.gates import (
    ChampionEvidence,
    champion_comparison,
    champion_sharpe_comparison,
)
from trade2026_assets.strategy.declaration import Gates


def metadata(result: Any) -> dict[str, Any]:
    return {key: value.value for key, value in result.metadata.items()}


rng = np.random.default_rng(5)
# A steady edge: its deflated Sharpe is ~1 whatever the trials.
STRONG = rng.normal(0.001, 0.002, size=5000)
FLAT = np.zeros(5000)


def test_the_candidate_is_compared_fold_by_fold_with_the_champion() -> None:
    candidate = fold_evaluation([0.57, 0.58, 0.56, 0.57, 0.58], STRONG, 40)
    champion = ChampionEvidence("3", fold_evaluation([0.55, 0.56, 0.54, 0.55, 0.56], STRONG, 40))
    won = champion_comparison(champion, candidate, Gates())
    assert won.passed
    evidence = metadata(won)
    assert evidence["outcome"] == "won"
    assert evidence["champion_version"] == "3"
    assert evidence["auc_gain"] == pytest.approx(0.02)
    # The per-fold table pairs fold i of one with fold i of the other.
    table = metadata(won)["folds_table"]
    assert [record.data["fold"] for record in table.records] == [0, 1, 2, 3, 4]
    lost = champion_comparison(ChampionEvidence("3", candidate), champion.evaluation, Gates())  # type: ignore[arg-type]
    assert not lost.passed
    assert metadata(lost)["outcome"] == "lost"


def test_a_champion_whose_configuration_cannot_be_refitted_is_not_comparable() -> None:
    candidate = fold_evaluation([0.57] * 5, STRONG, 40)
    champion = ChampionEvidence("2", None, "the champion predicts 2 bar(s) ahead")
    for result in (
        champion_comparison(champion, candidate, Gates()),
        champion_sharpe_comparison(champion, candidate, Gates(), trials=3),
    ):
        assert not result.passed
        assert metadata(result)["outcome"] == "not comparable"


def test_a_champion_that_never_traded_is_reported_not_beaten() -> None:
    candidate = fold_evaluation([0.57] * 5, STRONG, 40)
    idle = ChampionEvidence("4", fold_evaluation([0.55] * 5, FLAT, 0))
    result = champion_sharpe_comparison(idle, candidate, Gates(), trials=4)
    evidence = metadata(result)
    assert evidence["outcome"] == "champion never traded"
    assert evidence["champion_sharpe"] == 0.0
    # The deflated Sharpe alone decides then.
    assert result.passed == (evidence["deflated_sharpe"] >= Gates().min_deflated_sharpe)
    assert result.passed
    weak = fold_evaluation([0.57] * 5, rng.normal(0.0, 0.002, size=5000), 40)
    assert not champion_sharpe_comparison(idle, weak, Gates(), trials=4).passed


def test_beating_the_champions_sharpe_needs_the_deflated_sharpe_too() -> None:
    draws = np.random.default_rng(11)
    champion = ChampionEvidence("4", fold_evaluation([0.55] * 5, draws.normal(0, 0.002, 5000), 40))
    # A higher Sharpe than the champion's, but no more than the best of 20 trials by luck.
    noisy = fold_evaluation([0.57] * 5, draws.normal(0.00005, 0.002, size=5000), 40)
    result = champion_sharpe_comparison(champion, noisy, Gates(), trials=20)
    evidence = metadata(result)
    assert evidence["trials"] == 20
    assert evidence["candidate_sharpe"] > evidence["champion_sharpe"]
    assert evidence["deflated_sharpe"] < 0.95
    assert evidence["outcome"] == "not deflated"
    assert not result.passed
    strong = fold_evaluation([0.57] * 5, STRONG, 40)
    assert champion_sharpe_comparison(champion, strong, Gates(), trials=20).passed


def test_without_a_champion_the_dsr_is_reported_and_the_check_passes() -> None:
    result = champion_sharpe_comparison(
        None, fold_evaluation([0.5] * 5, FLAT, 0), Gates(), trials=1
    )
    assert result.passed
    assert "deflated_sharpe" in metadata(result)
    assert champion_comparison(None, fold_evaluation([0.5] * 5, FLAT, 0), Gates()).passed
