"""Domain errors. The API turns each into a JSON body with a 4xx status."""

from __future__ import annotations

from typing import Any


class RegistryError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFoundError(RegistryError):
    status_code = 404
    code = "not_found"


class ConflictError(RegistryError):
    status_code = 409
    code = "conflict"


class UnauthorizedError(RegistryError):
    status_code = 401
    code = "unauthorized"


class ForbiddenError(RegistryError):
    status_code = 403
    code = "forbidden"


class IdempotencyKeyReusedError(RegistryError):
    status_code = 422
    code = "idempotency_key_reused"


class UnstorableValueError(RegistryError):
    status_code = 422
    code = "unstorable_value"


class ConfigInvalidError(RegistryError):
    status_code = 422
    code = "config_invalid"
