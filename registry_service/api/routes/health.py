from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from registry_service import __version__, crud
from registry_service.api.deps import DatabaseDep, SettingsDep
from registry_service.api.routing import RegistryRoute
from registry_service.config import RegistrySettings
from registry_service.models import utcnow
from registry_service.relay import OutboxRelay
from registry_service.schemas import HealthStatus, ReadyStatus, RelayStatus

router = APIRouter(tags=["health"], route_class=RegistryRoute)


@router.get("/health")
async def health() -> HealthStatus:
    """The process is up (liveness)."""
    return HealthStatus(status="ok", version=__version__)


def _relay_status(request: Request, settings: RegistrySettings) -> RelayStatus:
    relay: OutboxRelay | None = getattr(request.app.state, "relay", None)
    if relay is not None:
        health = relay.health
        return RelayStatus(
            state=health.state,
            error=health.error,
            failing_since=health.failing_since,
            last_success_at=health.last_success_at,
        )
    return RelayStatus(state="external" if settings.nats_url else "disabled")


@router.get("/ready", response_model=ReadyStatus, responses={503: {"model": ReadyStatus}})
async def ready(
    request: Request, database: DatabaseDep, settings: SettingsDep
) -> ReadyStatus | JSONResponse:
    """The database answers (readiness); the relay's state and the outbox backlog."""
    backend = database.url.get_backend_name()
    relay = _relay_status(request, settings)
    try:
        with database.read_session() as session:
            pending = crud.count_unpublished_events(session)
            oldest = crud.oldest_unpublished_at(session) if pending else None
    except SQLAlchemyError as exc:
        body = ReadyStatus(
            status="unavailable", database=type(exc).__name__, backend=backend, relay=relay
        )
        return JSONResponse(status_code=503, content=body.model_dump(mode="json"))
    return ReadyStatus(
        status="degraded" if relay.state == "failing" else "ready",
        database="ok",
        backend=backend,
        unpublished_events=pending,
        oldest_unpublished_age_seconds=(
            round((utcnow() - oldest).total_seconds(), 3) if oldest else None
        ),
        relay=relay,
    )
