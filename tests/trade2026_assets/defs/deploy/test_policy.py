"""The swap decision, one rule at a time, on evidence built here (no Dagster, no I/O)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from trade2026_assets.defs.deploy.policy import (
    Candidate,
    CheckOutcome,
    Evidence,
    NewerInput,
    Rejection,
    Swap,
    decide,
    follow_up,
    idempotency_key,
)
from trade2026_assets.strategy.declaration import (
    StrategiesError,
    StrategyDeclaration,
    SwapPolicy,
    parse_declaration,
)
from trade2026_assets.technical_indicators import IndicatorParams

ALPHA = StrategyDeclaration(name="alpha")
OTHER_SET = StrategyDeclaration(name="other", indicators=IndicatorParams(rsi_period=21))
PARITY = CheckOutcome(
    True, {"values_compared": 68, "mismatches": 0, "indicator_sets": [ALPHA.indicator_set]}
)


def candidate(**overrides: CheckOutcome) -> Candidate:
    checks = {
        "beats_majority_baseline": CheckOutcome(
            True, {"accuracy_gain_lower": 0.02, "threshold": 0.0}
        ),
        "auc_above_chance": CheckOutcome(True, {"wf_auc_lower": 0.56, "threshold": 0.505}),
        "beats_champion": CheckOutcome(
            True,
            {
                "outcome": "won",
                "champion_version": "3",
                "champion_wf_auc": 0.6,
                "candidate_wf_auc": 0.61,
            },
        ),
        "beats_champion_sharpe": CheckOutcome(
            True,
            {
                "outcome": "won",
                "champion_version": "3",
                "candidate_sharpe": 2.5,
                "champion_sharpe": 1.5,
                "deflated_sharpe": 0.97,
            },
        ),
        **overrides,
    }
    return Candidate(
        storage_id=9,
        run_id="abcdef123456",
        model_version="4",
        model_uri="models:/alpha/4",
        checks=checks,
        indicator_set=ALPHA.indicator_set,
    )


def decided(
    evidence_candidate: Candidate | None = None,
    parity: CheckOutcome | None = PARITY,
    champion: str | None = "3",
    newer: tuple[NewerInput, ...] = (),
    declaration: StrategyDeclaration = ALPHA,
) -> Swap | Rejection:
    return decide(
        declaration,
        Evidence(evidence_candidate or candidate(), parity, champion, newer),
    )


def rejected(**kwargs: object) -> str:
    decision = decided(**kwargs)  # type: ignore[arg-type]
    assert isinstance(decision, Rejection), decision
    return decision.message


def test_a_candidate_that_passes_everything_is_swapped_and_the_reason_cites_the_checks() -> None:
    decision = decided()
    assert isinstance(decision, Swap)
    reason = decision.reason
    assert reason.startswith("automatic: alpha/model version 4 (Dagster run abcdef123456)")
    assert "auc_above_chance passed (wf_auc_lower 0.5600, threshold 0.5050)" in reason
    assert "beats_champion passed (candidate_wf_auc 0.6100, champion_version 3" in reason
    assert "beats_champion_sharpe passed (champion_version 3, outcome won" in reason
    assert "online_offline_parity passed (values_compared 68, mismatches 0, indicator_sets" in (
        reason
    )


def test_the_first_model_of_a_strategy_has_no_champion_to_beat() -> None:
    first = candidate(
        beats_champion=CheckOutcome(True, {"outcome": "no champion", "champion_version": None})
    )
    assert isinstance(decided(first, champion=None), Swap)


@pytest.mark.parametrize(
    ("overrides", "parity", "champion", "expected"),
    [
        (
            {"auc_above_chance": CheckOutcome(False, {"wf_auc_lower": 0.5, "threshold": 0.505})},
            PARITY,
            "3",
            "failed auc_above_chance (wf_auc_lower 0.5000, threshold 0.5050)",
        ),
        (
            {
                "beats_champion": CheckOutcome(
                    False,
                    {
                        "champion_version": "3",
                        "champion_wf_auc": 0.62,
                        "candidate_wf_auc": 0.61,
                    },
                )
            },
            PARITY,
            "3",
            "lost to champion version 3 (candidate_wf_auc 0.6100",
        ),
        ({}, PARITY, "5", "compared with champion 3, but the champion is now version 5"),
        ({}, PARITY, "4", "is the champion already"),
        ({}, None, "3", "online_offline_parity has never run"),
        (
            {},
            CheckOutcome(False, {"mismatches": 2}),
            "3",
            "online_offline_parity failed (mismatches 2)",
        ),
    ],
)
def test_each_rule_rejects_with_its_evidence(
    overrides: dict[str, CheckOutcome],
    parity: CheckOutcome | None,
    champion: str,
    expected: str,
) -> None:
    message = rejected(evidence_candidate=candidate(**overrides), parity=parity, champion=champion)
    assert message.startswith("alpha/model version 4 (run abcdef12) is not swapped: ")
    assert expected in message


def test_every_reason_is_named_not_only_the_first() -> None:
    both = candidate(
        auc_above_chance=CheckOutcome(False, {"wf_auc_lower": 0.5, "threshold": 0.505})
    )
    message = rejected(evidence_candidate=both, parity=None)
    assert "failed auc_above_chance" in message
    assert "online_offline_parity has never run" in message


def test_a_check_that_did_not_run_is_a_rejection() -> None:
    partial = candidate()
    checks = dict(partial.checks)
    del checks["auc_above_chance"]
    message = rejected(evidence_candidate=dataclasses.replace(partial, checks=checks))
    assert "its blocking check auc_above_chance did not run" in message


def test_a_gain_within_the_margin_is_a_tie_and_the_champion_stays() -> None:
    tie = CheckOutcome(
        False,
        {
            "outcome": "tie",
            "champion_version": "3",
            "candidate_wf_auc": 0.6102,
            "champion_wf_auc": 0.61,
            "auc_gain": 0.0002,
            "margin": 0.005,
        },
    )
    message = rejected(evidence_candidate=candidate(beats_champion=tie))
    assert "tied with champion version 3" in message
    assert "auc_gain 0.0002" in message
    assert "lost" not in message


def test_over_a_champion_the_sharpe_check_must_pass_too() -> None:
    not_deflated = CheckOutcome(
        False,
        {
            "outcome": "not deflated",
            "champion_version": "3",
            "candidate_sharpe": 2.5,
            "champion_sharpe": 1.5,
            "deflated_sharpe": 0.4,
            "min_deflated_sharpe": 0.95,
        },
    )
    message = rejected(evidence_candidate=candidate(beats_champion_sharpe=not_deflated))
    assert "failed beats_champion_sharpe against champion version 3" in message
    assert "deflated_sharpe 0.4000" in message
    partial = candidate()
    checks = dict(partial.checks)
    del checks["beats_champion_sharpe"]
    message = rejected(evidence_candidate=dataclasses.replace(partial, checks=checks))
    assert "beats_champion_sharpe did not run" in message


def test_a_champion_that_cannot_be_compared_is_not_swapped_automatically() -> None:
    other = CheckOutcome(
        False,
        {"outcome": "not comparable", "champion_version": "3", "why": "another horizon"},
    )
    message = rejected(evidence_candidate=candidate(beats_champion=other))
    assert "cannot be compared with champion version 3 (another horizon)" in message


def test_the_first_model_needs_no_sharpe_comparison() -> None:
    first = candidate(
        beats_champion=CheckOutcome(True, {"outcome": "no champion", "champion_version": None})
    )
    checks = dict(first.checks)
    del checks["beats_champion_sharpe"]
    assert isinstance(decided(dataclasses.replace(first, checks=checks), champion=None), Swap)


def test_parity_of_other_indicator_sets_only_is_refused_and_says_so() -> None:
    others = CheckOutcome(True, {"mismatches": 0, "indicator_sets": [OTHER_SET.indicator_set]})
    message = rejected(parity=others)
    assert f"covered indicator sets {OTHER_SET.indicator_set} only" in message
    assert f"not {ALPHA.indicator_set}, the set alpha is served" in message
    covering = CheckOutcome(
        True, {"indicator_sets": [OTHER_SET.indicator_set, ALPHA.indicator_set]}
    )
    assert isinstance(decided(parity=covering), Swap)


def test_parity_that_does_not_name_its_indicator_sets_is_refused() -> None:
    message = rejected(parity=CheckOutcome(True, {"mismatches": 0}))
    assert "does not say which indicator sets it covered" in message


def test_parity_older_than_the_latest_inputs_is_stale() -> None:
    newer = (NewerInput("indicators", "1234567890ab"), NewerInput("online_features", "ffff0000"))
    message = rejected(newer=newer)
    assert "parity ran before the latest indicators materialization (run 12345678)" in message
    assert "parity ran before the latest online_features materialization" in message


def test_a_model_of_another_indicator_set_or_registered_model_is_refused() -> None:
    trained_on_other = dataclasses.replace(candidate(), indicator_set=OTHER_SET.indicator_set)
    message = rejected(evidence_candidate=trained_on_other)
    assert f"trained on indicator set {OTHER_SET.indicator_set}" in message
    assert f"now computes {ALPHA.indicator_set}" in message
    elsewhere = dataclasses.replace(candidate(), model_uri="models:/beta/4")
    message = rejected(evidence_candidate=elsewhere)
    assert "names model URI models:/beta/4, but the strategy's registered model 'alpha'" in (
        message
    )
    assert "no model_version" in rejected(
        evidence_candidate=dataclasses.replace(candidate(), model_version="")
    )


def test_acknowledgements_decide_a_pending_swap() -> None:
    two = SwapPolicy(min_acks=2, ack_deadline_s=60)
    ok = ("w0", True, None)

    def fate(status: str, *acks: tuple[str, bool, str | None], now: float = 0.0) -> tuple[str, str]:
        count = follow_up(status, list(acks), two, now=now, deadline=60.0)
        return count.outcome, count.why

    assert fate("completed") == ("waiting", "0 of 2 acknowledgement(s)")
    assert fate("completed", ok)[0] == "waiting"
    assert fate("completed", ok, ("w1", True, None)) == ("confirmed", "2 acknowledgement(s)")
    assert fate("completed", ok, ("w1", False, "cannot load x")) == (
        "failed",
        "w1 could not serve it: cannot load x",
    )
    assert fate("rolled_back") == ("failed", "the swap is rolled_back in the registry")
    assert fate("completed", ok, now=60.0) == (
        "failed",
        "no acknowledgement within 60 s (1 of 2 acknowledgement(s))",
    )


def test_the_idempotency_key_names_the_slot_and_the_model_version() -> None:
    assert idempotency_key(ALPHA.slot, "4") == "auto-swap:alpha:model-4"


def test_a_declaration_cannot_ask_a_tick_to_wait_for_acknowledgements() -> None:
    text = "name: waits\nswap: {min_acks: 1, ack_deadline_s: 60, ack_wait_s: 10}\n"
    with pytest.raises(StrategiesError, match=r"here: swap\.ack_wait_s: unknown field"):
        parse_declaration(text, origin="here")


def test_the_policy_imports_no_dagster() -> None:
    code = (
        "import sys, trade2026_assets.defs.deploy.policy; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'mlflow')))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert found.stdout.strip() == "[]", found.stdout
