"""The MLflow side of a swap: the `champion` alias of the strategy's registered model
follows what is live, and a version that was rolled back is tagged with why."""

from __future__ import annotations

from trade2026_assets.strategy.declaration import StrategyDeclaration
from trade2026_assets.tracking import MlflowResource

CHAMPION_ALIAS = "champion"


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
    mlflow.client().set_registered_model_alias(
        declaration.registered_model, CHAMPION_ALIAS, version
    )


def mark_rolled_back(
    mlflow: MlflowResource, declaration: StrategyDeclaration, version: str, why: str
) -> None:
    mlflow.client().set_model_version_tag(
        declaration.registered_model, version, "auto_swap", f"rolled back: {why}"[:5000]
    )
