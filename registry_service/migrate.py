"""Create or upgrade the registry schema with Alembic (the same migrations for both backends)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from registry_service.db import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Arbitrary constant naming the advisory lock that serialises concurrent upgrades.
_PG_MIGRATION_LOCK = 835_000_001


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def upgrade_to_head(database: Database) -> None:
    cfg = alembic_config()
    with database.engine.begin() as conn:
        if database.is_postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
