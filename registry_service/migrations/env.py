"""Alembic environment: runs on the connection `registry_service.migrate` hands it."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from registry_service.models import Base

config = context.config
target_metadata = Base.metadata

connection = config.attributes.get("connection")
if connection is None:
    # Stand-alone use (`alembic revision --autogenerate`): a URL must be given with -x url=...
    url = context.get_x_argument(as_dictionary=True)["url"]
    with create_engine(url).connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
