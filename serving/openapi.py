"""The published API description: BentoML's, completed with what serving.gate answers
(a body is required; 401, 403, 413, 415 and the service's own 503 are documented), and
with one path per declared strategy (`/strategies/<name>/predict`, `.../signal`: each
body as its strategy's features make it, with an example that works) and `GET /strategies`;
its title, description and version are the project's, not BentoML's placeholders."""

from __future__ import annotations

import copy
import importlib.metadata
from collections.abc import Mapping, Sequence
from typing import Any

from serving.schemas import PredictRequest, SignalRequest, predict_request
from trade2026_assets.strategy.declaration import DEFAULT_STRATEGY, StrategyDeclaration

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
    "required": ["strategies", "worker", "ready"],
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
        "worker": {
            "type": "string",
            "description": "The worker that answered: each follows the registry on its own.",
        },
        "ready": {"type": "boolean", "description": "That worker's readiness (`/readyz`)."},
    },
}


def complete(
    spec: dict[str, Any],
    strategies: Sequence[StrategyDeclaration] = (),
    examples: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A copy of BentoML's OpenAPI document with the gate's answers and the strategies'
    routes in it. `examples`: per strategy name, its `predict` and `signal` bodies."""
    spec = copy.deepcopy(spec)
    examples = examples or {}
    spec["info"] = _info(strategies)
    paths = spec.setdefault("paths", {})
    for operations in paths.values():
        for operation in operations.values():
            # BentoML keys some responses by int: with the gate's "400" next to its 400 the
            # JSON holds one key twice, and Swagger UI renders nothing ("duplicated mapping
            # key").
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"] = {str(k): v for k, v in operation["responses"].items()}
    for (path, method), statuses in _GUARDED.items():
        operation = paths.get(path, {}).get(method)
        if operation is None:
            continue
        if "requestBody" in operation:
            operation["requestBody"]["required"] = True
            if path == "/predict":
                # BentoML's copy of the body drops `columns`' null, which is accepted
                # (an omitted field, as clients that serialize None send it).
                operation["requestBody"]["content"]["application/json"]["schema"] = openapi_3_0(
                    PredictRequest.model_json_schema()
                )
            # The unprefixed routes answer for the default strategy.
            example = examples.get(DEFAULT_STRATEGY, {}).get(path.strip("/"))
            if example is not None:
                operation["requestBody"]["content"]["application/json"]["example"] = example
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
                openapi_3_0(predict),
                _PREDICTIONS,
                examples.get(name, {}).get("predict"),
            )
        }
        paths[f"{declaration.route}/signal"] = {
            "post": _post(
                f"{name}_signal",
                f"{name}: BUY/SELL/HOLD per symbol from its online features and live model",
                openapi_3_0(SignalRequest.model_json_schema()),
                _SIGNALS,
                examples.get(name, {}).get("signal"),
            )
        }
    return spec


def openapi_3_0(schema: Any) -> Any:
    """A JSON Schema (pydantic's) as OpenAPI 3.0 says it, which has no `null` type: an
    `anyOf` of one schema and null is that schema, `nullable`."""
    if isinstance(schema, list):
        return [openapi_3_0(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: openapi_3_0(value) for key, value in schema.items()}
    options = converted.get("anyOf")
    if isinstance(options, list):
        others = [o for o in options if o != {"type": "null"}]
        if len(others) == 1 and len(others) < len(options):
            del converted["anyOf"]
            converted = {**others[0], **converted, "nullable": True}
    return converted


def _info(strategies: Sequence[StrategyDeclaration]) -> dict[str, Any]:
    names = ", ".join(f"`{d.name}`" for d in strategies) or "none"
    return {
        "title": "Trade2026 serving",
        "version": importlib.metadata.version("trade2026"),
        "description": (
            # BentoML's page hides the title (it shows the version only): say it here too.
            "Trade2026 serving: predictions and BUY/SELL/HOLD signals of every declared "
            "strategy, each from the "
            "model its registry slot names live (swapped without dropping a request). "
            "`POST /strategies/<name>/predict` takes rows of the strategy's features, "
            "`POST /strategies/<name>/signal` symbols whose online features it reads; "
            f"`/predict` and `/signal` answer for `{DEFAULT_STRATEGY}`. `GET /strategies` says "
            "what is live, or why nothing is. Declared strategies: "
            f"{names}."
        ),
    }


def _post(
    operation_id: str,
    summary: str,
    body: dict[str, Any],
    answer: dict[str, Any],
    example: Any = None,
) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": body}
    if example is not None:
        content["example"] = example
    return {
        "summary": summary,
        "operationId": operation_id,
        "requestBody": {"required": True, "content": {"application/json": content}},
        "responses": _document({"200": _json("Successful Response", answer)}, _POST),
    }


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _document(responses: dict[str, Any], statuses: Sequence[str]) -> dict[str, Any]:
    for status in statuses:
        responses[status] = _json(_REASONS[status], ERROR)
    return responses
