"""Strategy declarations written by tests: a directory of YAML files, as a user writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from trade2026_assets.settings import STRATEGIES_DIR
from trade2026_assets.strategy.declaration import Strategies, load_strategies

DEFAULT = "default_ml_strategy"


def shipped(name: str) -> dict[str, Any]:
    """A strategy file shipped in `strategies/`, as a mapping."""
    document: dict[str, Any] = yaml.safe_load((STRATEGIES_DIR / f"{name}.yaml").read_text())
    return document


def merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def write_strategies(directory: Path, declarations: Mapping[str, Mapping[str, Any]]) -> Path:
    """One file per strategy (`<name>.yaml`), replacing the directory's files."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.yaml"):
        old.unlink()
    for name, fields in declarations.items():
        (directory / f"{name}.yaml").write_text(yaml.safe_dump({"name": name, **fields}))
    return directory


def declared(
    directory: Path,
    declarations: Mapping[str, Mapping[str, Any]],
    symbols: Sequence[str],
) -> Strategies:
    """The strategies of `declarations`, written to `directory` and loaded from it."""
    return load_strategies(write_strategies(directory, declarations), symbols=symbols)


def default_with(**changes: Any) -> dict[str, Any]:
    """The shipped default strategy with `changes` (nested mappings merge)."""
    fields = shipped(DEFAULT)
    fields.pop("name")
    return merged(fields, changes)
