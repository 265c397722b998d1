"""Outbox relay: publishes committed outbox events to NATS JetStream, at least once.

Each message carries `Nats-Msg-Id: <event_id>`, so JetStream drops a re-publish of an
event inside the stream's duplicate window (a relay that died between publishing and
marking the row). With NATS down, events wait in the outbox and go out on reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError as StreamNotFound

from registry_service import crud
from registry_service.db import Database
from registry_service.models import OutboxEvent, utcnow

log = logging.getLogger(__name__)

DUPLICATE_WINDOW_SECONDS = 3600.0


def subject_for(prefix: str, event: OutboxEvent) -> str:
    return f"{prefix}.{event.kind}.{event.action}"


def message_body(event: OutboxEvent) -> bytes:
    body: dict[str, Any] = {
        "event_id": str(event.event_id),
        "seq": event.seq,
        "kind": event.kind,
        "action": event.action,
        "subject_id": str(event.subject_id),
        "occurred_at": event.occurred_at.isoformat(),
        "payload": event.payload,
    }
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


async def _log_nats_error(exc: Exception) -> None:
    # The relay reports failures itself; keep the client's own tracebacks out of the logs.
    log.debug("nats client: %s", exc)


@dataclass
class RelayHealth:
    """What readiness reports about an in-process relay: its last pass, and since when it
    fails (a stream JetStream refuses fails as surely as a NATS that is down)."""

    state: str = "starting"  # starting, ok, failing
    error: str | None = None
    failing_since: datetime | None = None
    last_success_at: datetime | None = None

    def succeeded(self) -> None:
        self.state, self.error, self.failing_since = "ok", None, None
        self.last_success_at = utcnow()

    def failed(self, error: str) -> None:
        if self.state != "failing":
            self.failing_since = utcnow()
        self.state, self.error = "failing", error


class OutboxRelay:
    def __init__(
        self,
        database: Database,
        *,
        nats_url: str,
        stream: str,
        subject_prefix: str,
        batch_size: int = 200,
        connect_timeout: float = 2.0,
        publish_timeout: float = 5.0,
    ) -> None:
        self.database = database
        self.nats_url = nats_url
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.batch_size = batch_size
        self.connect_timeout = connect_timeout
        self.publish_timeout = publish_timeout
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self.health = RelayHealth()

    async def _jetstream(self) -> JetStreamContext:
        if self._js is not None and self._nc is not None and self._nc.is_connected:
            return self._js
        await self.close()
        nc = await nats.connect(
            servers=[self.nats_url],
            connect_timeout=self.connect_timeout,
            allow_reconnect=False,
            # nats-py treats 0 as "retry forever"; 1 means two attempts, then NoServersError.
            max_reconnect_attempts=1,
            reconnect_time_wait=0,
            error_cb=_log_nats_error,
        )
        js = nc.jetstream(timeout=self.publish_timeout)
        try:
            await js.stream_info(self.stream)
        except StreamNotFound:
            await js.add_stream(
                StreamConfig(
                    name=self.stream,
                    subjects=[f"{self.subject_prefix}.>"],
                    duplicate_window=DUPLICATE_WINDOW_SECONDS,
                )
            )
        self._nc, self._js = nc, js
        return js

    async def publish_pending(self) -> int:
        """Publish every unpublished event; returns how many went out. Raises if NATS fails."""
        published = 0
        while True:
            batch = await asyncio.to_thread(self._load_batch)
            if not batch:
                return published
            js = await self._jetstream()
            sent = []
            try:
                for event in batch:
                    await js.publish(
                        subject_for(self.subject_prefix, event),
                        message_body(event),
                        headers={"Nats-Msg-Id": str(event.event_id)},
                        timeout=self.publish_timeout,
                    )
                    sent.append(event.event_id)
            finally:
                # Whatever reached JetStream is marked, even if a later publish failed.
                if sent:
                    await asyncio.to_thread(self._mark, sent)
                    published += len(sent)

    def _load_batch(self) -> list[OutboxEvent]:
        with self.database.read_session() as session:
            return list(crud.list_unpublished_events(session, limit=self.batch_size))

    def _mark(self, event_ids: list[Any]) -> None:
        with self.database.write_session() as session:
            crud.mark_events_published(session, event_ids=event_ids)
            session.commit()

    async def run(self, stop: asyncio.Event, *, interval: float) -> None:
        """Relay until `stop` is set; NATS failures back off and retry, never lose events."""
        backoff = interval
        while not stop.is_set():
            try:
                await self.publish_pending()
                self.health.succeeded()
                backoff = interval
            except Exception as exc:  # noqa: BLE001 - the relay never dies: every failure is retried
                problem = self._describe(exc)
                self.health.failed(problem)
                log.warning("outbox relay: %s; retrying in %.1fs", problem, backoff)
                await self.close()
                backoff = min(backoff * 2, 10.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=backoff)
        await self.close()

    def _describe(self, exc: Exception) -> str:
        if isinstance(exc, nats.js.errors.APIError):
            # NATS answers, but JetStream refuses: e.g. the stream's subjects overlap another's.
            return f"JetStream refused stream '{self.stream}': {exc.description or exc}"
        if isinstance(exc, OSError | TimeoutError | nats.errors.Error | nats.js.errors.Error):
            return f"NATS unavailable ({type(exc).__name__}: {exc})"
        log.error("outbox relay: unexpected error", exc_info=exc)
        return f"unexpected error ({type(exc).__name__}: {exc})"

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            try:
                await nc.close()
            except (OSError, nats.errors.Error) as exc:
                log.debug("outbox relay: error closing NATS connection: %s", exc)
