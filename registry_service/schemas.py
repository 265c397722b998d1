"""Request and response schemas of the HTTP API (table models live in `models.py`)."""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue, SkipJsonSchema
from pydantic_core import PydanticSerializationError, core_schema
from typing_extensions import TypeAliasType

from registry_service.errors import UnstorableValueError
from registry_service.lifecycle import (
    DeploymentStatus,
    EntityStatus,
    EntityType,
    Environment,
    SwapStatus,
    SwapType,
)

# semver.org's reference expression.
SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)

MAX_JSON_DEPTH = 32


# The largest integer either database stores (a signed 64-bit integer): the bound of every
# cursor and offset the API accepts.
DB_INT_MAX = 2**63 - 1


def _storable_text(value: str) -> str:
    # Refused on every backend alike: PostgreSQL cannot store NUL in text, and a lone
    # surrogate (JSON "\ud800") is not Unicode text, so it could never be answered as UTF-8.
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"text must be valid Unicode; the lone surrogate U+{ord(value[exc.start]):04X} "
            f"at position {exc.start} is not"
        ) from None
    return value


def _storable_json(value: Any, depth: int = 0) -> Any:
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"config nests deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            _storable_text(key)
            _storable_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _storable_json(item, depth + 1)
    elif isinstance(value, str):
        _storable_text(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("config numbers must be finite (no NaN or Infinity)")
    return value


@dataclass(frozen=True, eq=False)  # hashed by identity: typing hashes annotations
class Documented:
    """Adds to a type's JSON schema what its validators check (so the OpenAPI document
    describes exactly the values the API accepts), e.g. a pattern."""

    extra: dict[str, Any]

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(schema), **self.extra}


NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\x00\s][^\x00]*$"
_JsonText = Annotated[str, Documented({"pattern": NO_NUL})]
JsonValue = TypeAliasType(
    "JsonValue",
    "_JsonText | int | float | bool | list[JsonValue] | _JsonMembers | None",
)
_JsonMembers = Annotated[
    dict[str, JsonValue],
    Documented({"propertyNames": {"pattern": NO_NUL}}),
]
JsonObject = Annotated[
    _JsonMembers,
    AfterValidator(_storable_json),
    Documented(
        {"description": f"A JSON object: no NUL characters, at most {MAX_JSON_DEPTH} levels deep."}
    ),
]
Name = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", min_length=1, max_length=128)
]


def _semver(value: str) -> str:
    if not _SEMVER.match(value):
        raise ValueError(f"'{value}' is not a semantic version such as 1.2.3 or 2.0.0-rc.1")
    return value


_SEMVER = re.compile(SEMVER_PATTERN)
SemVer = Annotated[
    str,
    StringConstraints(max_length=128),
    AfterValidator(_semver),
    Documented({"pattern": SEMVER_PATTERN}),
]
Actor = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128),
    AfterValidator(_storable_text),
    Documented({"pattern": NOT_BLANK}),
]
Text = Annotated[
    str,
    StringConstraints(max_length=10_000),
    AfterValidator(_storable_text),
    Documented({"pattern": NO_NUL}),
]


Answer = TypeVar("Answer", bound=BaseModel)


def rendered_or_refused(answer: Answer) -> Answer:
    """`answer` once it renders as JSON (as the response will); else 422 `unstorable_value`."""
    try:
        answer.model_dump_json()
    except PydanticSerializationError as exc:
        raise UnstorableValueError(f"value cannot be stored and returned: {exc}") from None
    return answer


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


CONFIG_SCHEMA_DESCRIPTION = (
    "A JSON Schema that `config` must satisfy (draft 2020-12 unless its `$schema` names "
    "another; only references within the schema resolve). Checked when the entity is created "
    "and whenever its config changes: a config that does not satisfy it, or a schema that is "
    "not one, is refused with 422 `config_invalid` naming the failing path. Optional: without "
    "it (or with null) any JSON object is accepted. Set at creation only."
)


class EntityCreate(RequestModel):
    name: Name
    type: EntityType
    version: SemVer
    description: Text | None = None
    config: JsonObject = Field(default_factory=dict)
    config_schema: JsonObject | None = Field(default=None, description=CONFIG_SCHEMA_DESCRIPTION)


class EntityUpdate(RequestModel):
    description: Text | None = None
    # Omitted means unchanged; null is refused below (the document shows no null).
    config: JsonObject | SkipJsonSchema[None] = None
    status: EntityStatus | SkipJsonSchema[None] = None

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
    config_schema: dict[str, Any] | None = Field(description=CONFIG_SCHEMA_DESCRIPTION)
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


# Swaps ------------------------------------------------------------------------------------

Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000),
    AfterValidator(_storable_text),
    Documented({"pattern": NOT_BLANK}),
]


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _instant(value: Any) -> datetime:
    """An RFC 3339 date-time with a zone, as the schema says: pydantic alone would also take
    numbers as Unix seconds (`0.5` = 1970) and zone-less times, and keep an instant that
    falls outside the calendar once converted to UTC (which the database cannot store)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and _RFC3339.match(value):
        try:
            parsed = datetime.fromisoformat(value.upper())
        except ValueError as exc:
            raise ValueError(f"'{value}' is not a valid date-time: {exc}") from None
    else:
        raise ValueError(
            "expected an RFC 3339 date-time with a time zone, e.g. 2026-01-01T12:00:00.123Z"
        )
    if parsed.tzinfo is None:
        raise ValueError("timestamps need a time zone, e.g. 2026-01-01T12:00:00.123Z")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"'{value}' falls outside years 1-9999 in UTC") from None


Instant = Annotated[datetime, BeforeValidator(_instant)]


class SwapCreate(RequestModel):
    from_entity_id: uuid.UUID
    to_entity_id: uuid.UUID
    reason: Reason
    initiated_by: Actor
    swap_type: SwapType = SwapType.MANUAL
    validate_only: bool = False
    environment: Environment = Environment.PRODUCTION
    slot: Name | None = Field(
        default=None,
        description="Slot to swap in; defaults to the one slot where `from` is live.",
    )


class RollbackRequest(RequestModel):
    reason: Reason
    initiated_by: Actor


class SwapAckCreate(RequestModel):
    # What the validator below checks, in the document too: a success names when the
    # consumer began serving, a failure says why.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {
                    "properties": {
                        "success": {"const": True},
                        "serving_since": {"type": "string", "format": "date-time"},
                    },
                    "required": ["serving_since"],
                },
                {
                    "properties": {
                        "success": {"const": False},
                        "error": {"type": "string", "minLength": 1},
                    },
                    "required": ["success", "error"],
                },
            ]
        },
    )

    consumer: Actor
    success: bool = True
    serving_since: Instant | None = Field(
        default=None, description="When the consumer began serving the new deployment."
    )
    old_served_until: Instant | None = Field(
        default=None, description="When the consumer stopped serving the old deployment."
    )
    error: Text | None = None

    @model_validator(mode="after")
    def _success_needs_serving_since(self) -> SwapAckCreate:
        if self.success and self.serving_since is None:
            raise ValueError("a successful acknowledgement needs 'serving_since'")
        if not self.success and not self.error:
            raise ValueError("a failed acknowledgement needs 'error'")
        return self


class SwapError(ResponseModel):
    code: str
    message: str


class SwapAckPublic(ResponseModel):
    consumer: str
    success: bool
    error: str | None
    serving_since: datetime | None
    old_served_until: datetime | None
    propagation_ms: float | None
    downtime_ms: float | None
    received_at: datetime


class SwapPublic(ResponseModel):
    swap_id: uuid.UUID
    swap_type: SwapType
    status: SwapStatus
    environment: Environment
    slot: str | None
    from_entity_id: uuid.UUID
    to_entity_id: uuid.UUID
    from_deployment_id: uuid.UUID | None
    to_deployment_id: uuid.UUID | None
    reason: str
    initiated_by: str
    errors: list[SwapError]
    rollback_of: uuid.UUID | None
    rolled_back_by: uuid.UUID | None
    idempotency_key: str | None
    started_at: datetime
    committed_at: datetime | None
    duration_ms: float | None
    propagation_ms: float | None
    downtime_ms: float | None


class SwapDetail(SwapPublic):
    acks: list[SwapAckPublic]


class SwapValidation(ResponseModel):
    """The answer to `validate_only`: what would happen, and nothing changed."""

    valid: bool
    errors: list[SwapError]
    environment: Environment
    slot: str | None
    from_deployment_id: uuid.UUID | None
    to_deployment_id: uuid.UUID | None = Field(
        description="The target deployment that would go live; null when one would be created."
    )


class LiveSlot(ResponseModel):
    environment: Environment
    slot: str
    at: datetime
    deployment: DeploymentPublic | None
    activated_at: datetime | None
    activated_by_swap_id: uuid.UUID | None


# Health -----------------------------------------------------------------------------------


class HealthStatus(ResponseModel):
    status: str
    version: str


class RelayStatus(ResponseModel):
    state: str = Field(
        description="`disabled` (no NATS_URL), `external` (a separate `relay` process), "
        "else the in-process relay's last pass: `starting`, `ok` or `failing`."
    )
    error: str | None = None
    failing_since: datetime | None = None
    last_success_at: datetime | None = None


class ReadyStatus(ResponseModel):
    status: str = Field(
        description="`ready`; `degraded` while the relay fails (requests are served, events "
        "wait in the outbox); `unavailable` (503) when the database does not answer."
    )
    database: str
    backend: str
    unpublished_events: int | None = None
    oldest_unpublished_age_seconds: float | None = Field(
        default=None, description="Age of the oldest event waiting for the relay."
    )
    relay: RelayStatus | None = None
