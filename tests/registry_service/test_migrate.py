"""A registry database made before entities carried a config schema upgrades in place: its
entities keep their config and have no schema, and the models match the migrated tables."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import DateTime, String, Uuid, column, insert, table, text

from registry_service.db import Database
from registry_service.migrate import alembic_config, upgrade_to_head
from registry_service.models import Base, JSONType


def test_a_database_before_config_schemas_upgrades_keeping_its_entities(
    database_url: str,
) -> None:
    database = Database(database_url)
    try:
        cfg = alembic_config()
        with database.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0002")
        # The entities table as revision 0002 made it (no config_schema column).
        entities = table(
            "entities",
            *(column(name, String()) for name in ("name", "type", "version", "status")),
            column("entity_id", Uuid()),
            column("config", JSONType),
            column("created_at", DateTime(timezone=True)),
            column("updated_at", DateTime(timezone=True)),
        )
        now = datetime.now(UTC)
        with database.engine.begin() as conn:
            conn.execute(
                insert(entities).values(
                    entity_id=uuid.uuid4(),
                    name="strategy_a",
                    type="strategy",
                    version="1.0.0",
                    status="registered",
                    config={"model_uri": "models:/m/1"},
                    created_at=now,
                    updated_at=now,
                )
            )
        upgrade_to_head(database)
        with database.engine.connect() as conn:
            row = conn.execute(text("SELECT config, config_schema FROM entities")).one()
            assert MigrationContext.configure(conn).get_current_revision() == "0003"
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        config = row.config if isinstance(row.config, dict) else json.loads(row.config)
        assert config == {"model_uri": "models:/m/1"}
        assert row.config_schema is None
    finally:
        database.dispose()
