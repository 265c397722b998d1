from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from registry_service import crud
from registry_service.api.deps import Reader, ReadSession
from registry_service.api.errors import error_responses
from registry_service.api.routing import RegistryRoute
from registry_service.schemas import DB_INT_MAX, EventPage, EventPublic

router = APIRouter(prefix="/events", tags=["events"], route_class=RegistryRoute)


@router.get("", responses=error_responses())
async def list_events(
    _: Reader,
    session: ReadSession,
    after: Annotated[
        int, Query(ge=0, le=DB_INT_MAX, description="Cursor: the last `seq` already read.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    kind: Annotated[str | None, Query(max_length=32)] = None,
) -> EventPage:
    # One extra row tells whether another page follows.
    rows = crud.list_events(session, after=after, limit=limit + 1, kind=kind)
    items = [EventPublic.model_validate(e) for e in rows[:limit]]
    return EventPage(
        items=items,
        next_cursor=items[-1].seq if items else after,
        has_more=len(rows) > limit,
    )
