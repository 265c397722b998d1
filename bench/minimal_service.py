"""The serving benchmark's reference: a minimal BentoML service of one typed API.

A class service with 2 workers and the server settings ours runs with (access log and
BentoML's request metrics off), whose one `@bentoml.api` takes rows of floats and returns
one float per row from a trivial computation (no model, no middleware, no follower).
Whatever `/strategies/{name}/predict` costs beyond this is ours.

`bentoml serve bench.minimal_service:MinimalService` from the repository root (and
MinimalAsyncService, its `async def` twin, shown beside it).
"""

from __future__ import annotations

import bentoml


@bentoml.service(
    name="minimal_reference",
    workers=2,
    traffic={"timeout": 30},
    logging={"access": {"enabled": False}},
    metrics={"enabled": False},
)
class MinimalService:
    @bentoml.api  # type: ignore[untyped-decorator]
    def predict(self, features: list[list[float]]) -> list[float]:
        """The sum of each row."""
        return [sum(row) for row in features]


@bentoml.service(
    name="minimal_async_reference",
    workers=2,
    traffic={"timeout": 30},
    logging={"access": {"enabled": False}},
    metrics={"enabled": False},
)
class MinimalAsyncService:
    """The same API as an `async def`: BentoML runs it on the event loop, not in a thread."""

    @bentoml.api  # type: ignore[untyped-decorator]
    async def predict(self, features: list[list[float]]) -> list[float]:
        """The sum of each row."""
        return [sum(row) for row in features]
