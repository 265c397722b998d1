"""API keys: generation, hashing and scope rules."""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    DEPLOY = "deploy"
    ADMIN = "admin"


KEY_PREFIX = "t26"


def parse_scopes(raw: str) -> frozenset[Scope]:
    """`"read,write"` → scopes; raises ValueError naming any unknown scope."""
    names = [part.strip() for part in raw.split(",") if part.strip()]
    if not names:
        raise ValueError("at least one scope is required (read, write, deploy, admin)")
    unknown = sorted(set(names) - {s.value for s in Scope})
    if unknown:
        raise ValueError(f"unknown scope(s): {', '.join(unknown)}; use read, write, deploy, admin")
    return frozenset(Scope(n) for n in names)


def format_scopes(scopes: frozenset[Scope]) -> str:
    return ",".join(sorted(s.value for s in scopes))


def grants(granted: frozenset[Scope], needed: Scope) -> bool:
    """admin grants everything; otherwise a scope grants only itself."""
    return Scope.ADMIN in granted or needed in granted


def new_key() -> tuple[str, str]:
    """A fresh key and its public prefix: `t26_<prefix>_<256-bit secret>`."""
    prefix = secrets.token_hex(4)
    return f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}", prefix


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
