"""The one place serving meets the online feature reader: opening it, and reading a
strategy's features (its indicator set's rows, its features in its order) for symbols."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from trade2026_assets.feature_store.store import FeatureStoreConfig

if TYPE_CHECKING:
    from trade2026_assets.feature_store.retrieval import OnlineFeatureReader, OnlineFeatures


def open_reader(store: FeatureStoreConfig, *, timeout_s: float) -> OnlineFeatureReader:
    """The online reader of the store (opening it reaches no online store yet)."""
    from trade2026_assets.feature_store.retrieval import OnlineFeatureReader

    return OnlineFeatureReader(store.store(), timeout_s=timeout_s)


def read_features(
    reader: OnlineFeatureReader,
    symbols: Sequence[str],
    *,
    indicator_set: str,
    features: tuple[str, ...],
) -> OnlineFeatures:
    """Each symbol's latest `features` (in that order) from the rows of `indicator_set`,
    or its problem."""
    return reader.get(symbols, indicator_set=indicator_set, features=features)
