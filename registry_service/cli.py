"""`python -m registry_service serve | create-key | migrate | relay`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from registry_service import auth, crud
from registry_service.config import RegistrySettings
from registry_service.db import Database
from registry_service.migrate import upgrade_to_head


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m registry_service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API (migrates the schema first)")
    serve.add_argument("--host", help="bind address (default REGISTRY_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default REGISTRY_PORT or 8350)")
    serve.add_argument("--workers", type=int, help="worker processes (default REGISTRY_WORKERS)")
    key = commands.add_parser("create-key", help="create an API key and print it on stdout")
    key.add_argument("--name", required=True, help="who or what the key is for")
    key.add_argument("--scopes", required=True, help="comma-separated: read,write,deploy,admin")
    commands.add_parser("migrate", help="create or upgrade the database schema")
    commands.add_parser("relay", help="relay outbox events to NATS_URL until interrupted")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = RegistrySettings()
    except ValueError as exc:
        print(f"error: invalid settings: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "serve":
        return _serve(settings, args)
    if args.command == "create-key":
        return _create_key(settings, name=args.name, raw_scopes=args.scopes)
    if args.command == "migrate":
        database = Database(settings.resolved_database_url())
        upgrade_to_head(database)
        database.dispose()
        print("schema is at head", file=sys.stderr)
        return 0
    return _relay(settings)


def _serve(settings: RegistrySettings, args: argparse.Namespace) -> int:
    import uvicorn

    overrides = {
        key: value
        for key, value in (("host", args.host), ("port", args.port), ("workers", args.workers))
        if value is not None
    }
    settings = settings.model_copy(update=overrides)
    # Migrate once here so several workers do not race to do it.
    database = Database(settings.resolved_database_url())
    upgrade_to_head(database)
    database.dispose()
    if settings.workers > 1:
        from registry_service.workers import serve_workers

        return serve_workers(settings)
    else:
        from registry_service.main import create_app

        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            access_log=settings.access_log,
            timeout_graceful_shutdown=5,
        )
    return 0


def _create_key(settings: RegistrySettings, *, name: str, raw_scopes: str) -> int:
    try:
        scopes = auth.parse_scopes(raw_scopes)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not name.strip():
        print("error: --name must not be empty", file=sys.stderr)
        return 2
    database = Database(settings.resolved_database_url())
    try:
        upgrade_to_head(database)
        with database.write_session() as session:
            _, plaintext = crud.create_api_key(session, name=name.strip(), scopes=scopes)
            session.commit()
    finally:
        database.dispose()
    print(plaintext)
    return 0


def _relay(settings: RegistrySettings) -> int:
    from registry_service.relay import OutboxRelay

    if not settings.nats_url:
        print("error: NATS_URL is not set", file=sys.stderr)
        return 2
    database = Database(settings.resolved_database_url())
    upgrade_to_head(database)
    relay = OutboxRelay(
        database,
        nats_url=settings.nats_url,
        stream=settings.nats_stream,
        subject_prefix=settings.nats_subject_prefix,
    )

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await relay.run(stop, interval=settings.relay_interval_seconds)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    database.dispose()
    return 0
