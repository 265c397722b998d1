from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from registry_service import crud
from registry_service.api.answers import commit_answer
from registry_service.api.deps import Deployer, Reader, ReadSession, WriteSession
from registry_service.api.errors import error_responses
from registry_service.api.routing import RegistryRoute
from registry_service.lifecycle import DeploymentStatus, Environment
from registry_service.schemas import (
    DB_INT_MAX,
    DeactivateRequest,
    DeploymentCreate,
    DeploymentPublic,
    Page,
)

router = APIRouter(prefix="/deployments", tags=["deployments"], route_class=RegistryRoute)


@router.post("", status_code=201, responses=error_responses(401, 403, 404, 409, 413))
def create_deployment(
    _: Deployer, body: DeploymentCreate, session: WriteSession
) -> DeploymentPublic:
    deployment = crud.create_deployment(session, data=body)
    return commit_answer(session, DeploymentPublic.model_validate(deployment))


@router.get("", responses=error_responses())
async def list_deployments(
    _: Reader,
    session: ReadSession,
    status: DeploymentStatus | None = None,
    environment: Environment | None = None,
    entity_id: uuid.UUID | None = None,
    slot: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=DB_INT_MAX)] = 0,
) -> Page[DeploymentPublic]:
    items, total = crud.list_deployments(
        session,
        status=status,
        environment=environment,
        entity_id=entity_id,
        slot=slot,
        limit=limit,
        offset=offset,
    )
    return Page[DeploymentPublic](
        items=[DeploymentPublic.model_validate(d) for d in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/{deployment_id}", responses=error_responses(404))
async def get_deployment(
    _: Reader, deployment_id: uuid.UUID, session: ReadSession
) -> DeploymentPublic:
    return DeploymentPublic.model_validate(
        crud.get_deployment(session, deployment_id=deployment_id)
    )


@router.post("/{deployment_id}/deactivate", responses=error_responses(401, 403, 404, 409, 413))
def deactivate_deployment(
    principal: Deployer,
    deployment_id: uuid.UUID,
    session: WriteSession,
    body: DeactivateRequest | None = None,
) -> DeploymentPublic:
    body = body or DeactivateRequest()
    deployment = crud.deactivate_deployment(
        session,
        deployment_id=deployment_id,
        actor=body.deactivated_by or principal.name,
        reason=body.reason,
    )
    return commit_answer(session, DeploymentPublic.model_validate(deployment))
