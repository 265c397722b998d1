"""Data access: keyword-only functions over a session. Callers own the transaction."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry_service import auth
from registry_service.config_schema import check_config
from registry_service.errors import ConflictError, NotFoundError
from registry_service.lifecycle import (
    DeploymentStatus,
    EntityStatus,
    Environment,
    manual_transition_error,
    status_from_deployments,
)
from registry_service.models import (
    ApiKey,
    Base,
    Deployment,
    Entity,
    OutboxEvent,
    SlotActivation,
    utcnow,
)
from registry_service.schemas import (
    DeploymentCreate,
    DeploymentPublic,
    EntityCreate,
    EntityPublic,
    EntityUpdate,
)

Row = TypeVar("Row", bound=Base)

# Advisory lock held from an event's insert to commit on PostgreSQL, so outbox sequence
# numbers become visible in order and a cursor reader never skips a late commit.
_PG_OUTBOX_LOCK = 835_000_002


# Events -----------------------------------------------------------------------------------


def record_event(
    session: Session, *, kind: str, action: str, subject_id: uuid.UUID, payload: dict[str, Any]
) -> OutboxEvent:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_OUTBOX_LOCK})
    event = OutboxEvent(
        event_id=uuid.uuid4(), kind=kind, action=action, subject_id=subject_id, payload=payload
    )
    session.add(event)
    session.flush()
    return event


def list_events(
    session: Session, *, after: int, limit: int, kind: str | None = None
) -> Sequence[OutboxEvent]:
    query = select(OutboxEvent).where(OutboxEvent.seq > after)
    if kind is not None:
        query = query.where(OutboxEvent.kind == kind)
    return session.scalars(query.order_by(OutboxEvent.seq).limit(limit)).all()


def list_unpublished_events(session: Session, *, limit: int) -> Sequence[OutboxEvent]:
    query = select(OutboxEvent).where(OutboxEvent.published_at.is_(None))
    return session.scalars(query.order_by(OutboxEvent.seq).limit(limit)).all()


def mark_events_published(session: Session, *, event_ids: Sequence[uuid.UUID]) -> int:
    result = session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.event_id.in_(event_ids), OutboxEvent.published_at.is_(None))
        .values(published_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def count_unpublished_events(session: Session) -> int:
    query = select(func.count()).select_from(OutboxEvent)
    return int(session.scalar(query.where(OutboxEvent.published_at.is_(None))) or 0)


def oldest_unpublished_at(session: Session) -> datetime | None:
    query = select(OutboxEvent.occurred_at).where(OutboxEvent.published_at.is_(None))
    return session.scalar(query.order_by(OutboxEvent.seq).limit(1))


# Entities ---------------------------------------------------------------------------------


def entity_payload(entity: Entity) -> dict[str, Any]:
    return EntityPublic.model_validate(entity).model_dump(mode="json")


def deployment_payload(deployment: Deployment) -> dict[str, Any]:
    return DeploymentPublic.model_validate(deployment).model_dump(mode="json")


def create_entity(session: Session, *, data: EntityCreate) -> Entity:
    duplicate = f"entity '{data.name}' version {data.version} already exists"
    existing = session.scalar(
        select(Entity.entity_id).where(Entity.name == data.name, Entity.version == data.version)
    )
    if existing is not None:
        raise ConflictError(duplicate, details={"entity_id": str(existing)})
    check_config(data.config_schema, data.config)
    now = utcnow()
    entity = Entity(
        entity_id=uuid.uuid4(),
        name=data.name,
        type=data.type.value,
        version=data.version,
        description=data.description,
        config=data.config,
        config_schema=data.config_schema,
        status=EntityStatus.REGISTERED.value,
        created_at=now,
        updated_at=now,
    )
    session.add(entity)
    _flush_or_conflict(session, duplicate)
    record_event(
        session,
        kind="entity",
        action="created",
        subject_id=entity.entity_id,
        payload=entity_payload(entity),
    )
    return entity


def get_entity(session: Session, *, entity_id: uuid.UUID, lock: bool = False) -> Entity:
    query = select(Entity).where(Entity.entity_id == entity_id)
    entity = session.scalar(query.with_for_update() if lock else query)
    if entity is None:
        raise NotFoundError(f"entity {entity_id} not found")
    return entity


def list_entities(
    session: Session,
    *,
    type: str | None = None,
    status: str | None = None,
    name: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[Entity], int]:
    query = select(Entity, func.count().over().label("total"))
    if type is not None:
        query = query.where(Entity.type == type)
    if status is not None:
        query = query.where(Entity.status == status)
    if name is not None:
        query = query.where(Entity.name == name)
    query = query.order_by(Entity.created_at.desc(), Entity.entity_id)
    return paginate(session, query, limit=limit, offset=offset)


def update_entity(
    session: Session, *, entity_id: uuid.UUID, data: EntityUpdate, actor: str
) -> Entity:
    entity = get_entity(session, entity_id=entity_id, lock=True)
    if entity.status == EntityStatus.RETIRED:
        raise ConflictError(f"entity {entity_id} is retired; retired entities are read-only")
    changes = data.model_dump(exclude_unset=True)
    if "config" in changes:
        check_config(entity.config_schema, changes["config"])
    target = changes.pop("status", None)
    if target is not None and target == EntityStatus.RETIRED:
        return retire_entity(session, entity_id=entity_id, actor=actor, reason=None)
    if target is not None:
        reason = manual_transition_error(EntityStatus(entity.status), EntityStatus(target))
        if reason is not None:
            raise ConflictError(reason)
        entity.status = EntityStatus(target).value
    for field, value in changes.items():
        setattr(entity, field, value)
    entity.updated_at = utcnow()
    session.flush()
    record_event(
        session,
        kind="entity",
        action="updated",
        subject_id=entity.entity_id,
        payload={**entity_payload(entity), "changed": sorted(data.model_fields_set)},
    )
    return entity


def retire_entity(
    session: Session, *, entity_id: uuid.UUID, actor: str, reason: str | None
) -> Entity:
    entity = get_entity(session, entity_id=entity_id, lock=True)
    transition = manual_transition_error(EntityStatus(entity.status), EntityStatus.RETIRED)
    if entity.status == EntityStatus.RETIRED or transition is not None:
        raise ConflictError(transition or f"entity {entity_id} is already retired")
    live = _active_deployments(session, entity_id=entity_id)
    if live:
        where = ", ".join(f"{d.environment}/{d.slot} ({d.deployment_id})" for d in live)
        raise ConflictError(
            f"entity {entity_id} still has active deployments: {where}; deactivate or swap first",
            details={"active_deployments": [str(d.deployment_id) for d in live]},
        )
    entity.status = EntityStatus.RETIRED.value
    entity.updated_at = utcnow()
    session.flush()
    record_event(
        session,
        kind="entity",
        action="retired",
        subject_id=entity.entity_id,
        payload={**entity_payload(entity), "retired_by": actor, "reason": reason},
    )
    return entity


def _active_deployments(session: Session, *, entity_id: uuid.UUID) -> Sequence[Deployment]:
    return session.scalars(
        select(Deployment).where(
            Deployment.entity_id == entity_id, Deployment.status == DeploymentStatus.ACTIVE
        )
    ).all()


def sync_entity_status(session: Session, *, entity: Entity) -> None:
    """Move a deployment-driven status after the entity's deployments changed."""
    environments = {
        Environment(d.environment) for d in _active_deployments(session, entity_id=entity.entity_id)
    }
    new_status = status_from_deployments(EntityStatus(entity.status), environments)
    if new_status == entity.status:
        return
    previous = entity.status
    entity.status = new_status.value
    entity.updated_at = utcnow()
    session.flush()
    record_event(
        session,
        kind="entity",
        action="status_changed",
        subject_id=entity.entity_id,
        payload={**entity_payload(entity), "previous_status": previous},
    )


# Slots ------------------------------------------------------------------------------------


def lock_slot(session: Session, *, environment: str, slot: str) -> None:
    """Serialise every change to one (environment, slot) on PostgreSQL until commit.

    SQLite needs nothing: its write transactions are IMMEDIATE, so already serial.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:slot_key, 0))"),
            {"slot_key": f"{environment}/{slot}"},
        )


def live_deployment(
    session: Session, *, environment: str, slot: str, lock: bool = False
) -> Deployment | None:
    query = select(Deployment).where(
        Deployment.environment == environment,
        Deployment.slot == slot,
        Deployment.status == DeploymentStatus.ACTIVE,
    )
    return session.scalar(query.with_for_update() if lock else query)


def open_activation(
    session: Session, *, deployment: Deployment, at: datetime, swap_id: uuid.UUID | None
) -> None:
    session.add(
        SlotActivation(
            activation_id=uuid.uuid4(),
            environment=deployment.environment,
            slot=deployment.slot,
            deployment_id=deployment.deployment_id,
            entity_id=deployment.entity_id,
            activated_at=at,
            activated_by_swap_id=swap_id,
        )
    )


def close_activation(
    session: Session, *, deployment: Deployment, at: datetime, swap_id: uuid.UUID | None
) -> None:
    session.execute(
        update(SlotActivation)
        .where(
            SlotActivation.deployment_id == deployment.deployment_id,
            SlotActivation.deactivated_at.is_(None),
        )
        .values(deactivated_at=at, deactivated_by_swap_id=swap_id)
    )


def live_at(
    session: Session, *, environment: str, slot: str, at: datetime
) -> tuple[SlotActivation, Deployment] | None:
    """What was live in the slot at instant `at`, from the activation history."""
    row = session.execute(
        select(SlotActivation, Deployment)
        .join(Deployment, Deployment.deployment_id == SlotActivation.deployment_id)
        .where(
            SlotActivation.environment == environment,
            SlotActivation.slot == slot,
            SlotActivation.activated_at <= at,
            (SlotActivation.deactivated_at.is_(None)) | (SlotActivation.deactivated_at > at),
        )
        .order_by(SlotActivation.activated_at.desc())
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1])


# Deployments ------------------------------------------------------------------------------


def create_deployment(session: Session, *, data: DeploymentCreate) -> Deployment:
    slot = data.slot or get_entity(session, entity_id=data.entity_id).name
    lock_slot(session, environment=data.environment, slot=slot)
    entity = get_entity(session, entity_id=data.entity_id, lock=True)
    if entity.status == EntityStatus.RETIRED:
        raise ConflictError(f"entity {entity.entity_id} is retired and cannot be deployed")
    live = live_deployment(session, environment=data.environment, slot=slot)
    occupied = f"slot '{slot}' in {data.environment} already has an active deployment"
    if live is not None:
        raise ConflictError(
            f"{occupied} {live.deployment_id} ({live.entity_name} {live.version}); "
            "deactivate it or swap",
            details={"active_deployment_id": str(live.deployment_id)},
        )
    now = utcnow()
    deployment = Deployment(
        deployment_id=uuid.uuid4(),
        entity_id=entity.entity_id,
        entity_name=entity.name,
        version=entity.version,
        environment=data.environment.value,
        slot=slot,
        status=DeploymentStatus.ACTIVE.value,
        config_snapshot=copy.deepcopy(entity.config),
        deployed_by=data.deployed_by,
        deployed_at=now,
        updated_at=now,
    )
    session.add(deployment)
    # A concurrent deploy to the same slot loses here, on the partial unique index.
    _flush_or_conflict(session, occupied)
    open_activation(session, deployment=deployment, at=now, swap_id=None)
    record_event(
        session,
        kind="deployment",
        action="created",
        subject_id=deployment.deployment_id,
        payload=deployment_payload(deployment),
    )
    sync_entity_status(session, entity=entity)
    return deployment


def get_deployment(session: Session, *, deployment_id: uuid.UUID, lock: bool = False) -> Deployment:
    query = select(Deployment).where(Deployment.deployment_id == deployment_id)
    deployment = session.scalar(query.with_for_update() if lock else query)
    if deployment is None:
        raise NotFoundError(f"deployment {deployment_id} not found")
    return deployment


def list_deployments(
    session: Session,
    *,
    status: str | None = None,
    environment: str | None = None,
    entity_id: uuid.UUID | None = None,
    slot: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[Deployment], int]:
    query = select(Deployment, func.count().over().label("total"))
    if status is not None:
        query = query.where(Deployment.status == status)
    if environment is not None:
        query = query.where(Deployment.environment == environment)
    if entity_id is not None:
        query = query.where(Deployment.entity_id == entity_id)
    if slot is not None:
        query = query.where(Deployment.slot == slot)
    query = query.order_by(Deployment.deployed_at.desc(), Deployment.deployment_id)
    return paginate(session, query, limit=limit, offset=offset)


def deactivate_deployment(
    session: Session, *, deployment_id: uuid.UUID, actor: str, reason: str | None
) -> Deployment:
    unlocked = get_deployment(session, deployment_id=deployment_id)
    lock_slot(session, environment=unlocked.environment, slot=unlocked.slot)
    deployment = get_deployment(session, deployment_id=deployment_id, lock=True)
    if deployment.status != DeploymentStatus.ACTIVE:
        raise ConflictError(
            f"deployment {deployment_id} is already inactive (since {deployment.deactivated_at})"
        )
    entity = get_entity(session, entity_id=deployment.entity_id, lock=True)
    now = utcnow()
    deployment.status = DeploymentStatus.INACTIVE.value
    deployment.deactivated_at = now
    deployment.deactivated_by = actor
    deployment.updated_at = now
    close_activation(session, deployment=deployment, at=now, swap_id=None)
    session.flush()
    record_event(
        session,
        kind="deployment",
        action="deactivated",
        subject_id=deployment.deployment_id,
        payload={**deployment_payload(deployment), "reason": reason},
    )
    sync_entity_status(session, entity=entity)
    return deployment


# API keys ---------------------------------------------------------------------------------


def create_api_key(
    session: Session, *, name: str, scopes: frozenset[auth.Scope]
) -> tuple[ApiKey, str]:
    """Store a new key (hashed) and return it with the only copy of its plaintext."""
    plaintext, prefix = auth.new_key()
    key = ApiKey(
        key_id=uuid.uuid4(),
        name=name,
        prefix=prefix,
        key_hash=auth.hash_key(plaintext),
        scopes=auth.format_scopes(scopes),
        created_at=utcnow(),
    )
    session.add(key)
    session.flush()
    return key, plaintext


def find_api_key(session: Session, *, plaintext: str) -> ApiKey | None:
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == auth.hash_key(plaintext)))
    if key is None or key.revoked_at is not None:
        return None
    return key


# Helpers ----------------------------------------------------------------------------------


def paginate(
    session: Session, query: Select[Row, int], *, limit: int, offset: int
) -> tuple[list[Row], int]:
    """One page plus the total, in one statement (`count(*) OVER ()`), so one snapshot."""
    rows = session.execute(query.limit(limit).offset(offset)).all()
    if rows:
        return [row[0] for row in rows], int(rows[0][1])
    if offset == 0:
        return [], 0
    # Past the end: the window saw no rows, so count separately.
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    return [], int(total or 0)


def _flush_or_conflict(session: Session, message: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        raise ConflictError(message) from exc
