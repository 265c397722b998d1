"""swaps

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 23:38:35.606662
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "swaps",
        sa.Column("swap_id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("swap_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("slot", sa.String(length=128), nullable=True),
        sa.Column("from_entity_id", sa.Uuid(), nullable=False),
        sa.Column("to_entity_id", sa.Uuid(), nullable=False),
        sa.Column("from_deployment_id", sa.Uuid(), nullable=True),
        sa.Column("to_deployment_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("initiated_by", sa.String(length=128), nullable=False),
        sa.Column("errors", JSON_TYPE, nullable=False),
        sa.Column("rollback_of", sa.Uuid(), nullable=True),
        sa.Column("rolled_back_by", sa.Uuid(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("propagation_ms", sa.Float(), nullable=True),
        sa.Column("downtime_ms", sa.Float(), nullable=True),
        sa.CheckConstraint(
            "status IN ('completed', 'failed', 'rolled_back')", name="ck_swaps_status"
        ),
        sa.CheckConstraint(
            "swap_type IN ('manual', 'scheduled', 'automatic', 'emergency', 'rollback')",
            name="ck_swaps_type",
        ),
        sa.ForeignKeyConstraint(
            ["rollback_of"],
            ["swaps.swap_id"],
        ),
        sa.PrimaryKeyConstraint("swap_id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("swaps", schema=None) as batch_op:
        batch_op.create_index(
            "ix_swaps_slot_time", ["environment", "slot", "started_at"], unique=False
        )
        batch_op.create_index("ix_swaps_started", ["started_at"], unique=False)

    op.create_table(
        "swap_acks",
        sa.Column("ack_id", sa.Uuid(), nullable=False),
        sa.Column("swap_id", sa.Uuid(), nullable=False),
        sa.Column("consumer", sa.String(length=128), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("serving_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("old_served_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("propagation_ms", sa.Float(), nullable=True),
        sa.Column("downtime_ms", sa.Float(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["swap_id"],
            ["swaps.swap_id"],
        ),
        sa.PrimaryKeyConstraint("ack_id"),
        sa.UniqueConstraint("swap_id", "consumer", name="uq_swap_acks_consumer"),
    )
    op.create_table(
        "slot_activations",
        sa.Column("activation_id", sa.Uuid(), nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("slot", sa.String(length=128), nullable=False),
        sa.Column("deployment_id", sa.Uuid(), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("activated_by_swap_id", sa.Uuid(), nullable=True),
        sa.Column("deactivated_by_swap_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.deployment_id"],
        ),
        sa.PrimaryKeyConstraint("activation_id"),
    )
    with op.batch_alter_table("slot_activations", schema=None) as batch_op:
        batch_op.create_index("ix_slot_activations_deployment", ["deployment_id"], unique=False)
        batch_op.create_index(
            "ix_slot_activations_slot_time", ["environment", "slot", "activated_at"], unique=False
        )

    # Each existing deployment was live once, from deployed_at to deactivated_at.
    op.execute(
        "INSERT INTO slot_activations (activation_id, environment, slot, deployment_id,"
        " entity_id, activated_at, deactivated_at) SELECT deployment_id, environment, slot,"
        " deployment_id, entity_id, deployed_at, deactivated_at FROM deployments"
    )


def downgrade() -> None:
    with op.batch_alter_table("slot_activations", schema=None) as batch_op:
        batch_op.drop_index("ix_slot_activations_slot_time")
        batch_op.drop_index("ix_slot_activations_deployment")

    op.drop_table("slot_activations")
    op.drop_table("swap_acks")
    with op.batch_alter_table("swaps", schema=None) as batch_op:
        batch_op.drop_index("ix_swaps_started")
        batch_op.drop_index("ix_swaps_slot_time")

    op.drop_table("swaps")
