"""A registered version's description: its walk-forward and holdout numbers, each gate's
outcome with its evidence, and its training set, written to a real (SQLite) registry."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from trade2026_assets.defs.ml.version_description import (
    MAX_CHARS,
    TrainingSetFacts,
    describe,
    write_description,
)
from trade2026_assets.strategy.declaration import StrategyDeclaration
from trade2026_assets.tracking import MlflowResource

ALPHA = StrategyDeclaration(name="alpha")
METRICS = {
    "wf_folds": 5.0,
    "wf_auc_mean": 0.5612345,
    "wf_auc_se": 0.0041,
    "wf_accuracy_mean": 0.54,
    "wf_majority_baseline_mean": 0.51,
    "wf_sharpe": 1.234,
    "wf_trades": 321.0,
    "test_auc": 0.55,
    "test_accuracy": 0.53,
    "test_log_loss": 0.69,
    "holdout_rows": 800.0,
}
FACTS = TrainingSetFacts(
    training_set="ts_0123abcd",
    indicator_set="ind_9f",
    dagster_run_id="1a2b3c4d-0000-0000-0000-000000000000",
    rows={"train": 5000, "validation": 1000, "test": 800},
)
CHECKS = [
    dg.AssetCheckResult(
        check_name="auc_above_chance",
        passed=True,
        metadata={
            "wf_auc_lower": 0.553,
            "threshold": 0.505,
            "folds_table": dg.MetadataValue.json({}),
        },
    ),
    dg.AssetCheckResult(
        check_name="beats_champion",
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description="lost against champion version 2",
        metadata={"champion_version": "2", "auc_gain": -0.012},
    ),
]


def test_the_description_tells_the_versions_story() -> None:
    text = describe(ALPHA, METRICS, CHECKS, FACTS)
    assert "AUC 0.5612 ± 0.0041 (SE)" in text
    assert "(gain +0.0300)" in text
    assert "**Holdout** (reported only, judged by no gate): AUC 0.5500" in text
    assert "- `auc_above_chance` passed (wf_auc_lower 0.5530, threshold 0.5050)" in text
    assert (
        "- `beats_champion` failed: lost against champion version 2 "
        "(champion_version 2, auc_gain -0.0120)" in text
    )
    assert "folds_table" not in text  # tables stay on the check's page
    assert (
        "`ts_0123abcd` (indicator set `ind_9f`): 5000 train, 1000 validation, 800 holdout" in text
    )
    assert FACTS.dagster_run_id in text


def test_a_long_description_is_cut_to_what_mlflow_stores() -> None:
    many = [
        dg.AssetCheckResult(check_name=f"check_{i}", passed=True, description="x" * 70)
        for i in range(100)
    ]
    text = describe(ALPHA, METRICS, many, FACTS)
    assert len(text) == MAX_CHARS
    assert text.endswith("…")


def test_the_description_is_the_versions_in_the_registry(tmp_path: Path) -> None:
    mlflow = MlflowResource(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifact_location=(tmp_path / "artifacts").as_uri(),
    )
    client = mlflow.client()
    client.create_registered_model(ALPHA.registered_model)
    client.create_model_version(ALPHA.registered_model, source=(tmp_path / "a").as_uri())
    text = describe(ALPHA, METRICS, CHECKS, FACTS)
    write_description(mlflow, ALPHA, "1", text)
    assert client.get_model_version(ALPHA.registered_model, "1").description == text
