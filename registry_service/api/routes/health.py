from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from registry_service import __version__, crud
from registry_service.api.deps import DatabaseDep
from registry_service.api.routing import RegistryRoute
from registry_service.schemas import HealthStatus, ReadyStatus

router = APIRouter(tags=["health"], route_class=RegistryRoute)


@router.get("/health")
async def health() -> HealthStatus:
    """The process is up (liveness)."""
    return HealthStatus(status="ok", version=__version__)


@router.get("/ready", response_model=ReadyStatus, responses={503: {"model": ReadyStatus}})
async def ready(database: DatabaseDep) -> ReadyStatus | JSONResponse:
    """The database answers (readiness); also how many events wait for the relay."""
    backend = database.url.get_backend_name()
    try:
        with database.read_session() as session:
            pending = crud.count_unpublished_events(session)
    except SQLAlchemyError as exc:
        body = ReadyStatus(status="unavailable", database=type(exc).__name__, backend=backend)
        return JSONResponse(status_code=503, content=body.model_dump())
    return ReadyStatus(status="ready", database="ok", backend=backend, unpublished_events=pending)
