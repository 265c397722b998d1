"""The OpenAPI document describes the API: schemathesis drives a real registry server
(SQLite, then PostgreSQL) with every one of its checks and fails on any finding."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis import Case
from schemathesis.core.parameters import ParameterLocation

from registry_service.config import RegistrySettings
from registry_service.main import create_app
from scripts.harness.registry import RegistryProcess, create_key
from scripts.harness.services import POSTGRES_ADMIN_URL, free_port, temporary_postgres_database

# Bounded and reproducible: the same cases on every run, a few per operation and mode.
EXAMPLES_PER_OPERATION = 12
SEED = 2026


@dataclass(frozen=True)
class Registry:
    url: str
    key: str


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    """A registry server of the module's own, on a database of its own, per backend."""
    home = tmp_path_factory.mktemp(f"contract_{request.param}")
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            database_url = f"sqlite:///{home / 'registry.db'}"
        else:
            database_url = stack.enter_context(
                temporary_postgres_database(POSTGRES_ADMIN_URL, prefix="t26_contract")
            )
        env = {**os.environ, "TRADE2026_HOME": str(home), "REGISTRY_DATABASE_URL": database_url}
        env.pop("NATS_URL", None)
        server = stack.enter_context(
            RegistryProcess(port=free_port(), env=env, log_file=home / "registry.log")
        )
        yield Registry(server.url, create_key(name="contract", scopes="admin", env=env))


# Every check is on, with two widenings that JSON Schema cannot express: a schema-valid swap
# may be refused with 400 `swap_invalid` (e.g. entities that do not exist), the documented
# answer that lists every failed swap rule; and an entity's config may be refused with 422
# `config_invalid` when it does not satisfy the entity's own `config_schema` (or that is no
# JSON Schema), on create and on a config update.
CONFIG = """
[[operations]]
include-path-regex = "^/api/v1/swaps"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]

[[operations]]
include-path-regex = "^/api/v1/entities$"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]

[[operations]]
include-path-regex = "^/api/v1/entities/[^/]+$"
include-method = "PATCH"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]
"""

# The document the server publishes (the app builds it without connecting to anything).
schema = schemathesis.openapi.from_dict(
    create_app(RegistrySettings(nats_url=None)).openapi(),
    config=schemathesis.config.SchemathesisConfig.from_str(CONFIG),
)


@schema.parametrize()
@hypothesis.seed(SEED)
@hypothesis.settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_the_api_conforms_to_its_openapi_document(case: Case[Any], registry: Registry) -> None:
    # Every check schemathesis has on (its default; the README lists them): server errors,
    # status codes, content types, headers and response schemas, negative data rejected,
    # positive data accepted, missing headers, unsupported methods, Allow, ignored auth...
    header = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
    if case.headers and "Idempotency-Key" in case.headers and header and header.mode.is_positive:
        # Generated keys repeat ("0") across different bodies, and reusing a key for another
        # request is refused (422, as the Idempotency-Key draft says): one key per request.
        case.headers["Idempotency-Key"] = uuid.uuid4().hex
    case.call_and_validate(
        base_url=registry.url, headers={"Authorization": f"Bearer {registry.key}"}, timeout=10
    )
