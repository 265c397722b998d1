"""What each request passes before the service sees it: its API key, its body's type and
size and its shape; and the request metrics, kept to the service's own routes.

An ASGI middleware (BentoML runs it inside its server, in every worker). A bad request is
answered here with a 4xx, a JSON `{"error": ...}` and one INFO line: BentoML's own answer
to a body it cannot use is a 500 (malformed multipart) or a 400 with an ERROR traceback.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from importlib import resources
from timeit import default_timer
from typing import Any

from pydantic import BaseModel, ValidationError

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

# Routes that answer without a key: probes, and the API's description.
PUBLIC = frozenset({"/livez", "/healthz", "/readyz", "/docs.json", "/schema.json", "/"})
# The paths this gate answers itself: GET and HEAD only.
_READ_ONLY = frozenset({"/metrics", "/docs.json"})
# The only paths that get request metrics (with the `routes` a gate is given): an unknown
# path, an undeclared strategy's among them, must not add series.
MEASURED = frozenset({"/predict", "/signal", "/v1/model", "/metrics", *PUBLIC})
# Where a checked body is left for the route (the request scope's state): it is not parsed
# twice.
VALIDATED_BODY = "trade2026.validated_body"
# Bodies up to this size are checked on the event loop (microseconds).
_PARSE_INLINE = 16 * 1024
# The API page's scripts and styles.
_ASSETS = ("/static_content/", "/assets/")


class RequestGate:
    def __init__(
        self,
        app: App,
        *,
        bodies: dict[str, tuple[type[BaseModel], int]],
        api_keys: dict[str, frozenset[str]] | None,
        openapi: Callable[[], dict[str, Any]],
        routes: frozenset[str] = frozenset(),
        namespace: str = "bentoml_service",
    ) -> None:
        """`bodies`: per POST path, its request model and the largest body accepted, in
        bytes. `api_keys`: SHA-256 of each key → its scopes; None: no key needed.
        `openapi`: the API's description, served at /docs.json. `routes`: more paths that
        get request metrics (the bodies' paths always do)."""
        self.app = app
        self.bodies = bodies
        self.measured = MEASURED | routes | frozenset(bodies)
        self.api_keys = api_keys
        self.openapi = openapi
        self._openapi_body: bytes | None = None
        self.namespace = namespace

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path not in self.measured:
            await self._gate(path, scope, receive, send)
            return
        start = default_timer()
        status = 0

        async def measured(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._gate(path, scope, receive, measured)
        finally:
            self._observe(path, status, default_timer() - start)

    async def _gate(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        public = path in PUBLIC or path.startswith(_ASSETS)
        needed = None if public else "metrics" if path == "/metrics" else "predict"
        if needed is not None and self.api_keys is not None:
            refused = self._refused(scope, needed)
            if refused is not None:
                await _answer(send, *refused, path=path)
                return
        if path in _READ_ONLY and scope["method"] not in ("GET", "HEAD"):
            # Served here, not by a router that would answer 405 itself.
            await _answer(send, 405, f"{path} answers GET and HEAD", path=path)
            return
        if path == "/metrics":
            await self._serve_metrics(send)
            return
        if path == "/" and scope["method"] in ("GET", "HEAD"):
            await _send(send, 200, api_page(), b"text/html; charset=utf-8")
            return
        if path == "/docs.json":
            if self._openapi_body is None:
                self._openapi_body = json.dumps(self.openapi()).encode()
            await _send(send, 200, self._openapi_body, b"application/json")
            return
        body_spec = self.bodies.get(path)
        if body_spec is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        model, limit = body_spec
        media_type = _header(scope, b"content-type").split(";")[0].strip().lower()
        if media_type != "application/json":
            await _answer(
                send, 415, "the body must be JSON (Content-Type: application/json)", path=path
            )
            return
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > limit:
            await _answer(send, 413, f"body of {declared} bytes: at most {limit}", path=path)
            return
        body = await _read_body(receive, limit)
        if body is None:
            await _answer(send, 413, f"body over {limit} bytes", path=path)
            return
        try:
            if len(body) > _PARSE_INLINE:
                # A large batch takes milliseconds to check: not on the event loop, which
                # serves every other request of this worker meanwhile.
                import anyio.to_thread

                validated = await anyio.to_thread.run_sync(model.model_validate_json, body)
            else:
                validated = model.model_validate_json(body)
        except ValidationError as exc:
            await _answer(send, 400, path=path, **validation_problem(exc))
            return
        scope.setdefault("state", {})[VALIDATED_BODY] = validated
        await self.app(scope, _replay(body), send)

    def _refused(self, scope: Scope, needed: str) -> tuple[int, str] | None:
        assert self.api_keys is not None
        scheme, _, key = _header(scope, b"authorization").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return 401, "an API key is required: Authorization: Bearer <key>"
        scopes = self.api_keys.get(hashlib.sha256(key.strip().encode()).hexdigest())
        if scopes is None:
            return 401, "unknown API key"
        if needed not in scopes:
            return 403, f"this API key lacks the '{needed}' scope"
        return None

    # -- metrics -----------------------------------------------------------------------

    def _observe(self, path: str, status: int, seconds: float) -> None:
        total, duration = _instruments(self.namespace)
        total.labels(endpoint=path, http_response_code=status).inc()
        duration.labels(endpoint=path, http_response_code=status).observe(seconds)

    async def _serve_metrics(self, send: Send) -> None:
        import anyio.to_thread
        from bentoml._internal.configuration.containers import BentoMLContainer

        client = BentoMLContainer.metrics_client.get()
        content = await anyio.to_thread.run_sync(client.generate_latest)
        await _send(send, 200, content, client.CONTENT_TYPE_LATEST.encode())


# BentoML's API page loads Google Tag Manager (a script and an iframe from Google): every
# visit to a service's page would be reported to a third party, and an offline page
# waits on it.
_TAG_MANAGER = re.compile(
    r"[ \t]*<!-- Google Tag Manager( \(noscript\))? -->.*?"
    r"<!-- End Google Tag Manager( \(noscript\))? -->\n?",
    re.DOTALL,
)


PAGE_TITLE = "Trade2026 serving"


@functools.cache
def api_page() -> bytes:
    """BentoML's Swagger UI page (the one its `/` serves), titled as the service and without
    Google Tag Manager."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    name = "main-ui.html" if BentoMLContainer.new_index else "main-openapi.html"
    # Where BentoML's server keeps it (`_bentoml_impl/server/app.py`'s index_page).
    html = (resources.files("_bentoml_impl.server") / name).read_text(encoding="utf-8")
    html = html.replace("<title>BentoML Prediction Service</title>", f"<title>{PAGE_TITLE}</title>")
    return _TAG_MANAGER.sub("", html).encode()


@functools.cache
def _instruments(namespace: str) -> tuple[Any, Any]:
    """The request counter and histogram, registered once per process (a second gate, as
    when an app is built again, shares them: Prometheus refuses a metric registered twice)."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    client = BentoMLContainer.metrics_client.get()
    labels = ["endpoint", "http_response_code"]
    return (
        client.Counter(
            namespace=namespace,
            name="request_total",
            documentation="HTTP requests per route and status",
            labelnames=labels,
        ),
        client.Histogram(
            namespace=namespace,
            name="request_duration_seconds",
            documentation="HTTP request duration per route and status, in seconds",
            labelnames=labels,
            buckets=BentoMLContainer.duration_buckets.get(),
        ),
    )


async def _send(send: Send, status: int, body: bytes, content_type: bytes, extra: Any = ()) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *extra]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def validation_problem(exc: ValidationError) -> dict[str, Any]:
    """The answer to a body that does not fit its model: `error` and `detail`."""
    return {
        "error": _summary(exc),
        "detail": exc.errors(include_url=False, include_context=False, include_input=False),
    }


def _summary(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "body"
        problems.append(f"{where}: {error['msg']}")
    shown = "; ".join(problems[:5]) + (f"; … {len(problems) - 5} more" if len(problems) > 5 else "")
    return f"{exc.error_count()} validation error(s): {shown}"


async def _answer(
    send: Send, status: int, error: str, *, path: str = "", detail: Any = None
) -> None:
    log.info("refused %s: %d %s", path or "request", status, error[:300])
    payload: dict[str, Any] = {"error": error}
    if detail is not None:
        payload["detail"] = detail
    extra = (
        [(b"www-authenticate", b"Bearer")]
        if status == 401
        else [(b"allow", b"GET, HEAD")]
        if status == 405
        else []
    )
    await _send(send, status, json.dumps(payload).encode(), b"application/json", extra)
