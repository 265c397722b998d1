"""The registry side of a swap, per strategy: the entity version naming the model, staged
first; then the swap into the environment (or a first deployment when nothing is live);
later, the swap looked up again and, if serving did not take it, rolled back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import (
    BaseModel,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from registry_service.client import RegistryClient, RegistryClientError
from registry_service.schemas import (
    DeploymentPublic,
    EntityPublic,
    LiveSlot,
    SwapDetail,
    SwapPublic,
)
from trade2026_assets.defs.deploy.policy import Candidate, idempotency_key, strategy_version
from trade2026_assets.strategy.declaration import StrategyDeclaration, deployment_config_schema

ACTOR = "dagster:auto_swap_sensor"


class AutoSwapError(Exception):
    """The registry or the cursor holds something the sensor cannot reconcile; the tick
    fails with it."""


class Pending(BaseModel):
    """A requested swap waiting for serving, kept in the sensor's cursor between ticks."""

    swap_id: str
    model_version: str
    model_uri: str
    entity_id: str
    entity_version: str
    from_entity_id: str
    committed_at: float
    deadline: float
    reason: str


class CursorState(BaseModel):
    """The sensor's cursor. The sensor page's tick list shows each tick's cursor, flattened to
    `key=value` pairs when it is a JSON object naming a `__class__` (as Dagster's own cursors
    do): so `outcome` comes first and says in a few words what the tick did, and `pending` is
    kept as one JSON string (an object would read `[object Object]` there)."""

    outcome: str = ""
    pending: Pending | None = None
    after: int = 0  # storage id of the last model materialization judged

    @model_validator(mode="before")
    @classmethod
    def _from_cursor(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {key: value for key, value in data.items() if key != "__class__"}
            if isinstance(data.get("pending"), str):
                data["pending"] = json.loads(data["pending"])
        return data

    @model_serializer(mode="wrap")
    def _to_cursor(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        fields: dict[str, Any] = handler(self)
        pending = fields.get("pending")
        return {
            "__class__": "AutoSwapCursor",
            **fields,
            "pending": None if pending is None else json.dumps(pending),
        }

    @classmethod
    def parse(cls, cursor: str | None, *, sensor_name: str) -> CursorState:
        if not cursor:
            return cls()
        try:
            return cls.model_validate_json(cursor)
        except ValidationError as exc:
            raise AutoSwapError(
                f"unreadable cursor {cursor!r}: reset it with `dagster sensor cursor "
                f"{sensor_name} --delete` ({exc.error_count()} errors)"
            ) from exc


def ensure_entity(
    client: RegistryClient, declaration: StrategyDeclaration, candidate: Candidate
) -> EntityPublic:
    """The strategy entity version naming the candidate's model, created once."""
    version = strategy_version(candidate.model_version)
    config = {
        **declaration.entity_config(candidate.model_version),
        "model_version": candidate.model_version,
        "dagster_run_id": candidate.run_id,
    }
    try:
        return client.create_entity(
            name=declaration.entity_name,
            type="strategy",
            version=version,
            config=config,
            # The registry checks the config against it; it stays generic.
            config_schema=deployment_config_schema(),
            description=f"{declaration.name}/model version {candidate.model_version}, "
            "registered by the auto-swap sensor",
        )
    except RegistryClientError as exc:
        existing_id = (exc.body or {}).get("details", {}).get("entity_id")
        if exc.status_code != 409 or not existing_id:
            raise
    entity = client.get_entity(existing_id)
    if entity.config.get("model_uri") != candidate.model_uri:
        raise AutoSwapError(
            f"registry entity {declaration.entity_name} {version} already exists for "
            f"{entity.config.get('model_uri')}, not {candidate.model_uri}: the MLflow registry "
            "and the strategy registry disagree (was one of them reset?)"
        )
    return entity


def stage(client: RegistryClient, declaration: StrategyDeclaration, entity: EntityPublic) -> None:
    """Deploy the entity to staging, replacing what staging ran in the strategy's slot."""
    active = client.list_deployments(environment="staging", slot=declaration.slot, status="active")
    for old in active.items:
        if str(old.entity_id) == str(entity.entity_id):
            return
        client.deactivate(str(old.deployment_id), reason=f"replaced by {entity.version}")
    client.deploy(
        entity_id=str(entity.entity_id),
        environment="staging",
        deployed_by=ACTOR,
        slot=declaration.slot,
    )


def live_slot(
    client: RegistryClient, declaration: StrategyDeclaration, environment: str
) -> LiveSlot:
    return client.live(environment=environment, slot=declaration.slot)


def pending_of(
    swap: SwapPublic,
    *,
    candidate: Candidate,
    entity: EntityPublic | DeploymentPublic,
    deadline_s: float,
) -> Pending:
    """The cursor's record of a swap to follow up."""
    committed = (swap.committed_at or datetime.now(UTC)).timestamp()
    return Pending(
        swap_id=str(swap.swap_id),
        model_version=candidate.model_version,
        model_uri=candidate.model_uri,
        entity_id=str(entity.entity_id),
        entity_version=entity.version,
        from_entity_id=str(swap.from_entity_id),
        committed_at=committed,
        deadline=committed + deadline_s,
        reason=swap.reason,
    )


def deploy_first(
    client: RegistryClient,
    declaration: StrategyDeclaration,
    entity: EntityPublic,
    environment: str,
) -> DeploymentPublic:
    """Nothing is live in the slot: deploy there directly (there is nothing to swap from)."""
    return client.deploy(
        entity_id=str(entity.entity_id),
        environment=environment,
        deployed_by=ACTOR,
        slot=declaration.slot,
    )


def request_swap(
    client: RegistryClient,
    declaration: StrategyDeclaration,
    *,
    live: DeploymentPublic,
    entity: EntityPublic,
    candidate: Candidate,
    reason: str,
    environment: str,
) -> SwapPublic:
    """An automatic swap from what is live to the entity; one per slot and model version."""
    return client.swap(
        from_entity_id=str(live.entity_id),
        to_entity_id=str(entity.entity_id),
        reason=reason,
        initiated_by=ACTOR,
        swap_type="automatic",
        environment=environment,
        idempotency_key=idempotency_key(declaration.slot, candidate.model_version),
    )


def acks_of(swap: SwapDetail) -> list[tuple[str, bool, str | None]]:
    return [(ack.consumer, ack.success, ack.error) for ack in swap.acks]


def roll_back(client: RegistryClient, swap: SwapDetail, pending: Pending, why: str) -> str:
    """Put the previous strategy back; what happened, for the record."""
    if swap.status != "completed":
        return f"already {swap.status} in the registry"
    undo = client.rollback(
        pending.swap_id,
        reason=f"automatic rollback of model version {pending.model_version}: {why}",
        initiated_by=ACTOR,
    )
    return f"rolled back by swap {undo.swap_id}"
