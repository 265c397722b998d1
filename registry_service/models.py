"""Table models. Request/response shapes live in `schemas.py`."""

from __future__ import annotations

import logging
import math
import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from registry_service.lifecycle import (
    DeploymentStatus,
    EntityStatus,
    EntityType,
    Environment,
    SwapStatus,
    SwapType,
)

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both backends (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_SURROGATE = re.compile("[\ud800-\udfff]")


def renderable_json(value: Any) -> Any:
    """`value` with what no JSON answer can carry replaced: a lone surrogate becomes U+FFFD,
    a non-finite number null. The API refuses both; rows stored before it did still list."""
    if isinstance(value, dict):
        return {renderable_json(k): renderable_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [renderable_json(item) for item in value]
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            log.warning("stored JSON holds a lone surrogate; answering it as U+FFFD")
            return _SURROGATE.sub("\ufffd", value)
        return value
    if isinstance(value, float) and not math.isfinite(value):
        log.warning("stored JSON holds a non-finite number; answering it as null")
        return None
    return value


class JSONDocument(TypeDecorator[Any]):
    """JSON (JSONB on PostgreSQL) read back as something every answer can render."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return renderable_json(value)


JSONType = JSONDocument()
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def _in(column: str, values: type[StrEnum]) -> ColumnElement[bool]:
    """`column IN (...)` over an enum's values, for a CHECK constraint."""
    return literal_column(column).in_([v.value for v in values])


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        uuid.UUID: Uuid(),
    }


class Entity(Base):
    __tablename__ = "entities"
    __table_args__ = (
        UniqueConstraint("name", "version", name="uq_entities_name_version"),
        CheckConstraint(_in("type", EntityType), name="ck_entities_type"),
        CheckConstraint(_in("status", EntityStatus), name="ck_entities_status"),
        Index("ix_entities_type_status", "type", "status"),
    )

    entity_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict[str, Any]]
    # A JSON Schema `config` must satisfy; none means any JSON object.
    config_schema: Mapped[dict[str, Any] | None]
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Deployment(Base):
    __tablename__ = "deployments"
    __table_args__ = (
        CheckConstraint(_in("environment", Environment), name="ck_deployments_environment"),
        CheckConstraint(_in("status", DeploymentStatus), name="ck_deployments_status"),
        # The one-live-deployment-per-slot invariant, kept by the database itself.
        Index(
            "uq_deployments_active_slot",
            "environment",
            "slot",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_deployments_entity", "entity_id"),
        Index("ix_deployments_env_status", "environment", "status"),
    )

    deployment_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    entity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("entities.entity_id"))
    entity_name: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(128))
    environment: Mapped[str] = mapped_column(String(16))
    slot: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    config_snapshot: Mapped[dict[str, Any]]
    deployed_by: Mapped[str] = mapped_column(String(128))
    deployed_at: Mapped[datetime] = mapped_column(default=utcnow)
    deactivated_at: Mapped[datetime | None]
    deactivated_by: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxEvent(Base):
    """Transactional outbox: written with the change it describes, relayed to NATS later."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index(
            "ix_outbox_unpublished",
            "seq",
            sqlite_where=text("published_at IS NULL"),
            postgresql_where=text("published_at IS NULL"),
        ),
    )

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[uuid.UUID]
    payload: Mapped[dict[str, Any]]
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]


class ApiKey(Base):
    __tablename__ = "api_keys"

    key_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16))
    # SHA-256 of the whole key: keys are 256-bit random, so a fast hash is the right one.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class SlotActivation(Base):
    """One period during which a deployment was live in its slot: the history behind
    "what was live at instant T". Opened on activation, closed on deactivation."""

    __tablename__ = "slot_activations"
    __table_args__ = (
        Index("ix_slot_activations_slot_time", "environment", "slot", "activated_at"),
        Index("ix_slot_activations_deployment", "deployment_id"),
    )

    activation_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    environment: Mapped[str] = mapped_column(String(16))
    slot: Mapped[str] = mapped_column(String(128))
    deployment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deployments.deployment_id"))
    entity_id: Mapped[uuid.UUID]
    activated_at: Mapped[datetime]
    deactivated_at: Mapped[datetime | None]
    activated_by_swap_id: Mapped[uuid.UUID | None]
    deactivated_by_swap_id: Mapped[uuid.UUID | None]


class Swap(Base):
    """A swap request and its outcome: completed, failed (with its errors) or rolled back."""

    __tablename__ = "swaps"
    __table_args__ = (
        CheckConstraint(_in("swap_type", SwapType), name="ck_swaps_type"),
        CheckConstraint(_in("status", SwapStatus), name="ck_swaps_status"),
        Index("ix_swaps_slot_time", "environment", "slot", "started_at"),
        Index("ix_swaps_started", "started_at"),
    )

    swap_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    swap_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    environment: Mapped[str] = mapped_column(String(16))
    slot: Mapped[str | None] = mapped_column(String(128))
    from_entity_id: Mapped[uuid.UUID]
    to_entity_id: Mapped[uuid.UUID]
    from_deployment_id: Mapped[uuid.UUID | None]
    to_deployment_id: Mapped[uuid.UUID | None]
    reason: Mapped[str] = mapped_column(Text)
    initiated_by: Mapped[str] = mapped_column(String(128))
    errors: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    rollback_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("swaps.swap_id"))
    rolled_back_by: Mapped[uuid.UUID | None]
    started_at: Mapped[datetime]
    committed_at: Mapped[datetime | None]
    duration_ms: Mapped[float | None] = mapped_column(Float)
    propagation_ms: Mapped[float | None] = mapped_column(Float)
    downtime_ms: Mapped[float | None] = mapped_column(Float)


class SwapAck(Base):
    """A consumer's report that it serves the swap's new deployment (or failed to)."""

    __tablename__ = "swap_acks"
    __table_args__ = (UniqueConstraint("swap_id", "consumer", name="uq_swap_acks_consumer"),)

    ack_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    swap_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("swaps.swap_id"))
    consumer: Mapped[str] = mapped_column(String(128))
    success: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    serving_since: Mapped[datetime | None]
    old_served_until: Mapped[datetime | None]
    propagation_ms: Mapped[float | None] = mapped_column(Float)
    downtime_ms: Mapped[float | None] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
