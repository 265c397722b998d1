"""Online features for serving: one or many symbols in one online-store read, in the
FeatureService's column order, with each symbol's problem (unknown, stale, incomplete)
named instead of a failed call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from trade2026_assets.feature_store.frame import ENTITY, FEATURE_SERVICE

if TYPE_CHECKING:
    from feast import FeatureStore


class FeatureRetrievalError(LookupError):
    """Features could not be served for some of the requested symbols."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        listed = "; ".join(f"{symbol}: {problem}" for symbol, problem in problems.items())
        super().__init__(f"no usable online features for {len(problems)} symbol(s): {listed}")


@dataclass(frozen=True)
class SymbolFeatures:
    symbol: str
    values: tuple[float, ...]
    # Event time of the bar the values were computed at.
    as_of: datetime


@dataclass(frozen=True)
class OnlineFeatures:
    """The answer for a list of symbols: features for some, a problem for the others."""

    columns: tuple[str, ...]
    found: dict[str, SymbolFeatures] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    def matrix(self) -> np.ndarray:
        """float32 rows of the found symbols, in request order; columns as `columns`."""
        if not self.found:
            return np.empty((0, len(self.columns)), dtype=np.float32)
        return np.array([row.values for row in self.found.values()], dtype=np.float32)


class OnlineFeatureReader:
    """Reads the model's features for symbols from the online store.

    `max_age` defaults to the feature view's TTL: features computed at a bar older than
    that are stale and not served (Feast's online read does not apply the TTL itself).
    `timeout_s` bounds each call to a Redis online store, without retries (redis-py's
    default waits on a dead socket and retries with back-off for seconds).
    """

    def __init__(
        self,
        store: FeatureStore,
        *,
        service: str = FEATURE_SERVICE,
        max_age: timedelta | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        timeout_s: float | None = None,
    ) -> None:
        self._store = store
        if timeout_s is not None:
            _bound_redis(store, timeout_s)
        # Reads go through Feast's cached registry, which may predate the latest
        # `feast apply` by up to its TTL: refresh it now, so the service found here is
        # the one the reads resolve.
        store.refresh_registry()  # type: ignore[no-untyped-call]
        self._service = store.get_feature_service(service, allow_cache=True)
        projections = self._service.feature_view_projections
        if len(projections) != 1:
            raise ValueError(f"feature service {service!r} must read exactly one feature view")
        projection = projections[0]
        self.columns = tuple(feature.name for feature in projection.features)
        from feast.protos.feast.serving.ServingService_pb2 import FieldStatus
        from feast.types import Float32

        self._present = FieldStatus.PRESENT
        # Values are read as float32 from the response: the service must be all Float32.
        not_float32 = [f.name for f in projection.features if f.dtype != Float32]
        if not_float32:
            raise ValueError(f"feature service {service!r}: not Float32: {not_float32}")
        self._refs = tuple(
            f"{projection.name_alias or projection.name}__{name}" for name in self.columns
        )
        ttl = store.get_feature_view(projection.name).ttl
        limit = max_age if max_age is not None else ttl
        if not limit:
            raise ValueError(f"feature view {projection.name!r} has no TTL: pass max_age")
        self.max_age: timedelta = limit
        self._clock = clock

    def get(self, symbols: Sequence[str]) -> OnlineFeatures:
        """Features for each distinct symbol (request order kept); problems per symbol."""
        wanted = list(dict.fromkeys(symbols))
        if not wanted:
            raise ValueError("ask for at least one symbol")
        bad = [symbol for symbol in wanted if not isinstance(symbol, str) or not symbol]
        if bad:
            raise ValueError(f"symbols must be non-empty strings, got {bad!r}")
        response = self._store.get_online_features(
            features=self._service,
            entity_rows=[{ENTITY: symbol} for symbol in wanted],
            full_feature_names=True,
        ).proto
        # Read the response's columns straight from its protobuf: converting each value to
        # a Python object (`to_dict`) costs a quarter of a 100-symbol read.
        position = {name: j for j, name in enumerate(response.metadata.feature_names.val)}
        vectors = [response.results[position[ref]] for ref in self._refs]
        present = self._present
        # Per symbol (transposed from the response's per-feature columns): statuses, values.
        statuses = zip(*(vector.statuses for vector in vectors), strict=True)
        rows = zip(*([value.float_val for value in v.values] for v in vectors), strict=True)
        # A view's fields are written together: one bar time per symbol.
        stamps = [ts.seconds for ts in vectors[0].event_timestamps]
        oldest = (self._clock() - self.max_age).timestamp()
        answer = OnlineFeatures(columns=self.columns)
        for symbol, status, row, as_of in zip(wanted, statuses, rows, stamps, strict=True):
            missing = [name for name, s in zip(self.columns, status, strict=True) if s != present]
            if len(missing) == len(self.columns):
                answer.problems[symbol] = "unknown symbol: no online features"
            elif missing:
                answer.problems[symbol] = f"incomplete online features: {missing} missing"
            elif as_of < oldest:
                when = datetime.fromtimestamp(as_of, UTC).isoformat()
                answer.problems[symbol] = (
                    f"stale features: computed at {when}, older than the {self.max_age} limit"
                )
            else:
                answer.found[symbol] = SymbolFeatures(
                    symbol, row, datetime.fromtimestamp(as_of, UTC)
                )
        return answer

    def require(self, symbols: Sequence[str]) -> np.ndarray:
        """Like `get`, but every symbol must be served: a float32 matrix or an error that
        names each problem."""
        answer = self.get(symbols)
        if answer.problems:
            raise FeatureRetrievalError(answer.problems)
        return answer.matrix()


def _bound_redis(store: FeatureStore, timeout_s: float) -> None:
    """Give the store's Redis client (Feast creates one per online store, on first use)
    socket timeouts and no retries; nothing to do for other online stores."""
    config = store.config.online_store
    if getattr(config, "type", None) != "redis":
        return
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    online_store: Any = store._get_provider().online_store
    client = online_store._get_client(config)
    client.connection_pool.connection_kwargs.update(
        socket_timeout=timeout_s, socket_connect_timeout=timeout_s
    )
    client.set_retry(Retry(NoBackoff(), 0))
    # Connections opened before this point keep their old settings: start afresh.
    client.connection_pool.disconnect()
