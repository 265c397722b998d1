"""The auto-swap sensor's decisions, one gate at a time (the loop itself runs in
tests/integration/test_full_flow.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from registry_service.schemas import SwapAckPublic, SwapDetail
from trade2026_assets.auto_swap import (
    AutoSwapError,
    Candidate,
    CheckOutcome,
    CursorState,
    SwapPolicy,
    ack_outcome,
    rejection,
    swap_reason,
)

PARITY = CheckOutcome(True, {"values_compared": 68, "mismatches": 0})


def candidate(**overrides: CheckOutcome) -> Candidate:
    checks = {
        "beats_majority_baseline": CheckOutcome(True, {"test_accuracy": 0.56, "threshold": 0.53}),
        "test_auc_above_chance": CheckOutcome(True, {"test_auc": 0.61, "threshold": 0.51}),
        "beats_champion": CheckOutcome(
            True, {"champion_version": "3", "champion_test_auc": 0.6, "candidate_test_auc": 0.61}
        ),
        **overrides,
    }
    return Candidate(
        storage_id=9,
        run_id="abcdef123456",
        model_version="4",
        model_uri="models:/default_ml_strategy/4",
        checks=checks,
    )


def test_a_candidate_that_passes_everything_is_accepted_and_the_reason_cites_the_checks() -> None:
    assert rejection(candidate(), PARITY, champion="3") is None
    reason = swap_reason(candidate(), PARITY)
    assert reason.startswith("automatic: xgb_model version 4 (Dagster run abcdef123456)")
    assert "test_auc_above_chance passed (test_auc 0.6100, threshold 0.5100)" in reason
    assert "beats_champion passed (candidate_test_auc 0.6100, champion_version 3" in reason
    assert "online_offline_parity passed (values_compared 68, mismatches 0)" in reason


@pytest.mark.parametrize(
    ("overrides", "parity", "champion", "expected"),
    [
        (
            {"test_auc_above_chance": CheckOutcome(False, {"test_auc": 0.5, "threshold": 0.51})},
            PARITY,
            "3",
            "failed test_auc_above_chance (test_auc 0.5000, threshold 0.5100)",
        ),
        (
            {
                "beats_champion": CheckOutcome(
                    False,
                    {
                        "champion_version": "3",
                        "champion_test_auc": 0.62,
                        "candidate_test_auc": 0.61,
                    },
                )
            },
            PARITY,
            "3",
            "lost to champion version 3 (candidate_test_auc 0.6100",
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
def test_each_gate_rejects_with_its_evidence(
    overrides: dict[str, CheckOutcome],
    parity: CheckOutcome | None,
    champion: str,
    expected: str,
) -> None:
    problem = rejection(candidate(**overrides), parity, champion=champion)
    assert problem is not None
    assert expected in problem
    assert problem.startswith("xgb_model version 4 (run abcdef12)") or "parity" in problem


def test_a_check_that_did_not_run_is_a_rejection() -> None:
    partial = candidate()
    del partial.checks["test_auc_above_chance"]
    assert "its blocking check test_auc_above_chance did not run" in str(
        rejection(partial, PARITY, champion="3")
    )


def swap(status: str, *acks: tuple[bool, str | None]) -> SwapDetail:
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "swap_id": uuid.uuid4(),
        "swap_type": "automatic",
        "status": status,
        "environment": "production",
        "slot": "s",
        "from_entity_id": uuid.uuid4(),
        "to_entity_id": uuid.uuid4(),
        "from_deployment_id": None,
        "to_deployment_id": None,
        "reason": "r",
        "initiated_by": "t",
        "errors": [],
        "rollback_of": None,
        "rolled_back_by": None,
        "idempotency_key": None,
        "started_at": now,
        "committed_at": now,
        "duration_ms": 1.0,
        "propagation_ms": None,
        "downtime_ms": None,
    }
    body["acks"] = [
        SwapAckPublic(
            consumer=f"w{i}",
            success=ok,
            error=error,
            serving_since=None,
            old_served_until=None,
            propagation_ms=None,
            downtime_ms=None,
            received_at=now,
        )
        for i, (ok, error) in enumerate(acks)
    ]
    return SwapDetail.model_validate(body)


def test_acknowledgements_decide_a_swap() -> None:
    two = SwapPolicy(min_acks=2)
    assert ack_outcome(swap("completed"), two) == ("waiting", "0 of 2 acknowledgement(s)")
    assert ack_outcome(swap("completed", (True, None)), two)[0] == "waiting"
    assert ack_outcome(swap("completed", (True, None), (True, None)), two)[0] == "confirmed"
    failed = ack_outcome(swap("completed", (True, None), (False, "cannot load x")), two)
    assert failed == ("failed", "w1 could not serve it: cannot load x")
    assert ack_outcome(swap("rolled_back"), two) == (
        "failed",
        "the swap is rolled_back in the registry",
    )


def test_an_unreadable_cursor_fails_the_tick_with_how_to_reset_it() -> None:
    assert CursorState.parse(None) == CursorState()
    with pytest.raises(AutoSwapError, match="dagster sensor cursor auto_swap_sensor --delete"):
        CursorState.parse('{"after": "x"}')
