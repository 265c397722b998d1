"""The route class of every registry router: body parse failures answered like the API's
other invalid input, and only to a caller whose key the route accepts."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from registry_service import auth
from registry_service.api.deps import RequireScope, authenticate


def _required_scope(dependant: Dependant) -> auth.Scope | None:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, RequireScope):
            return dependency.call.scope
        found = _required_scope(dependency)
        if found is not None:
            return found
    return None


def _unparsable(cause: BaseException | None) -> str | None:
    """Why FastAPI could not read the body as JSON (it answers those 400), or None."""
    if isinstance(cause, UnicodeDecodeError):
        return f"body is not UTF-8: {cause.reason} at byte {cause.start}"
    if isinstance(cause, ValueError):
        # e.g. an integer beyond Python's 4300-digit limit; the advice after ";" is Python's.
        return f"body is not valid JSON: {str(cause).split(';')[0]}"
    return None


class RegistryRoute(APIRoute):
    """FastAPI parses a JSON body before it runs the dependencies that check the key, and
    answers a body that is not UTF-8 or holds an over-long integer with 400. Here a body
    that cannot be parsed is a 422 `validation_error`, after the key is checked (401/403)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        scope = _required_scope(self.dependant)

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                if not any(error.get("type") == "json_invalid" for error in exc.errors()):
                    raise
                failure = exc
            except HTTPException as exc:
                reason = _unparsable(exc.__cause__) if exc.status_code == 400 else None
                if reason is None:
                    raise
                failure = RequestValidationError(
                    [{"type": "json_invalid", "loc": ("body",), "msg": reason, "input": {}}]
                )
            if scope is not None:
                authenticate(request, scope)
            raise failure

        return route_handler
