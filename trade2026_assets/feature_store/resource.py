"""`FeatureStoreResource`: the feature store's configuration (`feature_store.store`) as a
Dagster resource, so runs get it from the definitions; everything it does lives there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dagster as dg

from trade2026_assets.feature_store.store import (
    FeatureStoreConfig,
    FeatureStoreError,
    feature_store_fields,
)
from trade2026_assets.settings import AssetsSettings

__all__ = ["FeatureStoreError", "FeatureStoreResource", "feature_store_resource"]


class FeatureStoreResource(dg.ConfigurableResource, FeatureStoreConfig):  # type: ignore[type-arg]
    """The Feast feature store of one profile, opened once per run."""


def feature_store_resource(
    settings: AssetsSettings, *, secret: Callable[[str], Any]
) -> FeatureStoreResource:
    """The feature store this environment selects, as a resource: `secret(name)` may give
    a `dg.EnvVar`, which Dagster resolves at run time."""
    return FeatureStoreResource(**feature_store_fields(settings, secret=secret))
