"""An entity's optional JSON Schema for its config, checked on create and on every config
update. The registry knows no config rules of its own: whoever declares an entity (a
strategy declaration, say) supplies the schema its config must satisfy."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing.exceptions import Unresolvable

from registry_service.errors import ConfigInvalidError

# A message quotes the offending value; keep a huge one from flooding the answer.
_MAX_MESSAGE = 300


def _one_line(message: str) -> str:
    text = " ".join(message.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _validator(schema: dict[str, Any]) -> Validator:
    """A validator of the schema's own draft (`$schema`), 2020-12 when it names none;
    refuses a schema that is not one."""
    if not isinstance(schema.get("$schema", ""), str):
        # validator_for would fail on it with an AttributeError, not say what is wrong.
        raise ConfigInvalidError(
            "config_schema is not a valid JSON Schema at $['$schema']: it must be a URI string",
            details={"field": "config_schema", "path": "$['$schema']"},
        )
    cls = validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        where = exc.json_path if exc.path else "its root"
        raise ConfigInvalidError(
            f"config_schema is not a valid JSON Schema at {where}: {_one_line(exc.message)}",
            details={"field": "config_schema", "path": exc.json_path},
        ) from None
    validator: Validator = cls(schema)
    return validator


def check_config(schema: dict[str, Any] | None, config: dict[str, Any]) -> None:
    """Raise `ConfigInvalidError` (422) naming the first failing path unless `config`
    satisfies `schema`; no schema accepts any JSON object."""
    if schema is None:
        return
    validator = _validator(schema)
    try:
        error: ValidationError | None = best_match(validator.iter_errors(config))
    except Unresolvable as exc:
        # Only references within the schema resolve: the registry fetches nothing.
        raise ConfigInvalidError(
            f"config_schema has a reference that does not resolve: {_one_line(str(exc))}",
            details={"field": "config_schema"},
        ) from None
    if error is not None:
        raise ConfigInvalidError(
            f"config does not match config_schema at {error.json_path}: {_one_line(error.message)}",
            details={"field": "config", "path": error.json_path},
        )
