from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from registry_service import crud
from registry_service.api.answers import commit_answer
from registry_service.api.deps import Reader, ReadSession, Writer, WriteSession
from registry_service.api.errors import error_responses
from registry_service.api.routing import RegistryRoute
from registry_service.lifecycle import EntityStatus, EntityType
from registry_service.schemas import (
    DB_INT_MAX,
    EntityCreate,
    EntityPublic,
    EntityUpdate,
    Page,
    RetireRequest,
)

router = APIRouter(prefix="/entities", tags=["entities"], route_class=RegistryRoute)


@router.post("", status_code=201, responses=error_responses(401, 403, 409, 413))
def create_entity(_: Writer, body: EntityCreate, session: WriteSession) -> EntityPublic:
    entity = crud.create_entity(session, data=body)
    return commit_answer(session, EntityPublic.model_validate(entity))


@router.get("", responses=error_responses())
async def list_entities(
    _: Reader,
    session: ReadSession,
    type: EntityType | None = None,
    status: EntityStatus | None = None,
    name: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=DB_INT_MAX)] = 0,
) -> Page[EntityPublic]:
    items, total = crud.list_entities(
        session, type=type, status=status, name=name, limit=limit, offset=offset
    )
    return Page[EntityPublic](
        items=[EntityPublic.model_validate(e) for e in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/{entity_id}", responses=error_responses(404))
async def get_entity(_: Reader, entity_id: uuid.UUID, session: ReadSession) -> EntityPublic:
    return EntityPublic.model_validate(crud.get_entity(session, entity_id=entity_id))


@router.patch("/{entity_id}", responses=error_responses(401, 403, 404, 409, 413))
def update_entity(
    principal: Writer, entity_id: uuid.UUID, body: EntityUpdate, session: WriteSession
) -> EntityPublic:
    entity = crud.update_entity(session, entity_id=entity_id, data=body, actor=principal.name)
    return commit_answer(session, EntityPublic.model_validate(entity))


@router.post("/{entity_id}/retire", responses=error_responses(401, 403, 404, 409, 413))
def retire_entity(
    principal: Writer,
    entity_id: uuid.UUID,
    session: WriteSession,
    body: RetireRequest | None = None,
) -> EntityPublic:
    body = body or RetireRequest()
    entity = crud.retire_entity(
        session,
        entity_id=entity_id,
        actor=body.retired_by or principal.name,
        reason=body.reason,
    )
    return commit_answer(session, EntityPublic.model_validate(entity))
