"""`<strategy>/deployed_strategy`: what the registry has live in the strategy's slot,
recorded by the strategy's auto-swap sensor.

No run computes it: the sensor reports a materialization each time a model goes live (or a
swap is rolled back), so the asset graph carries lineage from the live strategy back to the
bars its model was trained on.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from registry_service.schemas import SwapDetail
from trade2026_assets.strategy.declaration import StrategyDeclaration

# Every strategy's deployed_strategy in one group: what is live, apart from what is trained.
DEPLOYMENT_GROUP = "deployment"


def deployed_strategy_key(declaration: StrategyDeclaration) -> dg.AssetKey:
    return dg.AssetKey(declaration.asset_key_path("deployed_strategy"))


def deployed_strategy_spec(declaration: StrategyDeclaration) -> dg.AssetSpec:
    return dg.AssetSpec(
        deployed_strategy_key(declaration),
        deps=[dg.AssetKey(declaration.asset_key_path("model")), "online_features"],
        group_name=DEPLOYMENT_GROUP,
        kinds={"bentoml"},
        description=f"The {declaration.name} strategy live in the registry's slot "
        f"{declaration.slot!r} and served by BentoML: the swap that put it there, its registry "
        "entity and deployment, the model version and how long serving took to follow. "
        f"Recorded by `{declaration.sensor_name}`.",
    )


def deployed_strategy_event(
    declaration: StrategyDeclaration,
    *,
    status: str,
    description: str,
    environment: str,
    registry_url: str,
    model_uri: str,
    model_version: str,
    entity_id: str,
    entity_version: str,
    swap: SwapDetail | None,
    extra: dict[str, Any],
) -> dg.AssetMaterialization:
    """The strategy's deployed_strategy as the registry now has it."""
    metadata: dict[str, Any] = {
        "status": status,
        "model_uri": model_uri,
        "model_version": model_version,
        "entity_id": entity_id,
        "entity": f"{declaration.entity_name} {entity_version}",
        "environment": environment,
        "slot": declaration.slot,
        **extra,
    }
    if swap is not None:
        metadata.update(_swap_metadata(swap, registry_url))
    return dg.AssetMaterialization(
        asset_key=deployed_strategy_key(declaration), description=description, metadata=metadata
    )


def _swap_metadata(swap: SwapDetail, registry_url: str) -> dict[str, Any]:
    def number(value: float | None) -> Any:
        return value if value is not None else dg.MetadataValue.null()

    return {
        "swap_id": str(swap.swap_id),
        "swap_type": str(swap.swap_type),
        "deployment_id": str(swap.to_deployment_id),
        "from_deployment_id": str(swap.from_deployment_id),
        "swap_duration_ms": swap.duration_ms or 0.0,
        "propagation_ms": number(swap.propagation_ms),
        "downtime_ms": number(swap.downtime_ms),
        "acknowledgements": dg.MetadataValue.json(
            [
                {
                    "consumer": ack.consumer,
                    "success": ack.success,
                    "error": ack.error,
                    "propagation_ms": ack.propagation_ms,
                    "downtime_ms": ack.downtime_ms,
                }
                for ack in swap.acks
            ]
        ),
        "registry_swap": dg.MetadataValue.url(
            f"{registry_url.rstrip('/')}/api/v1/swaps/{swap.swap_id}"
        ),
    }
