"""Every failure leaves as JSON `{"detail", "code", ...}` with a 4xx/5xx, never a traceback."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry_service.errors import RegistryError, UnauthorizedError

log = logging.getLogger(__name__)


def error_body(detail: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"detail": detail, "code": code, **{k: v for k, v in extra.items() if v is not None}}


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str | None = None


class ErrorBody(BaseModel):
    """Every error answer: a readable `detail`, a machine `code`, and what else it names."""

    detail: str
    code: str
    errors: list[FieldError] | None = Field(
        default=None, description="422 `validation_error`: each invalid field."
    )
    details: dict[str, Any] | None = Field(
        default=None, description="What the error refers to (e.g. the conflicting resource)."
    )


_ERRORS = {
    400: "The request is invalid as a whole (`swap_invalid`: every failure listed).",
    401: "No API key, or an unknown or revoked one (`unauthorized`).",
    403: "The API key lacks the route's scope (`forbidden`).",
    404: "No such resource (`not_found`).",
    409: "The resource's state does not allow it (`conflict`, `swap_conflict`).",
    413: "The request body exceeds REGISTRY_MAX_BODY_BYTES (`payload_too_large`).",
    422: "Invalid parameters or body (`validation_error`, `idempotency_key_reused`, "
    "`unstorable_value`, `config_invalid`).",
    503: "The database is unavailable; retry (`database_unavailable`).",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a route's error statuses; 422 and 503 go with every route."""
    return {
        status: {"model": ErrorBody, "description": _ERRORS[status]}
        for status in sorted({*statuses, 422, 503})
    }


class MethodTable:
    """The methods each path of the API serves, for `Allow` on a 405: Starlette names only
    the first matching route's methods, and a path such as /entities/{id} has several."""

    def __init__(self) -> None:
        self._routes: list[tuple[re.Pattern[str], set[str]]] = []

    def add(self, prefix: str, router: APIRouter) -> None:
        for route in router.routes:
            if isinstance(route, APIRoute):
                self._routes.append(
                    (compile_path(prefix + route.path)[0], set(route.methods or ()))
                )

    def allowed(self, path: str) -> str:
        methods: set[str] = set()
        for pattern, served in self._routes:
            if pattern.match(path):
                methods |= served
        return ", ".join(sorted(methods))


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": err.get("type")}
        for err in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RegistryError)
    async def _registry_error(_: Request, exc: RegistryError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, UnauthorizedError) else None
        return JSONResponse(
            status_code=exc.status_code,
            content=error_body(exc.message, exc.code, details=exc.details),
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
        return JSONResponse(
            status_code=422,
            content=error_body(f"invalid request: {summary}", "validation_error", errors=errors),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        table: MethodTable | None = getattr(request.app.state, "methods", None)
        if exc.status_code == 405 and table is not None:
            headers["Allow"] = table.allowed(request.url.path)
        return JSONResponse(
            status_code=exc.status_code,
            content=error_body(str(exc.detail), f"http_{exc.status_code}"),
            headers=headers,
        )

    @app.exception_handler(DataError)
    async def _unstorable(_: Request, exc: DataError) -> JSONResponse:
        # The database's own message names its internals (statement parameters); log it only.
        log.warning("database refused a value: %s", exc.orig)
        return JSONResponse(
            status_code=422,
            content=error_body(
                "a value in the request cannot be stored (out of range or not valid text)",
                "unstorable_value",
            ),
        )

    @app.exception_handler(OperationalError)
    async def _database_down(_: Request, exc: OperationalError) -> JSONResponse:
        log.error("database error: %s", exc.orig)
        return JSONResponse(
            status_code=503,
            content=error_body("database unavailable, try again", "database_unavailable"),
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(status_code=500, content=error_body("internal error", "internal"))


class BodySizeLimit:
    """Refuse bodies over `max_bytes` with 413, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = error_body(f"request body exceeds {self.max_bytes} bytes", "payload_too_large")
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes or declared < 0:
                    await JSONResponse(status_code=413, content=too_large)(scope, receive, send)
                    return
        # Buffer the (bounded) body so an oversized one is refused before the app reads it.
        chunks: list[bytes] = []
        received = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its whole body
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                await JSONResponse(status_code=413, content=too_large)(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class JsonBodies:
    """The API speaks JSON only: read form-labelled or unlabelled bodies as JSON.

    `curl -d` labels bodies application/x-www-form-urlencoded, and the API's documented curl
    examples rely on it; a body that is not JSON still fails with a 422 naming the parse error.
    """

    _RELABEL = (b"", b"application/x-www-form-urlencoded")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            content_type = dict(scope["headers"]).get(b"content-type", b"")
            if content_type.split(b";")[0].strip().lower() in self._RELABEL:
                scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)
