"""The hot-swap engine: validate, then switch a slot's live deployment in one transaction.

A swap replaces the live deployment of one (environment, slot) with a deployment of another
entity. Everything — the old deployment going inactive, the target going active (reused if
it was live in the slot before, else created from its config snapshot), entity statuses,
the activation history, the swap row and its outbox event — commits together or not at all.
PostgreSQL serialises swaps on a slot with an advisory lock and row locks (`FOR UPDATE`);
SQLite's write transactions are IMMEDIATE, so already serial.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry_service import crud
from registry_service.db import Database
from registry_service.errors import (
    ConflictError,
    IdempotencyKeyReusedError,
    NotFoundError,
    RegistryError,
)
from registry_service.lifecycle import (
    DeploymentStatus,
    EntityStatus,
    Environment,
    SwapStatus,
    SwapType,
)
from registry_service.models import Deployment, Entity, Swap, SwapAck, utcnow
from registry_service.schemas import (
    RollbackRequest,
    SwapAckCreate,
    SwapCreate,
    SwapError,
    SwapPublic,
    SwapValidation,
    rendered_or_refused,
)

# Failures caused by the slot's live state: a concurrent swap can produce them, so they
# answer 409 (retry after re-reading the slot). Every other failure is the request's: 400.
CONFLICT_CODES = frozenset({"from_not_live", "to_already_live", "slot_changed", "not_completed"})

# Statuses an entity may have to go live in production: it was validated or deployed.
PRODUCTION_READY = frozenset(
    {EntityStatus.VALIDATED, EntityStatus.DEPLOYED, EntityStatus.ACTIVE, EntityStatus.INACTIVE}
)


class SwapRejected(RegistryError):
    """Validation failed; carries every failure and the recorded failed swap."""

    def __init__(self, errors: list[SwapError], swap: Swap | None) -> None:
        conflict = all(e.code in CONFLICT_CODES for e in errors)
        self.status_code = 409 if conflict else 400
        self.code = "swap_conflict" if conflict else "swap_invalid"
        super().__init__(
            "swap rejected: " + "; ".join(e.message for e in errors),
            details={
                "errors": [e.model_dump() for e in errors],
                "swap_id": str(swap.swap_id) if swap else None,
            },
        )
        self.errors = errors
        self.swap = swap


@dataclass
class SwapOutcome:
    swap: Swap
    replayed: bool = False


class _Replay(Exception):
    """Raised inside a unit of work that found the idempotency key already answered."""

    def __init__(self, swap: Swap) -> None:
        self.swap = swap


@dataclass
class Plan:
    environment: str
    slot: str | None
    from_entity: Entity | None
    to_entity: Entity | None
    live: Deployment | None
    target: Deployment | None
    snapshot: dict[str, Any]
    errors: list[SwapError] = field(default_factory=list)

    def fail(self, code: str, message: str) -> None:
        self.errors.append(SwapError(code=code, message=message))


# Planning ---------------------------------------------------------------------------------


def _resolve_slot(session: Session, request: SwapCreate) -> tuple[str | None, list[str]]:
    """The slot to swap in: the requested one, or the one where `from` is live."""
    if request.slot is not None:
        return request.slot, []
    slots = session.scalars(
        select(Deployment.slot).where(
            Deployment.entity_id == request.from_entity_id,
            Deployment.environment == request.environment,
            Deployment.status == DeploymentStatus.ACTIVE,
        )
    ).all()
    return (slots[0], []) if len(slots) == 1 else (None, sorted(slots))


def _lock_entities(
    session: Session, ids: Sequence[uuid.UUID], lock: bool
) -> dict[uuid.UUID, Entity]:
    # Sorted, so two transactions locking the same pair never wait on each other in a cycle.
    query = select(Entity).where(Entity.entity_id.in_(ids)).order_by(Entity.entity_id)
    entities = session.scalars(query.with_for_update() if lock else query).all()
    return {e.entity_id: e for e in entities}


def plan_swap(session: Session, *, request: SwapCreate, lock: bool) -> Plan:
    """Check every rule and work out what would change. Locks the slot when `lock`."""
    environment = request.environment.value
    slot, live_slots = _resolve_slot(session, request)
    if lock and slot is not None:
        crud.lock_slot(session, environment=environment, slot=slot)
    entities = _lock_entities(session, [request.from_entity_id, request.to_entity_id], lock)
    source, target_entity = (
        entities.get(request.from_entity_id),
        entities.get(request.to_entity_id),
    )
    live = (
        crud.live_deployment(session, environment=environment, slot=slot, lock=lock)
        if slot is not None
        else None
    )
    plan = Plan(environment, slot, source, target_entity, live, None, {})

    if source is None:
        plan.fail("from_not_found", f"from entity {request.from_entity_id} does not exist")
    if target_entity is None:
        plan.fail("to_not_found", f"to entity {request.to_entity_id} does not exist")
    if request.from_entity_id == request.to_entity_id:
        plan.fail("same_entity", "from and to are the same entity")
    for role, entity in (("from", source), ("to", target_entity)):
        if entity is not None and entity.status == EntityStatus.RETIRED:
            plan.fail(f"{role}_retired", f"{role} entity {entity.name} {entity.version} is retired")
    if source is not None and target_entity is not None and source.type != target_entity.type:
        plan.fail(
            "type_mismatch",
            f"type mismatch: from is a {source.type}, to is a {target_entity.type}",
        )
    if slot is None and live_slots:
        plan.fail(
            "slot_ambiguous",
            f"from is live in several {environment} slots ({', '.join(live_slots)}); name one",
        )
    elif live is None or (source is not None and live.entity_id != source.entity_id):
        where = f"{environment}/{slot}" if slot else environment
        now_live = f"; {live.entity_name} {live.version} is live there" if live else ""
        plan.fail("from_not_live", f"from entity is not live in {where}{now_live}")
    if target_entity is not None:
        if live is not None and live.entity_id == target_entity.entity_id:
            plan.fail("to_already_live", f"to entity is already live in {environment}/{slot}")
        if (
            environment == Environment.PRODUCTION
            and target_entity.status != EntityStatus.RETIRED
            and EntityStatus(target_entity.status) not in PRODUCTION_READY
        ):
            plan.fail(
                "to_not_deployable",
                f"to entity is '{target_entity.status}'; production takes entities that "
                "were validated or deployed (e.g. to staging) first",
            )
        plan.target, plan.snapshot = _target_for(session, plan, target_entity)
    return plan


def _target_for(
    session: Session, plan: Plan, entity: Entity
) -> tuple[Deployment | None, dict[str, Any]]:
    """The target's deployment in the slot to reactivate, else the snapshot to create one from.

    A target that was live in this slot before gets the same deployment back (same snapshot).
    Otherwise the new deployment takes the snapshot of the target's latest deployment
    anywhere (what staging ran), or the entity's config if it was never deployed.
    """
    latest = session.scalars(
        select(Deployment)
        .where(Deployment.entity_id == entity.entity_id)
        .order_by(Deployment.deployed_at.desc())
    ).all()
    for deployment in latest:
        in_slot = deployment.environment == plan.environment and deployment.slot == plan.slot
        if in_slot and deployment.status == DeploymentStatus.INACTIVE:
            return deployment, dict(deployment.config_snapshot)
    if latest:
        return None, dict(latest[0].config_snapshot)
    return None, dict(entity.config)


# Execution --------------------------------------------------------------------------------


def switch(
    session: Session,
    *,
    live: Deployment,
    entity: Entity,
    target: Deployment | None,
    snapshot: dict[str, Any],
    swap_id: uuid.UUID,
    actor: str,
    now: datetime,
) -> Deployment:
    """Make `target` (or a new deployment of `entity`) the slot's live deployment."""
    environment, slot = live.environment, live.slot
    live.status = DeploymentStatus.INACTIVE.value
    live.deactivated_at = now
    live.deactivated_by = actor
    live.updated_at = now
    crud.close_activation(session, deployment=live, at=now, swap_id=swap_id)
    session.flush()  # the old row leaves the partial unique index before the new one enters
    if target is None:
        target = Deployment(
            deployment_id=uuid.uuid4(),
            entity_id=entity.entity_id,
            entity_name=entity.name,
            version=entity.version,
            environment=environment,
            slot=slot,
            status=DeploymentStatus.ACTIVE.value,
            config_snapshot=snapshot,
            deployed_by=actor,
            deployed_at=now,
            updated_at=now,
        )
        session.add(target)
        action = "created"
    else:
        target.status = DeploymentStatus.ACTIVE.value
        target.deactivated_at = None
        target.deactivated_by = None
        target.updated_at = now
        action = "reactivated"
    session.flush()
    crud.open_activation(session, deployment=target, at=now, swap_id=swap_id)
    for deployment, what in ((live, "deactivated"), (target, action)):
        crud.record_event(
            session,
            kind="deployment",
            action=what,
            subject_id=deployment.deployment_id,
            payload={**crud.deployment_payload(deployment), "swap_id": str(swap_id)},
        )
    for entity_id in {live.entity_id, target.entity_id}:
        crud.sync_entity_status(session, entity=crud.get_entity(session, entity_id=entity_id))
    return target


def _fingerprint(model: SwapCreate | RollbackRequest, extra: str = "") -> str:
    exclude = {"validate_only"} if isinstance(model, SwapCreate) else None
    canonical = model.model_dump_json(exclude=exclude)
    return hashlib.sha256((canonical + extra).encode()).hexdigest()


def _replay(session: Session, *, key: str | None, fingerprint: str) -> Swap | None:
    if key is None:
        return None
    swap = session.scalar(select(Swap).where(Swap.idempotency_key == key))
    if swap is not None and swap.request_fingerprint != fingerprint:
        raise IdempotencyKeyReusedError(
            f"Idempotency-Key '{key}' was already used for a different request",
            details={"swap_id": str(swap.swap_id)},
        )
    return swap


def _finish(session: Session, swap: Swap, action: str, **extra: Any) -> None:
    """Stamp the commit time (the transaction's last write) and queue the event."""
    swap.committed_at = utcnow()
    swap.duration_ms = round((swap.committed_at - swap.started_at).total_seconds() * 1000, 3)
    session.add(swap)
    session.flush()
    crud.record_event(
        session,
        kind="swap",
        action=action,
        subject_id=swap.swap_id,
        payload={**SwapPublic.model_validate(swap).model_dump(mode="json"), **extra},
    )


def _outcome_for_existing(swap: Swap) -> SwapOutcome:
    if swap.status == SwapStatus.FAILED:
        raise SwapRejected([SwapError.model_validate(e) for e in swap.errors], swap)
    return SwapOutcome(swap, replayed=True)


def _with_idempotency(
    database: Database, key: str | None, fingerprint: str, work: Callable[[Session], Swap]
) -> SwapOutcome:
    try:
        with database.write_session() as session:
            existing = _replay(session, key=key, fingerprint=fingerprint)
            if existing is not None:
                return _outcome_for_existing(existing)
            swap = work(session)
            rendered_or_refused(SwapPublic.model_validate(swap))
            session.commit()
    except _Replay as replay:
        return _outcome_for_existing(replay.swap)
    except IntegrityError:
        # Another request with the same key committed first: answer with its swap.
        if key is None:
            raise
        with database.read_session() as session:
            existing = _replay(session, key=key, fingerprint=fingerprint)
        if existing is None:
            raise
        return _outcome_for_existing(existing)
    if swap.status == SwapStatus.FAILED:
        raise SwapRejected([SwapError.model_validate(e) for e in swap.errors], swap)
    return SwapOutcome(swap)


def validate_swap(database: Database, *, request: SwapCreate) -> SwapValidation:
    """Dry run: every failure, and the plan; nothing is written."""
    with database.read_session() as session:
        plan = plan_swap(session, request=request, lock=False)
        return SwapValidation(
            valid=not plan.errors,
            errors=plan.errors,
            environment=request.environment,
            slot=plan.slot,
            from_deployment_id=plan.live.deployment_id if plan.live else None,
            to_deployment_id=plan.target.deployment_id if plan.target else None,
        )


def request_swap(
    database: Database,
    *,
    request: SwapCreate,
    idempotency_key: str | None,
    started_at: datetime,
) -> SwapOutcome:
    """Execute a swap (or record why it failed). Raises SwapRejected on failure."""
    fingerprint = _fingerprint(request)

    def work(session: Session) -> Swap:
        plan = plan_swap(session, request=request, lock=True)
        # Re-check the key under the slot lock: a twin request may have committed meanwhile.
        existing = _replay(session, key=idempotency_key, fingerprint=fingerprint)
        if existing is not None:
            raise _Replay(existing)
        swap = Swap(
            swap_id=uuid.uuid4(),
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint,
            swap_type=request.swap_type.value,
            environment=plan.environment,
            slot=plan.slot,
            from_entity_id=request.from_entity_id,
            to_entity_id=request.to_entity_id,
            from_deployment_id=plan.live.deployment_id if plan.live else None,
            reason=request.reason,
            initiated_by=request.initiated_by,
            started_at=started_at,
            errors=[e.model_dump() for e in plan.errors],
        )
        if plan.errors:
            swap.status = SwapStatus.FAILED.value
            _finish(session, swap, "failed")
            return swap
        if plan.live is None or plan.to_entity is None:  # excluded by plan.errors above
            raise RuntimeError("swap plan without a live deployment or target passed validation")
        target = switch(
            session,
            live=plan.live,
            entity=plan.to_entity,
            target=plan.target,
            snapshot=plan.snapshot,
            swap_id=swap.swap_id,
            actor=request.initiated_by,
            now=utcnow(),
        )
        swap.to_deployment_id = target.deployment_id
        swap.status = SwapStatus.COMPLETED.value
        _finish(session, swap, "completed")
        return swap

    return _with_idempotency(database, idempotency_key, fingerprint, work)


def request_rollback(
    database: Database,
    *,
    swap_id: uuid.UUID,
    request: RollbackRequest,
    idempotency_key: str | None,
    started_at: datetime,
) -> SwapOutcome:
    """Restore exactly what was live before `swap_id`, as a new swap of type rollback."""
    fingerprint = _fingerprint(request, extra=str(swap_id))

    def work(session: Session) -> Swap:
        original = session.get(Swap, swap_id)
        if original is None:
            raise NotFoundError(f"swap {swap_id} not found")
        if original.slot is None or original.status == SwapStatus.FAILED:
            raise ConflictError(f"swap {swap_id} failed; there is nothing to roll back")
        crud.lock_slot(session, environment=original.environment, slot=original.slot)
        session.refresh(original, with_for_update=True)
        existing = _replay(session, key=idempotency_key, fingerprint=fingerprint)
        if existing is not None:
            raise _Replay(existing)
        live = crud.live_deployment(
            session, environment=original.environment, slot=original.slot, lock=True
        )
        errors: list[SwapError] = []
        if original.status == SwapStatus.ROLLED_BACK:
            errors.append(
                SwapError(
                    code="not_completed",
                    message=f"swap {swap_id} was already rolled back by {original.rolled_back_by}",
                )
            )
        elif live is None or live.deployment_id != original.to_deployment_id:
            now_live = f"{live.entity_name} {live.version}" if live else "nothing"
            errors.append(
                SwapError(
                    code="slot_changed",
                    message=f"{original.environment}/{original.slot} has changed since swap "
                    f"{swap_id} (now live: {now_live}); roll back the later swaps first",
                )
            )
        previous = (
            session.get(Deployment, original.from_deployment_id, with_for_update=True)
            if original.from_deployment_id
            else None
        )
        entity = (
            crud.get_entity(session, entity_id=previous.entity_id, lock=True) if previous else None
        )
        if entity is not None and entity.status == EntityStatus.RETIRED:
            errors.append(
                SwapError(
                    code="from_retired",
                    message=f"{entity.name} {entity.version} was retired after the swap",
                )
            )
        swap = Swap(
            swap_id=uuid.uuid4(),
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint,
            swap_type=SwapType.ROLLBACK.value,
            environment=original.environment,
            slot=original.slot,
            from_entity_id=live.entity_id if live else original.to_entity_id,
            to_entity_id=original.from_entity_id,
            from_deployment_id=live.deployment_id if live else None,
            reason=request.reason,
            initiated_by=request.initiated_by,
            rollback_of=original.swap_id,
            started_at=started_at,
            errors=[e.model_dump() for e in errors],
        )
        if errors or live is None or previous is None or entity is None:
            swap.status = SwapStatus.FAILED.value
            _finish(session, swap, "failed")
            return swap
        target = switch(
            session,
            live=live,
            entity=entity,
            target=previous,
            snapshot=dict(previous.config_snapshot),
            swap_id=swap.swap_id,
            actor=request.initiated_by,
            now=utcnow(),
        )
        swap.to_deployment_id = target.deployment_id
        swap.status = SwapStatus.COMPLETED.value
        original.status = SwapStatus.ROLLED_BACK.value
        original.rolled_back_by = swap.swap_id
        _finish(session, swap, "rolled_back", rollback_of=str(original.swap_id))
        return swap

    return _with_idempotency(database, idempotency_key, fingerprint, work)


# Acknowledgements -------------------------------------------------------------------------


def _ms(delta_from: datetime, delta_to: datetime) -> float:
    return round((delta_to - delta_from).total_seconds() * 1000, 3)


def acknowledge(session: Session, *, swap_id: uuid.UUID, ack: SwapAckCreate) -> Swap:
    """Record that a consumer serves the new deployment (or could not switch)."""
    swap = session.get(Swap, swap_id, with_for_update=True)
    if swap is None:
        raise NotFoundError(f"swap {swap_id} not found")
    if swap.status == SwapStatus.FAILED or swap.committed_at is None:
        raise ConflictError(f"swap {swap_id} failed; there is nothing to acknowledge")
    previous = session.scalar(
        select(SwapAck).where(SwapAck.swap_id == swap_id, SwapAck.consumer == ack.consumer)
    )
    if previous is not None:
        same = (
            previous.success,
            previous.serving_since,
            previous.old_served_until,
            previous.error,
        ) == (ack.success, ack.serving_since, ack.old_served_until, ack.error)
        if same:
            return swap  # a retried acknowledgement
        if previous.success:
            raise ConflictError(
                f"consumer '{ack.consumer}' already acknowledged serving swap {swap_id}"
            )
    propagation = downtime = None
    if ack.success and ack.serving_since is not None:
        propagation = _ms(swap.committed_at, ack.serving_since)
        if ack.old_served_until is not None:
            downtime = max(0.0, _ms(ack.old_served_until, ack.serving_since))
    # One row per consumer, its latest state: a failure (e.g. artifacts not there yet) is
    # superseded by the consumer's later report; the events keep every report.
    row = previous or SwapAck(ack_id=uuid.uuid4(), swap_id=swap_id, consumer=ack.consumer)
    row.success = ack.success
    row.error = ack.error
    row.serving_since = ack.serving_since
    row.old_served_until = ack.old_served_until
    row.propagation_ms = propagation
    row.downtime_ms = downtime
    row.received_at = utcnow()
    session.add(row)
    session.flush()
    # The swap shows its slowest consumer: the time until every acknowledged worker served.
    if propagation is not None:
        swap.propagation_ms = max(swap.propagation_ms or propagation, propagation)
    if downtime is not None:
        swap.downtime_ms = max(swap.downtime_ms or downtime, downtime)
    crud.record_event(
        session,
        kind="swap",
        action="acknowledged" if ack.success else "ack_failed",
        subject_id=swap_id,
        payload={
            "swap_id": str(swap_id),
            "consumer": ack.consumer,
            "success": ack.success,
            "error": ack.error,
            "propagation_ms": propagation,
            "downtime_ms": downtime,
            "supersedes_failure": previous is not None,
        },
    )
    return swap


# Reads ------------------------------------------------------------------------------------


def get_swap(session: Session, *, swap_id: uuid.UUID) -> tuple[Swap, list[SwapAck]]:
    swap = session.get(Swap, swap_id)
    if swap is None:
        raise NotFoundError(f"swap {swap_id} not found")
    acks = session.scalars(
        select(SwapAck).where(SwapAck.swap_id == swap_id).order_by(SwapAck.received_at)
    ).all()
    return swap, list(acks)


def list_swaps(
    session: Session,
    *,
    environment: str | None = None,
    slot: str | None = None,
    entity_id: uuid.UUID | None = None,
    status: str | None = None,
    swap_type: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[Swap], int]:
    query = select(Swap, func.count().over().label("total"))
    if environment is not None:
        query = query.where(Swap.environment == environment)
    if slot is not None:
        query = query.where(Swap.slot == slot)
    if entity_id is not None:
        query = query.where(or_(Swap.from_entity_id == entity_id, Swap.to_entity_id == entity_id))
    if status is not None:
        query = query.where(Swap.status == status)
    if swap_type is not None:
        query = query.where(Swap.swap_type == swap_type)
    query = query.order_by(Swap.started_at.desc(), Swap.swap_id)
    return crud.paginate(session, query, limit=limit, offset=offset)
