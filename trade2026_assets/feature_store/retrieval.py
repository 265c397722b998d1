"""Online features for serving: one or many symbols in one online-store read, in the
FeatureService's column order, with each symbol's problem (unknown, stale, incomplete)
named instead of a failed call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

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
    """

    def __init__(
        self,
        store: FeatureStore,
        *,
        service: str = FEATURE_SERVICE,
        max_age: timedelta | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._service = store.get_feature_service(service)
        projections = self._service.feature_view_projections
        if len(projections) != 1:
            raise ValueError(f"feature service {service!r} must read exactly one feature view")
        projection = projections[0]
        self.columns = tuple(feature.name for feature in projection.features)
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
        ).to_dict(include_event_timestamps=True)
        oldest = (self._clock() - self.max_age).timestamp()
        answer = OnlineFeatures(columns=self.columns)
        for i, symbol in enumerate(wanted):
            values = [response[ref][i] for ref in self._refs]
            stamps = [response[f"{ref}__ts"][i] for ref in self._refs]
            if all(value is None for value in values):
                answer.problems[symbol] = "unknown symbol: no online features"
                continue
            missing = [
                name for name, value in zip(self.columns, values, strict=True) if value is None
            ]
            if missing:
                answer.problems[symbol] = f"incomplete online features: {missing} missing"
                continue
            as_of = min(stamps)
            when = datetime.fromtimestamp(as_of, UTC)
            if as_of < oldest:
                answer.problems[symbol] = (
                    f"stale features: computed at {when.isoformat()}, older than the "
                    f"{self.max_age} limit"
                )
                continue
            answer.found[symbol] = SymbolFeatures(symbol, tuple(values), when)
        return answer

    def require(self, symbols: Sequence[str]) -> np.ndarray:
        """Like `get`, but every symbol must be served: a float32 matrix or an error that
        names each problem."""
        answer = self.get(symbols)
        if answer.problems:
            raise FeatureRetrievalError(answer.problems)
        return answer.matrix()
