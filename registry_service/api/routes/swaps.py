from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response

from registry_service import crud, swaps
from registry_service.api.answers import commit_answer
from registry_service.api.deps import DatabaseDep, Deployer, Reader, ReadSession, WriteSession
from registry_service.api.errors import error_responses
from registry_service.api.routing import RegistryRoute
from registry_service.lifecycle import Environment, SwapStatus, SwapType
from registry_service.models import Swap, SwapAck, utcnow
from registry_service.schemas import (
    DB_INT_MAX,
    DeploymentPublic,
    Instant,
    LiveSlot,
    Page,
    RollbackRequest,
    SwapAckCreate,
    SwapAckPublic,
    SwapCreate,
    SwapDetail,
    SwapPublic,
    SwapValidation,
)

router = APIRouter(tags=["swaps"], route_class=RegistryRoute)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="The same key returns the same swap instead of swapping again.",
    ),
]


def _answer(outcome: swaps.SwapOutcome, response: Response) -> SwapPublic:
    if outcome.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return SwapPublic.model_validate(outcome.swap)


@router.post(
    "/swaps",
    status_code=201,
    response_model=SwapPublic | SwapValidation,
    responses={
        200: {"description": "validate_only, or an Idempotency-Key replay"},
        **error_responses(400, 401, 403, 409, 413),
    },
)
def create_swap(
    _: Deployer,
    body: SwapCreate,
    database: DatabaseDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> SwapPublic | SwapValidation:
    started_at = utcnow()
    if body.validate_only:
        response.status_code = 200
        return swaps.validate_swap(database, request=body)
    outcome = swaps.request_swap(
        database, request=body, idempotency_key=idempotency_key, started_at=started_at
    )
    return _answer(outcome, response)


@router.post(
    "/swaps/{swap_id}/rollback",
    status_code=201,
    responses={
        200: {"description": "an Idempotency-Key replay"},
        **error_responses(400, 401, 403, 404, 409, 413),
    },
)
def rollback_swap(
    _: Deployer,
    swap_id: uuid.UUID,
    body: RollbackRequest,
    database: DatabaseDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> SwapPublic:
    started_at = utcnow()
    outcome = swaps.request_rollback(
        database,
        swap_id=swap_id,
        request=body,
        idempotency_key=idempotency_key,
        started_at=started_at,
    )
    return _answer(outcome, response)


@router.post("/swaps/{swap_id}/ack", responses=error_responses(401, 403, 404, 409, 413))
def acknowledge_swap(
    _: Deployer, swap_id: uuid.UUID, body: SwapAckCreate, session: WriteSession
) -> SwapDetail:
    swaps.acknowledge(session, swap_id=swap_id, ack=body)
    swap, acks = swaps.get_swap(session, swap_id=swap_id)
    return commit_answer(session, _detail(swap, acks))


@router.get("/swaps", responses=error_responses())
async def list_swaps(
    _: Reader,
    session: ReadSession,
    environment: Environment | None = None,
    slot: Annotated[str | None, Query(max_length=128)] = None,
    entity_id: uuid.UUID | None = None,
    status: SwapStatus | None = None,
    swap_type: SwapType | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=DB_INT_MAX)] = 0,
) -> Page[SwapPublic]:
    items, total = swaps.list_swaps(
        session,
        environment=environment,
        slot=slot,
        entity_id=entity_id,
        status=status,
        swap_type=swap_type,
        limit=limit,
        offset=offset,
    )
    return Page[SwapPublic](
        items=[SwapPublic.model_validate(s) for s in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/swaps/{swap_id}", responses=error_responses(404))
async def get_swap(_: Reader, swap_id: uuid.UUID, session: ReadSession) -> SwapDetail:
    swap, acks = swaps.get_swap(session, swap_id=swap_id)
    return _detail(swap, acks)


def _detail(swap: Swap, acks: Sequence[SwapAck]) -> SwapDetail:
    public = SwapPublic.model_validate(swap).model_dump()
    # The swap's propagation and downtime are the slowest acknowledgement's: taken from the
    # acknowledgements listed with it, so the answer is one consistent view even when the
    # two reads see different moments (autocommit reads on PostgreSQL).
    for name in ("propagation_ms", "downtime_ms"):
        values = [getattr(ack, name) for ack in acks if getattr(ack, name) is not None]
        public[name] = max(values) if values else None
    return SwapDetail(**public, acks=[SwapAckPublic.model_validate(a) for a in acks])


@router.get("/slots/{environment}/{slot}/live", responses=error_responses())
async def live_in_slot(
    _: Reader,
    environment: Environment,
    slot: Annotated[str, Path(max_length=128)],
    session: ReadSession,
    at: Annotated[
        Instant | None,
        Query(description="Instant to ask about (RFC 3339 with a zone); default now."),
    ] = None,
) -> LiveSlot:
    """What was live in an environment's slot at an instant, answered from history."""
    when = at or utcnow()
    found = crud.live_at(session, environment=environment, slot=slot, at=when)
    if found is None:
        return LiveSlot(
            environment=environment,
            slot=slot,
            at=when,
            deployment=None,
            activated_at=None,
            activated_by_swap_id=None,
        )
    activation, deployment = found
    return LiveSlot(
        environment=environment,
        slot=slot,
        at=when,
        deployment=DeploymentPublic.model_validate(deployment),
        activated_at=activation.activated_at,
        activated_by_swap_id=activation.activated_by_swap_id,
    )
