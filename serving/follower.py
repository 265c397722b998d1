"""Following the registry: whatever the slot's live deployment names is the live model.

A background thread asks the registry what is live (every `poll_interval_s`, and at once
when a registry event arrives over NATS). When the live deployment changes it loads the
new model and warms it while the old one keeps answering, then switches with one
reference assignment, and acknowledges the swap. A model that cannot load, whatever the
reason, is never switched to; the registry hears about it as a failed acknowledgement,
and the load is retried every `retry_failed_s` (the model store may have been away).
While the registry is unreachable the last good model keeps serving and the status says
so. No failure ends the thread; if it ends anyway, `healthy()` says so (readiness).

One follower per slot, each with its own thread: a slow load or a failing model of one
strategy never delays another's swap. The NATS connection is shared (`RegistryEvents`):
any registry event wakes every follower, whose poll then finds whether its slot changed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from registry_service.client import RegistryClient, RegistryClientError
from serving.live_model import Deployment, LiveModel, ModelLoadError

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class PendingAck:
    swap_id: str
    serving_since: datetime | None = None
    old_served_until: datetime | None = None
    error: str | None = None


@dataclass
class FollowerStatus:
    registry_reachable: bool = False
    registry_error: str | None = None
    last_poll_at: datetime | None = None
    slot_empty: bool = False
    switches: int = 0
    failed_deployments: dict[str, str] = field(default_factory=dict)
    unsent_acks: int = 0
    # The last poll's unexpected failure (not the registry being away), if any.
    poll_error: str | None = None
    events: RegistryEvents | None = None

    @property
    def nats(self) -> str:
        """The registry events' connection: "off" without one."""
        return "off" if self.events is None else self.events.state


class RegistryEvents:
    """One NATS connection to the registry's events, shared by followers: each event
    sets every subscribed follower's wake-up. Reconnects for ever; `state` says how it is."""

    def __init__(self, nats_url: str, *, subject_prefix: str = "trade2026.registry") -> None:
        self.nats_url = nats_url
        self.nats_subject_prefix = subject_prefix
        self.state = "connecting"
        self._wakes: list[threading.Event] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def subscribe(self, wake: threading.Event) -> None:
        self._wakes.append(wake)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._listen, name="registry-events")
            self._thread.daemon = True
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _wake_all(self) -> None:
        for wake in self._wakes:
            wake.set()

    def _listen(self) -> None:
        asyncio.run(self._listen_async())

    async def _listen_async(self) -> None:
        import nats
        from nats.errors import Error as NatsError

        async def wake(_: Any) -> None:
            self._wake_all()

        async def disconnected() -> None:
            self._nats_state("disconnected")

        async def reconnected() -> None:
            self._nats_state("connected")
            self._wake_all()

        async def failed(exc: Exception) -> None:
            # Called on every failed reconnect attempt: one line when the state changes,
            # not a traceback per attempt (nats-py's default).
            self._nats_state(f"unreachable: {type(exc).__name__}: {exc}")

        while not self._stop.is_set():
            try:
                client = await nats.connect(
                    self.nats_url,
                    connect_timeout=2,
                    max_reconnect_attempts=-1,
                    disconnected_cb=disconnected,
                    reconnected_cb=reconnected,
                    error_cb=failed,
                )
            except (NatsError, OSError) as exc:
                self._nats_state(f"unreachable: {type(exc).__name__}: {exc}")
                await asyncio.sleep(2)
                continue
            await client.subscribe(f"{self.nats_subject_prefix}.swap.>", cb=wake)
            await client.subscribe(f"{self.nats_subject_prefix}.deployment.>", cb=wake)
            self._nats_state("connected")
            while not self._stop.is_set():
                await asyncio.sleep(0.2)
            await client.close()

    def _nats_state(self, state: str) -> None:
        if state != self.state:
            log.log(
                logging.INFO if state == "connected" else logging.WARNING,
                "registry events (NATS %s): %s",
                without_credentials(self.nats_url),
                state,
            )
        self.state = state


class RegistryFollower:
    def __init__(
        self,
        registry: RegistryClient,
        *,
        environment: str,
        slot: str,
        consumer: str,
        loader: Callable[[Deployment], LiveModel],
        poll_interval_s: float = 1.0,
        retry_failed_s: float = 30.0,
        nats_url: str = "",
        nats_subject_prefix: str = "trade2026.registry",
        events: RegistryEvents | None = None,
    ) -> None:
        """`events`: a shared connection to the registry's events; without it, a non-empty
        `nats_url` gives this follower a connection of its own."""
        self.registry = registry
        self.environment = environment
        self.slot = slot
        self.consumer = consumer
        self.loader = loader
        self.poll_interval_s = poll_interval_s
        self.retry_failed_s = retry_failed_s
        self._failed_at: dict[str, float] = {}
        # A connection of its own is this follower's to start and stop; a shared one is not.
        self._owns_events = events is None and bool(nats_url)
        if events is None and nats_url:
            events = RegistryEvents(nats_url, subject_prefix=nats_subject_prefix)
        self.events = events
        # Read by request handlers without a lock: one attribute, replaced whole.
        self.live: LiveModel | None = None
        self.status = FollowerStatus(events=events)
        self.started_at = utcnow()
        self._pending: list[PendingAck] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # One poll at a time (the thread's, or a test's).
        self._poll_lock = threading.Lock()
        # The swap whose outcome this worker last reported (or found done at start).
        self._answered_swap: str | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Load what is live now (so a worker with a live slot is ready before it serves),
        then follow in the background."""
        self.poll_once()
        self._threads.append(threading.Thread(target=self._run, name=f"follower-{self.slot}"))
        if self.events is not None:
            self.events.subscribe(self._wake)
            if self._owns_events:
                self.events.start()
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.events is not None and self._owns_events:
            self.events.stop()
        self.registry.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._wake.wait(self.poll_interval_s)
            self._wake.clear()

    def healthy(self) -> bool:
        """The follower thread runs and has polled lately (a poll may wait for the registry
        and load a model: allow for both)."""
        thread = self._threads[0] if self._threads else None
        if thread is None or not thread.is_alive():
            return False
        last = self.status.last_poll_at
        budget = 10 * self.poll_interval_s + 180
        return last is not None and (utcnow() - last).total_seconds() < budget

    # -- one poll ----------------------------------------------------------------------

    def poll_once(self) -> None:
        with self._poll_lock:
            try:
                self._send_pending_acks()
                self._follow()
                self.status.registry_reachable = True
                self.status.registry_error = None
                self.status.poll_error = None
            except (httpx.HTTPError, RegistryClientError) as exc:
                self.status.registry_reachable = False
                self.status.registry_error = f"{type(exc).__name__}: {exc}"
                log.warning("registry unreachable, serving the last model: %s", exc)
            except Exception as exc:
                # Anything else (a malformed answer, a bug): the last model keeps serving
                # and the next poll tries again; the thread must not end here.
                error = f"{type(exc).__name__}: {exc}"
                if error != self.status.poll_error:
                    log.exception("registry poll failed, serving the last model")
                self.status.poll_error = error
            finally:
                self.status.last_poll_at = utcnow()
                self.status.unsent_acks = len(self._pending)

    def _follow(self) -> None:
        live = self.registry.live(environment=self.environment, slot=self.slot)
        self.status.slot_empty = live.deployment is None
        deployment_id = str(live.deployment.deployment_id) if live.deployment else None
        # A failure is about the slot's present deployment; once it moved on, it is history
        # (and a later swap back to that deployment tries it afresh).
        for failed in [d for d in self.status.failed_deployments if d != deployment_id]:
            self.status.failed_deployments.pop(failed, None)
            self._failed_at.pop(failed, None)
        if live.deployment is None or deployment_id is None:
            return
        current = self.live
        swap_id = str(live.activated_by_swap_id) if live.activated_by_swap_id else None
        # A swap made before this worker started was acknowledged by the workers then.
        acknowledge = swap_id is not None and (
            current is not None
            or (live.activated_at is not None and live.activated_at >= self.started_at)
        )
        if current is not None and current.deployment.deployment_id == deployment_id:
            if (
                acknowledge
                and swap_id is not None
                and swap_id not in (self._answered_swap, current.deployment.swap_id)
            ):
                # A swap back to the model this worker never stopped serving (the swap
                # away from it failed here): it serves the swap's target already.
                now = utcnow()
                self._answered_swap = swap_id
                self._acknowledge(PendingAck(swap_id, now, now))
            return
        failed_at = self._failed_at.get(deployment_id)
        if failed_at is not None and time.monotonic() - failed_at < self.retry_failed_s:
            return
        try:
            deployment = Deployment.from_config(
                deployment_id=deployment_id,
                entity_id=str(live.deployment.entity_id),
                entity_name=live.deployment.entity_name,
                entity_version=live.deployment.version,
                config=live.deployment.config_snapshot,
                activated_at=live.activated_at,
                swap_id=swap_id,
            )
            loaded = self.loader(deployment)
        except Exception as exc:  # noqa: BLE001 - any failure to load is a failed load
            # Whatever stops a model from loading (a missing version, an unreadable or
            # malformed file, a bug in the loader) is a failed load: retried later (MLflow
            # may have been away); the registry hears it once.
            error = str(exc) if isinstance(exc, ModelLoadError) else f"{type(exc).__name__}: {exc}"
            first_failure = deployment_id not in self._failed_at
            self._failed_at[deployment_id] = time.monotonic()
            self.status.failed_deployments[deployment_id] = error
            log.error("not switching to deployment %s: %s", deployment_id, error)
            if acknowledge and swap_id is not None and first_failure:
                self._answered_swap = swap_id
                self._acknowledge(PendingAck(swap_id, error=error))
            return
        switched = utcnow()
        self.live = loaded.switched_in(switched)
        self.status.failed_deployments.pop(deployment_id, None)
        self._failed_at.pop(deployment_id, None)
        self.status.switches += 1
        log.info(
            "serving %s (deployment %s, swap %s)", deployment.model_uri, deployment_id, swap_id
        )
        if acknowledge and swap_id is not None:
            # The old model answered until this instant; the new one from it.
            old_until = switched if current is not None else None
            self._answered_swap = swap_id
            self._acknowledge(PendingAck(swap_id, switched, old_until))

    def _acknowledge(self, ack: PendingAck) -> None:
        self._pending.append(ack)
        self._send_pending_acks()

    def _send_pending_acks(self) -> None:
        while self._pending:
            ack = self._pending[0]
            try:
                self.registry.acknowledge(
                    ack.swap_id,
                    consumer=self.consumer,
                    serving_since=ack.serving_since,
                    old_served_until=ack.old_served_until,
                    error=ack.error,
                )
            except RegistryClientError as exc:
                if exc.status_code < 500:
                    # Refused for good (e.g. the swap failed meanwhile): do not resend.
                    log.warning("acknowledgement of swap %s refused: %s", ack.swap_id, exc)
                else:
                    raise
            self._pending.pop(0)

    # -- what the service reports ----------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        live = self.live
        status = self.status
        following = self.healthy()
        return {
            "ready": live is not None and following,
            "live": None if live is None else describe_model(live),
            "follower": {"running": following, "error": status.poll_error},
            "registry": {
                "url": str(self.registry.base_url),
                "environment": self.environment,
                "slot": self.slot,
                "reachable": status.registry_reachable,
                "error": status.registry_error,
                "last_poll_at": _iso(status.last_poll_at),
                "slot_empty": status.slot_empty,
                "events": status.nats,
            },
            "consumer": self.consumer,
            "switches": status.switches,
            "failed_deployments": dict(status.failed_deployments),
            "unsent_acknowledgements": status.unsent_acks,
        }


def describe_model(live: LiveModel) -> dict[str, Any]:
    deployment = live.deployment
    return {
        "model_uri": deployment.model_uri,
        "model_version": live.model_version,
        "deployment_id": deployment.deployment_id,
        "entity_id": deployment.entity_id,
        "entity": f"{deployment.entity_name} {deployment.entity_version}",
        "activated_at": _iso(deployment.activated_at),
        "activated_by_swap_id": deployment.swap_id,
        "serving_since": _iso(live.serving_since),
        "loaded_at": _iso(live.loaded_at),
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def without_credentials(url: str) -> str:
    """A URL fit for a log line: any user and password dropped (`nats://user:pw@host`)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))
