"""The published API description: BentoML's, completed with what serving.gate answers
(a body is required; 401, 403, 413, 415 and the service's own 503 are documented), and
with one path per declared strategy (`/strategies/<name>/predict`, `.../signal`: each
body as its strategy's features make it) and `GET /strategies`."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from serving.schemas import SignalRequest, predict_request
from trade2026_assets.strategy.declaration import StrategyDeclaration

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
    "404": "The default strategy is not declared",
    "413": "Body too large (SERVING_MAX_BATCH_ROWS bounds it)",
    "415": "The body is not application/json",
    "503": "No model of the strategy is live (`error` says why)",
}
_POST = ("400", "401", "403", "413", "415", "503")
_GUARDED = {
    ("/predict", "post"): (*_POST, "404"),
    ("/signal", "post"): (*_POST, "404"),
    ("/v1/model", "get"): ("401", "403", "404"),
    ("/metrics", "get"): ("401", "403"),
}
_NAMED = {
    "strategy": {"type": "string"},
    "model": {"type": "string", "description": "The MLflow registered model."},
    "version": {"type": "string", "description": "Its live registered version."},
    "model_family": {"type": "string", "enum": ["xgboost", "logistic_regression"]},
    "deployment_id": {"type": "string"},
}
_PREDICTIONS = {
    "type": "object",
    "required": ["predictions", *_NAMED],
    "properties": {
        "predictions": {"type": "array", "items": {"type": "number"}},
        **_NAMED,
    },
}
_SIGNALS = {
    "type": "object",
    "required": ["signals", "errors", *_NAMED],
    "properties": {
        "signals": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["action", "size", "confidence", "probability", "features_as_of"],
                "properties": {
                    "action": {"type": "string", "enum": ["BUY", "SELL", "HOLD"]},
                    "size": {"type": "number"},
                    "confidence": {"type": "number"},
                    "probability": {"type": "number"},
                    "features_as_of": {"type": "string", "format": "date-time"},
                },
            },
        },
        "errors": {"type": "object", "additionalProperties": {"type": "string"}},
        **_NAMED,
    },
}
_LISTING = {
    "type": "object",
    "required": ["strategies"],
    "properties": {
        "strategies": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "route", "slot", "live", "why_not_live"],
                "properties": {
                    "name": {"type": "string"},
                    "route": {"type": "string"},
                    "slot": {"type": "string"},
                    "live": {"type": "object", "nullable": True},
                    "why_not_live": {"type": "string", "nullable": True},
                },
            },
        },
        "feature_store": {"type": "object"},
    },
}


def complete(
    spec: dict[str, Any], strategies: Sequence[StrategyDeclaration] = ()
) -> dict[str, Any]:
    """A copy of BentoML's OpenAPI document with the gate's answers and the strategies'
    routes in it."""
    spec = copy.deepcopy(spec)
    paths = spec.setdefault("paths", {})
    for (path, method), statuses in _GUARDED.items():
        operation = paths.get(path, {}).get(method)
        if operation is None:
            continue
        if "requestBody" in operation:
            operation["requestBody"]["required"] = True
        _document(operation.setdefault("responses", {}), statuses)
    paths["/strategies"] = {
        "get": {
            "summary": "Each declared strategy: what is live, or why nothing is",
            "operationId": "list_strategies",
            "responses": _document(
                {"200": _json("The declared strategies", _LISTING)}, ("401", "403")
            ),
        }
    }
    for declaration in strategies:
        name = declaration.name
        predict = predict_request(declaration.features).model_json_schema()
        paths[f"{declaration.route}/predict"] = {
            "post": _post(
                f"{name}_predict",
                f"{name}: up-probability per row of its features "
                f"({', '.join(declaration.features)}), from its live model",
                predict,
                _PREDICTIONS,
            )
        }
        paths[f"{declaration.route}/signal"] = {
            "post": _post(
                f"{name}_signal",
                f"{name}: BUY/SELL/HOLD per symbol from its online features and live model",
                SignalRequest.model_json_schema(),
                _SIGNALS,
            )
        }
    return spec


def _post(
    operation_id: str, summary: str, body: dict[str, Any], answer: dict[str, Any]
) -> dict[str, Any]:
    return {
        "summary": summary,
        "operationId": operation_id,
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": _document({"200": _json("Successful Response", answer)}, _POST),
    }


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _document(responses: dict[str, Any], statuses: Sequence[str]) -> dict[str, Any]:
    for status in statuses:
        responses[status] = _json(_REASONS[status], ERROR)
    return responses
