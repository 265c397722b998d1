"""What a real model materialization records for the Dagster UI: its scores as typed
numbers equal to the MLflow run's metrics (rounded for the eye), the walk-forward folds
and the feature importance as typed tables, no JSON blob of metrics."""

from __future__ import annotations

import dagster as dg
import pytest

from tests.trade2026_assets.declarations import default_with
from tests.trade2026_assets.defs.ml.conftest import Trained
from trade2026_assets.defs.ml.metadata import SIGNIFICANT

HEADLINE = ("wf_auc_mean", "wf_auc_se", "wf_accuracy_mean", "test_auc", "test_accuracy")


def test_scores_are_typed_numbers_equal_to_the_runs_metrics(trained: Trained) -> None:
    metadata = trained.latest("model").metadata
    exact = trained.mlflow.get_run(str(metadata["mlflow_run_id"].value)).data.metrics
    for label in HEADLINE:
        entry = metadata[label]
        assert isinstance(entry, dg.FloatMetadataValue), label
        assert entry.value == float(f"{exact[label]:.{SIGNIFICANT}g}"), label
    gain = metadata["wf_accuracy_gain_mean"]
    assert isinstance(gain, dg.FloatMetadataValue)
    assert gain.value == pytest.approx(
        exact["wf_accuracy_mean"] - exact["wf_majority_baseline_mean"], abs=1e-4
    )
    assert isinstance(metadata["wf_accuracy_gain_se"], dg.FloatMetadataValue)
    for label in ("holdout_rows", "wf_folds"):
        entry = metadata[label]
        assert isinstance(entry, dg.IntMetadataValue), label
        assert entry.value == exact[label], label
    # One JSON blob is left: the wall time per phase, rounded where it is measured.
    assert {k for k, v in metadata.items() if isinstance(v, dg.JsonMetadataValue)} == {
        "seconds_by_phase"
    }


def test_folds_and_feature_importance_are_typed_tables(trained: Trained) -> None:
    metadata = trained.latest("model").metadata
    folds = metadata["walk_forward_folds"]
    assert isinstance(folds, dg.TableMetadataValue)
    types = {column.name: column.type for column in folds.schema.columns}
    assert (types["fold"], types["test_start"], types["auc"]) == ("int", "string", "float")
    assert len(folds.records) == metadata["wf_folds"].value
    importance = metadata["feature_importance"]
    assert isinstance(importance, dg.TableMetadataValue)
    assert [c.type for c in importance.schema.columns] == ["string", "float"]
    features = [r.data["feature"] for r in importance.records]
    assert set(features) <= set(default_with()["features"])
    values = [float(r.data["importance"] or 0.0) for r in importance.records]
    assert values == sorted(values, reverse=True)
