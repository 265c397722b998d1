"""Request and response schemas of the HTTP API (table models live in `models.py`)."""

from __future__ import annotations

import math
import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from registry_service.lifecycle import DeploymentStatus, EntityStatus, EntityType, Environment

# semver.org's reference expression.
SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)

MAX_JSON_DEPTH = 32


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text; refuse it on every backend alike.
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


def _storable_json(value: Any, depth: int = 0) -> Any:
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"config nests deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _storable_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _storable_json(item, depth + 1)
    elif isinstance(value, str):
        _no_nul(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("config numbers must be finite (no NaN or Infinity)")
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_storable_json)]
Name = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", min_length=1, max_length=128)
]


def _semver(value: str) -> str:
    if not _SEMVER.match(value):
        raise ValueError(f"'{value}' is not a semantic version such as 1.2.3 or 2.0.0-rc.1")
    return value


_SEMVER = re.compile(SEMVER_PATTERN)
SemVer = Annotated[str, StringConstraints(max_length=128), AfterValidator(_semver)]
Actor = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128),
    AfterValidator(_no_nul),
]
Text = Annotated[str, StringConstraints(max_length=10_000), AfterValidator(_no_nul)]


class RequestModel(BaseModel):
    """Requests reject unknown fields, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


Item = TypeVar("Item", bound=ResponseModel)


class Page(ResponseModel, Generic[Item]):
    items: list[Item]
    total: int
    limit: int
    offset: int


# Entities ---------------------------------------------------------------------------------


class EntityCreate(RequestModel):
    name: Name
    type: EntityType
    version: SemVer
    description: Text | None = None
    config: JsonObject = Field(default_factory=dict)


class EntityUpdate(RequestModel):
    description: Text | None = None
    config: JsonObject | None = None
    status: EntityStatus | None = None

    @model_validator(mode="after")
    def _no_null_config_or_status(self) -> EntityUpdate:
        for field in ("config", "status"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"'{field}' cannot be null; omit it to leave it unchanged")
        return self


class RetireRequest(RequestModel):
    retired_by: Actor | None = None
    reason: Text | None = None


class EntityPublic(ResponseModel):
    entity_id: uuid.UUID
    name: str
    type: EntityType
    version: str
    description: str | None
    config: dict[str, Any]
    status: EntityStatus
    created_at: datetime
    updated_at: datetime


# Deployments ------------------------------------------------------------------------------


class DeploymentCreate(RequestModel):
    entity_id: uuid.UUID
    environment: Environment
    deployed_by: Actor
    slot: Name | None = Field(
        default=None, description="Named slot within the environment; defaults to the entity name."
    )


class DeactivateRequest(RequestModel):
    deactivated_by: Actor | None = None
    reason: Text | None = None


class DeploymentPublic(ResponseModel):
    deployment_id: uuid.UUID
    entity_id: uuid.UUID
    entity_name: str
    version: str
    environment: Environment
    slot: str
    status: DeploymentStatus
    config_snapshot: dict[str, Any]
    deployed_by: str
    deployed_at: datetime
    deactivated_at: datetime | None
    deactivated_by: str | None
    updated_at: datetime


# Events -----------------------------------------------------------------------------------


class EventPublic(ResponseModel):
    seq: int
    event_id: uuid.UUID
    kind: str
    action: str
    subject_id: uuid.UUID
    payload: dict[str, Any]
    occurred_at: datetime
    published_at: datetime | None


class EventPage(ResponseModel):
    items: list[EventPublic]
    next_cursor: int = Field(description="Pass as `after` to read the events that follow.")
    has_more: bool


# Health -----------------------------------------------------------------------------------


class HealthStatus(ResponseModel):
    status: str
    version: str


class ReadyStatus(ResponseModel):
    status: str
    database: str
    backend: str
    unpublished_events: int | None = None
