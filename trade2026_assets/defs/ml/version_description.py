"""The description of a registered model version, as MLflow's model version page shows it
(Markdown): what the version scored walk-forward and on the holdout, how each gate and
champion comparison came out with its evidence, and the training set it learned from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import dagster as dg

from trade2026_assets.strategy.declaration import StrategyDeclaration
from trade2026_assets.tracking import MlflowResource

# MLflow stores at most this many characters of a description.
MAX_CHARS = 5000


@dataclass(frozen=True)
class TrainingSetFacts:
    """What the version learned from."""

    training_set: str  # the training set's content hash: its data version
    indicator_set: str
    dagster_run_id: str
    rows: Mapping[str, int]  # rows per split: train, validation, test


def _number(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _evidence(check: dg.AssetCheckResult) -> str:
    """The check's scalar evidence (tables and JSON stay on the Dagster check's page)."""
    shown = []
    for key, entry in check.metadata.items():
        value = getattr(entry, "value", entry)
        if isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) < 80):
            shown.append(f"{key} {_number(value)}")
    return ", ".join(shown)


def describe(
    declaration: StrategyDeclaration,
    metrics: Mapping[str, float],
    checks: Sequence[dg.AssetCheckResult],
    facts: TrainingSetFacts,
) -> str:
    """The version's description; `metrics` are the model asset's (wf_* and test_*)."""
    gain = metrics["wf_accuracy_mean"] - metrics["wf_majority_baseline_mean"]
    rows = facts.rows
    lines = [
        f"**{declaration.name}** ({declaration.model.family}), trained by Dagster run "
        f"`{facts.dagster_run_id}`.",
        "",
        f"**Walk-forward** ({int(metrics['wf_folds'])} folds of the train and validation "
        f"rows): AUC {metrics['wf_auc_mean']:.4f} ± {metrics['wf_auc_se']:.4f} (SE), "
        f"accuracy {metrics['wf_accuracy_mean']:.4f} against a majority baseline of "
        f"{metrics['wf_majority_baseline_mean']:.4f} (gain {gain:+.4f}), "
        f"Sharpe {metrics['wf_sharpe']:.2f} over {int(metrics['wf_trades'])} trades.",
        "",
        f"**Holdout** (reported only, judged by no gate): AUC {metrics['test_auc']:.4f}, "
        f"accuracy {metrics['test_accuracy']:.4f}, log loss {metrics['test_log_loss']:.4f} "
        f"over {int(metrics['holdout_rows'])} rows.",
        "",
        "**Gates and champion comparisons**",
        "",
    ]
    for check in checks:
        outcome = "passed" if check.passed else "failed"
        why = f": {check.description}" if check.description else ""
        evidence = _evidence(check)
        lines.append(
            f"- `{check.check_name}` {outcome}{why}" + (f" ({evidence})" if evidence else "")
        )
    lines += [
        "",
        f"**Training set** `{facts.training_set}` (indicator set `{facts.indicator_set}`): "
        f"{rows.get('train', 0)} train, {rows.get('validation', 0)} validation, "
        f"{rows.get('test', 0)} holdout rows.",
    ]
    text = "\n".join(lines)
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def write_description(
    mlflow: MlflowResource, declaration: StrategyDeclaration, version: str, text: str
) -> None:
    mlflow.client().update_model_version(declaration.registered_model, version, description=text)
