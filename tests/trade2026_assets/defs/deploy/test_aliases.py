"""The MLflow side of the sensor's decisions, on a real (SQLite) model registry: a version
that went live, lost to the champion, was rejected otherwise or was rolled back says so in
its tags; the champion itself is never marked as not live."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.trade2026_assets.defs.deploy.test_policy import ALPHA, PARITY, candidate
from trade2026_assets.defs.deploy import aliases
from trade2026_assets.defs.deploy.policy import CheckOutcome, Evidence, Rejection, decide
from trade2026_assets.tracking import MlflowResource


@pytest.fixture
def mlflow(tmp_path: Path) -> MlflowResource:
    resource = MlflowResource(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifact_location=(tmp_path / "artifacts").as_uri(),
    )
    client = resource.client()
    client.create_registered_model(ALPHA.registered_model)
    for _ in range(4):
        client.create_model_version(
            ALPHA.registered_model, source=(tmp_path / "artifacts").as_uri()
        )
    return resource


def _tags(mlflow: MlflowResource, version: str) -> dict[str, str]:
    tags = mlflow.client().get_model_version(ALPHA.registered_model, version).tags
    return dict(tags)


def _rejected(**checks: CheckOutcome) -> Rejection:
    decision = decide(ALPHA, Evidence(candidate=candidate(**checks), parity=PARITY, champion="3"))
    assert isinstance(decision, Rejection)
    return decision


def test_a_version_that_lost_to_the_champion_is_tagged_so(mlflow: MlflowResource) -> None:
    aliases.crown(mlflow, ALPHA, "3")
    lost = _rejected(
        beats_champion=CheckOutcome(
            False, {"outcome": "lost", "champion_version": "3", "auc_gain": -0.01}
        )
    )
    aliases.mark_rejected(mlflow, ALPHA, "4", lost)
    tags = _tags(mlflow, "4")
    assert tags[aliases.OUTCOME_TAG] == aliases.LOST_TO_CHAMPION
    assert tags["auto_swap"].startswith("not swapped: lost to champion version 3")
    assert _tags(mlflow, "3")[aliases.OUTCOME_TAG] == aliases.WENT_LIVE


def test_a_version_rejected_for_a_failed_gate_never_went_live(mlflow: MlflowResource) -> None:
    failed = _rejected(auc_above_chance=CheckOutcome(False, {"wf_auc_lower": 0.49}))
    aliases.mark_rejected(mlflow, ALPHA, "4", failed)
    tags = _tags(mlflow, "4")
    assert tags[aliases.OUTCOME_TAG] == aliases.NEVER_LIVE
    assert "failed auc_above_chance (wf_auc_lower 0.4900)" in tags["auto_swap"]


def test_the_champion_and_a_versionless_candidate_are_not_tagged(
    mlflow: MlflowResource,
) -> None:
    aliases.crown(mlflow, ALPHA, "4")
    already = Rejection("alpha/model version 4", ["it is the champion already"])
    aliases.mark_rejected(mlflow, ALPHA, "4", already)
    assert _tags(mlflow, "4")[aliases.OUTCOME_TAG] == aliases.WENT_LIVE
    aliases.mark_rejected(mlflow, ALPHA, "", already)  # nothing to tag, and no error


def test_a_rolled_back_version_is_tagged_with_why(mlflow: MlflowResource) -> None:
    aliases.crown(mlflow, ALPHA, "2")
    aliases.mark_rolled_back(mlflow, ALPHA, "2", "no acknowledgement within 30 s")
    tags = _tags(mlflow, "2")
    assert tags[aliases.OUTCOME_TAG] == aliases.ROLLED_BACK
    assert tags["auto_swap"] == "rolled back: no acknowledgement within 30 s"
