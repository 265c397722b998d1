"""The registry's FastAPI application factory (`create_app`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from registry_service import __version__
from registry_service.api.errors import (
    BodySizeLimit,
    JsonBodies,
    MethodTable,
    error_responses,
    install_error_handlers,
)
from registry_service.api.routes import deployments, entities, events, health, swaps
from registry_service.config import RegistrySettings
from registry_service.db import Database
from registry_service.migrate import upgrade_to_head
from registry_service.relay import OutboxRelay

API_PREFIX = "/api/v1"
# The interactive docs (Swagger UI) and the assets they load, served by the registry itself
# from the fastapi-offline package: FastAPI's default page loads them from a CDN, and is
# blank on a machine without internet.
DOCS_URL = f"{API_PREFIX}/docs"
DOCS_ASSETS_URL = f"{API_PREFIX}/docs-assets"
log = logging.getLogger(__name__)


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    """Build the app. Nothing connects until the lifespan starts (server or TestClient)."""
    settings = settings or RegistrySettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings.resolved_database_url())
        await asyncio.to_thread(upgrade_to_head, database)
        app.state.database = database
        stop = asyncio.Event()
        relay_task = None
        if settings.nats_url and settings.relay_in_process:
            relay = OutboxRelay(
                database,
                nats_url=settings.nats_url,
                stream=settings.nats_stream,
                subject_prefix=settings.nats_subject_prefix,
            )
            app.state.relay = relay
            relay_task = asyncio.create_task(
                relay.run(stop, interval=settings.relay_interval_seconds)
            )
        try:
            yield
        finally:
            stop.set()
            if relay_task is not None:
                await relay_task
            database.dispose()

    app = FastAPIOffline(
        title="Trade2026 registry",
        version=__version__,
        description="Entities, deployments, swaps and events of the Trade2026 platform.",
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=DOCS_URL,
        redoc_url=None,
        static_url=DOCS_ASSETS_URL,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(JsonBodies)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.state.methods = methods = MethodTable()
    for router in (
        entities.router,
        deployments.router,
        swaps.router,
        events.router,
        health.router,
    ):
        app.include_router(router, prefix=API_PREFIX)
        methods.add(API_PREFIX, router)
    # Probes at the root too, where orchestrators look for them.
    app.include_router(health.router, include_in_schema=False)
    methods.add("", health.router)
    if settings.reads_require_key:
        _document_keyed_reads(app)
    return app


def _document_keyed_reads(app: FastAPI) -> None:
    """Reads declare no security (they are open by default); with
    REGISTRY_READS_REQUIRE_KEY the document says they need a key, and may answer 401/403."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        errors = error_responses(401, 403)
        for operations in document["paths"].values():
            read = operations.get("get")
            if read is None or "health" in read.get("tags", ()):
                continue
            read["security"] = [{"HTTPBearer": []}]
            for status in (401, 403):
                read["responses"][str(status)] = {
                    "description": errors[status]["description"],
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
                    },
                }
        return document

    app.openapi = openapi  # type: ignore[method-assign]
