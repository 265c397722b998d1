"""Whether a strategy's newest model goes live: the evidence read from the event log in,
a swap (with the reason the registry records) or a rejection (with every reason) out.

Pure: no Dagster, no I/O, so every rule is a unit test. The evidence is read by
`candidates.py`; acting on the decision is `sensor.py`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trade2026_assets.strategy.declaration import StrategyDeclaration, SwapPolicy

# The model's blocking gates, then its comparisons with the champion (both needed over one).
MODEL_GATES = ("beats_majority_baseline", "auc_above_chance")
CHAMPION_CHECK = "beats_champion"
CHAMPION_SHARPE_CHECK = "beats_champion_sharpe"
PARITY_NAME = "online_features.online_offline_parity"
# Numbers shown when a check is cited: its value and its threshold.
_EVIDENCE_KEYS = (
    "wf_accuracy_mean",
    "wf_majority_baseline_mean",
    "accuracy_gain_lower",
    "wf_auc_mean",
    "wf_auc_lower",
    "candidate_wf_auc",
    "champion_version",
    "champion_wf_auc",
    "threshold",
    "champion",
    "outcome",
    "auc_gain",
    "auc_gain_se",
    "margin",
    "candidate_sharpe",
    "champion_sharpe",
    "deflated_sharpe",
    "min_deflated_sharpe",
    "trials",
    "values_compared",
    "mismatches",
    "indicator_sets",
)


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    metadata: Mapping[str, Any]
    # When the evaluation was recorded (seconds since the epoch).
    timestamp: float = 0.0

    def evidence(self) -> str:
        shown = []
        for key in _EVIDENCE_KEYS:
            if key in self.metadata:
                value = self.metadata[key]
                if isinstance(value, float):
                    shown.append(f"{key} {value:.4f}")
                elif isinstance(value, list | tuple):
                    shown.append(f"{key} {', '.join(map(str, value))}")
                else:
                    shown.append(f"{key} {value}")
        return ", ".join(shown)

    def indicator_sets(self) -> list[str] | None:
        """The indicator sets a parity evaluation covered; None if it does not say. Older
        evaluations wrote them comma-joined under `indicator_set`."""
        listed = self.metadata.get("indicator_sets")
        if isinstance(listed, list | tuple):
            return [str(name) for name in listed]
        joined = self.metadata.get("indicator_set")
        if isinstance(joined, str) and joined:
            return joined.split(",")
        return None


@dataclass(frozen=True)
class Candidate:
    """A materialization of the strategy's model asset and its run's checks of it."""

    storage_id: int
    run_id: str
    model_version: str
    model_uri: str
    checks: Mapping[str, CheckOutcome]
    indicator_set: str = ""


@dataclass(frozen=True)
class NewerInput:
    """A materialization of a parity input recorded after the parity evaluation."""

    asset: str
    run_id: str


@dataclass(frozen=True)
class Evidence:
    """Everything the decision reads about one candidate."""

    candidate: Candidate
    parity: CheckOutcome | None
    champion: str | None  # the model version the MLflow alias names now
    # Parity inputs (indicators, online features) materialized after the parity ran.
    newer_inputs: Sequence[NewerInput] = ()


@dataclass(frozen=True)
class Swap:
    reason: str
    headline: str = "passed, to be swapped in"


@dataclass(frozen=True)
class Rejection:
    subject: str
    reasons: Sequence[str] = field(default_factory=list)
    # A few words for the sensor's tick list: which rule stopped it first.
    headline: str = "not swapped"

    @property
    def message(self) -> str:
        return f"{self.subject} is not swapped: " + "; ".join(self.reasons)


def subject(declaration: StrategyDeclaration, candidate: Candidate) -> str:
    """How a tick names the candidate: `<strategy>/model version 4 (run 1a2b3c4d)`."""
    return (
        f"{declaration.name}/model version {candidate.model_version or '?'} "
        f"(run {candidate.run_id[:8]})"
    )


def decide(declaration: StrategyDeclaration, evidence: Evidence) -> Swap | Rejection:
    """Swap only if every rule holds; otherwise every rule that does not, with its evidence."""
    candidate = evidence.candidate
    problems = {
        "not a usable model": _model_problems(declaration, candidate),
        "failed its gates": _gate_problems(candidate),
        f"champion v{evidence.champion} stays"
        if evidence.champion
        else "no champion comparison": _champion_problems(
            declaration, candidate, evidence.champion
        ),
        "online features not proven": _parity_problems(declaration, evidence),
    }
    reasons = [reason for found in problems.values() for reason in found]
    if reasons:
        headline = next(what for what, found in problems.items() if found)
        return Rejection(subject(declaration, candidate), reasons, headline)
    assert evidence.parity is not None
    return Swap(swap_reason(declaration, candidate, evidence.parity))


def _model_problems(declaration: StrategyDeclaration, candidate: Candidate) -> list[str]:
    if not candidate.model_version:
        return ["its materialization names no model_version"]
    expected = declaration.model_uri(candidate.model_version)
    problems = []
    if candidate.model_uri != expected:
        problems.append(
            f"it names model URI {candidate.model_uri or '(none)'}, but the strategy's "
            f"registered model {declaration.registered_model!r} gives {expected}"
        )
    if candidate.indicator_set and candidate.indicator_set != declaration.indicator_set:
        problems.append(
            f"it was trained on indicator set {candidate.indicator_set}, but the declaration "
            f"now computes {declaration.indicator_set}: re-materialize "
            f"{declaration.name}/model"
        )
    return problems


def _gate_problems(candidate: Candidate) -> list[str]:
    problems = []
    for gate in MODEL_GATES:
        outcome = candidate.checks.get(gate)
        if outcome is None:
            problems.append(f"its blocking check {gate} did not run")
        elif not outcome.passed:
            problems.append(f"failed {gate} ({outcome.evidence()})")
    return problems


def _champion_problems(
    declaration: StrategyDeclaration, candidate: Candidate, champion: str | None
) -> list[str]:
    beats = candidate.checks.get(CHAMPION_CHECK)
    if beats is None:
        return [f"{CHAMPION_CHECK} did not run"]
    compared_with = beats.metadata.get("champion_version")
    outcome = beats.metadata.get("outcome")
    if not beats.passed and outcome == "tie":
        return [
            f"tied with champion version {compared_with}: the difference is within the "
            f"margin, so the champion stays ({beats.evidence()})"
        ]
    if not beats.passed and outcome == "not comparable":
        return [
            f"cannot be compared with champion version {compared_with} "
            f"({beats.metadata.get('why', 'no reason given')}): swap it by hand"
        ]
    if not beats.passed:
        return [f"lost to champion version {compared_with} ({beats.evidence()})"]
    if champion is not None and champion == candidate.model_version:
        return ["it is the champion already"]
    if champion is not None and str(compared_with) != champion:
        return [
            f"it was compared with champion {compared_with or 'none'}, but the champion is "
            f"now version {champion}: re-materialize {declaration.name}/model to compare again"
        ]
    if champion is None and compared_with is None:
        return []
    # Over a champion the Sharpe must win too, deflated for every version tried.
    sharpe = candidate.checks.get(CHAMPION_SHARPE_CHECK)
    if sharpe is None:
        return [f"{CHAMPION_SHARPE_CHECK} did not run"]
    if not sharpe.passed:
        return [
            f"failed {CHAMPION_SHARPE_CHECK} against champion version {compared_with} "
            f"({sharpe.evidence()})"
        ]
    return []


def _parity_problems(declaration: StrategyDeclaration, evidence: Evidence) -> list[str]:
    parity = evidence.parity
    if parity is None:
        return [f"{PARITY_NAME} has never run: materialize online_features"]
    if not parity.passed:
        return [f"{PARITY_NAME} failed ({parity.evidence()})"]
    problems = [
        f"{PARITY_NAME} ran before the latest {newer.asset} materialization (run "
        f"{newer.run_id[:8]}): the online store may not hold what the model was trained on; "
        "materialize online_features"
        for newer in evidence.newer_inputs
    ]
    covered = parity.indicator_sets()
    if covered is None:
        problems.append(
            f"{PARITY_NAME} does not say which indicator sets it covered (no indicator_sets "
            "in its metadata): materialize online_features"
        )
    elif declaration.indicator_set not in covered:
        problems.append(
            f"{PARITY_NAME} covered indicator sets {', '.join(covered) or '(none)'} only, not "
            f"{declaration.indicator_set}, the set {declaration.name} is served: materialize "
            "indicators and online_features for it"
        )
    return problems


def swap_reason(
    declaration: StrategyDeclaration, candidate: Candidate, parity: CheckOutcome
) -> str:
    """The swap's reason in the registry: the candidate and the checks it passed."""
    cited = [
        f"{gate} passed ({candidate.checks[gate].evidence()})"
        for gate in (*MODEL_GATES, CHAMPION_CHECK, CHAMPION_SHARPE_CHECK)
        if gate in candidate.checks
    ]
    cited.append(f"online_offline_parity passed ({parity.evidence()})")
    return (
        f"automatic: {declaration.name}/model version {candidate.model_version} (Dagster run "
        f"{candidate.run_id}): " + "; ".join(cited)
    )[:2000]


def idempotency_key(slot: str, model_version: str) -> str:
    """One swap per slot and model version, however often a tick is evaluated."""
    return f"auto-swap:{slot}:model-{model_version}"


def strategy_version(model_version: str) -> str:
    """The strategy entity's version for a model version: its minor number."""
    return f"1.{model_version}.0"


@dataclass(frozen=True)
class AckCount:
    outcome: str  # 'confirmed' | 'failed' | 'waiting'
    why: str


def ack_outcome(
    status: str, acks: Sequence[tuple[str, bool, str | None]], policy: SwapPolicy
) -> AckCount:
    """What a swap's acknowledgements (consumer, success, error) say under the policy."""
    if status != "completed":
        return AckCount("failed", f"the swap is {status} in the registry")
    for consumer, success, error in acks:
        if not success:
            return AckCount("failed", f"{consumer} could not serve it: {error}")
    ok = sum(1 for _, success, _ in acks if success)
    if ok >= policy.min_acks:
        return AckCount("confirmed", f"{ok} acknowledgement(s)")
    return AckCount("waiting", f"{ok} of {policy.min_acks} acknowledgement(s)")


def follow_up(
    status: str,
    acks: Sequence[tuple[str, bool, str | None]],
    policy: SwapPolicy,
    *,
    now: float,
    deadline: float,
) -> AckCount:
    """A pending swap's fate at `now`: still waiting before its deadline; after it, a swap
    not acknowledged enough has failed."""
    count = ack_outcome(status, acks, policy)
    if count.outcome == "waiting" and now >= deadline:
        return AckCount(
            "failed", f"no acknowledgement within {policy.ack_deadline_s:.0f} s ({count.why})"
        )
    return count
