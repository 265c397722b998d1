"""The published API description: BentoML's, completed with what serving.gate answers
(a body is required; 401, 403, 413, 415 and the service's own 503 are documented)."""

from __future__ import annotations

import copy
from typing import Any

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "detail": {"type": "array", "items": {"type": "object"}},
    },
}
_REASONS = {
    "400": "Bad request: the body does not fit the schema (the reasons in `error`, `detail`)",
    "401": "No or unknown API key (when keys are required)",
    "403": "The API key lacks the route's scope",
    "413": "Body too large (SERVING_MAX_BATCH_ROWS bounds it)",
    "415": "The body is not application/json",
    "503": "No model loaded yet",
}
_GUARDED = {
    ("/predict", "post"): ("400", "401", "403", "413", "415", "503"),
    ("/signal", "post"): ("400", "401", "403", "413", "415", "503"),
    ("/v1/model", "get"): ("401", "403"),
    ("/metrics", "get"): ("401", "403"),
}


def complete(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of BentoML's OpenAPI document with the gate's answers in it."""
    spec = copy.deepcopy(spec)
    for (path, method), statuses in _GUARDED.items():
        operation = spec.get("paths", {}).get(path, {}).get(method)
        if operation is None:
            continue
        if "requestBody" in operation:
            operation["requestBody"]["required"] = True
        responses = operation.setdefault("responses", {})
        for status in statuses:
            responses[status] = {
                "description": _REASONS[status],
                "content": {"application/json": {"schema": ERROR}},
            }
    return spec
