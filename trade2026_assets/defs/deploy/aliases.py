"""The MLflow side of a swap: the `champion` alias of the strategy's registered model
follows what is live, and a version that did not go live (lost to the champion, rejected
for another reason) or was rolled back is tagged with what happened and why."""

from __future__ import annotations

from trade2026_assets.defs.deploy.policy import Rejection
from trade2026_assets.strategy.declaration import StrategyDeclaration
from trade2026_assets.tracking import MlflowResource

CHAMPION_ALIAS = "champion"
# A version's fate, one word to filter on in MLflow; `auto_swap` holds the sentence.
OUTCOME_TAG = "deployment"
WENT_LIVE = "went_live"
LOST_TO_CHAMPION = "lost_to_champion"
NEVER_LIVE = "never_live"
ROLLED_BACK = "rolled_back"


def current_champion(mlflow: MlflowResource, declaration: StrategyDeclaration) -> str | None:
    """The version the strategy's `champion` alias names; None before its first one."""
    from mlflow.exceptions import MlflowException

    try:
        version = mlflow.client().get_model_version_by_alias(
            declaration.registered_model, CHAMPION_ALIAS
        )
    except MlflowException as exc:
        if exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            return None
        raise
    return str(version.version)


def crown(mlflow: MlflowResource, declaration: StrategyDeclaration, version: str) -> None:
    client = mlflow.client()
    client.set_registered_model_alias(declaration.registered_model, CHAMPION_ALIAS, version)
    client.set_model_version_tag(declaration.registered_model, version, OUTCOME_TAG, WENT_LIVE)


def _tag(
    mlflow: MlflowResource, declaration: StrategyDeclaration, version: str, outcome: str, why: str
) -> None:
    client = mlflow.client()
    client.set_model_version_tag(declaration.registered_model, version, OUTCOME_TAG, outcome)
    client.set_model_version_tag(declaration.registered_model, version, "auto_swap", why[:5000])


def mark_rolled_back(
    mlflow: MlflowResource, declaration: StrategyDeclaration, version: str, why: str
) -> None:
    _tag(mlflow, declaration, version, ROLLED_BACK, f"rolled back: {why}")


def mark_rejected(
    mlflow: MlflowResource, declaration: StrategyDeclaration, version: str, rejection: Rejection
) -> None:
    """A version the sensor did not swap in: lost to the champion, or never live for the
    rejection's other reasons (a failed gate, stale parity, ...). Neither a rejection that
    names no version nor one of the champion itself tags anything."""
    if not version or current_champion(mlflow, declaration) == version:
        return
    lost = any(reason.startswith("lost to champion") for reason in rejection.reasons)
    why = "not swapped: " + "; ".join(rejection.reasons)
    _tag(mlflow, declaration, version, LOST_TO_CHAMPION if lost else NEVER_LIVE, why)
