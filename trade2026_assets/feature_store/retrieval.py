"""Online features for serving: one or many symbols of one indicator set in one
online-store read, in the order of a strategy's feature list (its feature service's), with
each symbol's problem (unknown, stale, incomplete) named instead of a failed call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from trade2026_assets.feature_store.frame import ENTITY, FEATURE_VIEW, INDICATOR_SET_ENTITY

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
    """Reads features of (symbol, indicator set) rows from the online store's one view.

    Each read names the indicator set and the features (a strategy's list, e.g. its feature
    service's: `service_features`); the answer's columns are in that order. `max_age`
    defaults to the feature view's TTL: features computed at a bar older than that are
    stale and not served (Feast's online read does not apply the TTL itself). `timeout_s`
    bounds each call to a Redis online store, without retries (redis-py's default waits on
    a dead socket and retries with back-off for seconds).
    """

    def __init__(
        self,
        store: FeatureStore,
        *,
        max_age: timedelta | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        timeout_s: float | None = None,
    ) -> None:
        self._store = store
        if timeout_s is not None:
            _bound_redis(store, timeout_s)
        # Reads go through Feast's cached registry, which may predate the latest
        # `feast apply` by up to its TTL: refresh it now, so the view and services found
        # here are the ones the reads resolve.
        store.refresh_registry()  # type: ignore[no-untyped-call]
        from feast.protos.feast.serving.ServingService_pb2 import FieldStatus
        from feast.types import Float32

        view = store.get_feature_view(FEATURE_VIEW)
        # Values are read as float32 from the response: the view must be all Float32.
        not_float32 = [f.name for f in view.features if f.dtype != Float32]
        if not_float32:
            raise ValueError(f"feature view {FEATURE_VIEW!r}: not Float32: {not_float32}")
        self.fields = tuple(f.name for f in view.features)
        self._present = FieldStatus.PRESENT
        limit = max_age if max_age is not None else view.ttl
        if not limit:
            raise ValueError(f"feature view {FEATURE_VIEW!r} has no TTL: pass max_age")
        self.max_age: timedelta = limit
        self._clock = clock
        # Per feature list: the references a read asks for and the response names.
        self._refs: dict[tuple[str, ...], tuple[list[str], tuple[str, ...]]] = {}

    def service_features(self, service: str) -> tuple[str, ...]:
        """A feature service's features, in its order (it must read this reader's view)."""
        found = self._store.get_feature_service(service, allow_cache=True)
        projections = found.feature_view_projections
        if len(projections) != 1 or projections[0].name != FEATURE_VIEW:
            raise ValueError(
                f"feature service {service!r} must read exactly the view {FEATURE_VIEW!r}"
            )
        return tuple(feature.name for feature in projections[0].features)

    def _references(self, features: Sequence[str]) -> tuple[list[str], tuple[str, ...]]:
        if isinstance(features, str):
            raise ValueError(
                "features must be a list of feature names (a service's: service_features)"
            )
        key = tuple(features)
        if key in self._refs:
            return self._refs[key]
        unknown = [name for name in key if name not in self.fields]
        if not key or unknown:
            raise ValueError(
                f"features not in the view {FEATURE_VIEW!r}: {unknown or 'none named'}"
            )
        if len(set(key)) != len(key):
            raise ValueError(f"a feature is listed twice: {list(key)}")
        refs = (
            [f"{FEATURE_VIEW}:{name}" for name in key],
            tuple(f"{FEATURE_VIEW}__{name}" for name in key),
        )
        self._refs[key] = refs
        return refs

    def get(
        self, symbols: Sequence[str], *, indicator_set: str, features: Sequence[str]
    ) -> OnlineFeatures:
        """`features` (in that order) of each distinct symbol (request order kept) under
        `indicator_set`; problems per symbol."""
        wanted = list(dict.fromkeys(symbols))
        if not wanted:
            raise ValueError("ask for at least one symbol")
        bad = [symbol for symbol in wanted if not isinstance(symbol, str) or not symbol]
        if bad:
            raise ValueError(f"symbols must be non-empty strings, got {bad!r}")
        if not isinstance(indicator_set, str) or not indicator_set:
            raise ValueError(f"indicator_set must be a non-empty string, got {indicator_set!r}")
        refs, names = self._references(features)
        columns = tuple(features)
        response = self._store.get_online_features(
            features=refs,
            entity_rows=[
                {ENTITY: symbol, INDICATOR_SET_ENTITY: indicator_set} for symbol in wanted
            ],
            full_feature_names=True,
        ).proto
        # Read the response's columns straight from its protobuf: converting each value to
        # a Python object (`to_dict`) costs a quarter of a 100-symbol read.
        position = {name: j for j, name in enumerate(response.metadata.feature_names.val)}
        vectors = [response.results[position[name]] for name in names]
        present = self._present
        # Per symbol (transposed from the response's per-feature columns): statuses, values.
        statuses = zip(*(vector.statuses for vector in vectors), strict=True)
        rows = zip(*([value.float_val for value in v.values] for v in vectors), strict=True)
        # A view's fields are written together: one bar time per row.
        stamps = [ts.seconds for ts in vectors[0].event_timestamps]
        oldest = (self._clock() - self.max_age).timestamp()
        answer = OnlineFeatures(columns=columns)
        for symbol, status, row, as_of in zip(wanted, statuses, rows, stamps, strict=True):
            missing = [name for name, s in zip(columns, status, strict=True) if s != present]
            if len(missing) == len(columns):
                answer.problems[symbol] = (
                    f"unknown symbol: no online features for indicator set {indicator_set}"
                )
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

    def require(
        self, symbols: Sequence[str], *, indicator_set: str, features: Sequence[str]
    ) -> np.ndarray:
        """Like `get`, but every symbol must be served: a float32 matrix or an error that
        names each problem."""
        answer = self.get(symbols, indicator_set=indicator_set, features=features)
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
