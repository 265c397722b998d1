"""The code location's resources, built once from the settings. Values that may carry a
credential (server URLs, keys) are `dg.EnvVar`s: Dagster reads them at run time instead of
storing them in a run's config."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from trade2026_assets.defs.market_data.resource import MarketDataResource
from trade2026_assets.feature_store.resource import feature_store_resource
from trade2026_assets.registry import RegistryResource
from trade2026_assets.settings import AssetsSettings
from trade2026_assets.tracking import MlflowResource
from trade2026_assets.warehouse import WarehouseResource


def env_or_empty(name: str) -> dg.EnvVar | str:
    """The variable, read by Dagster at run time, if this environment sets it."""
    return dg.EnvVar(name) if os.environ.get(name) else ""


def build_resources(settings: AssetsSettings) -> dict[str, Any]:
    mlflow_dir = settings.mlflow_dir.resolve()
    tracking_server = bool(os.environ.get("MLFLOW_TRACKING_URI"))
    return {
        "market_data": MarketDataResource(
            source=settings.market_source,
            seed=settings.synthetic_seed,
            start=settings.synthetic_start,
            n_bars=settings.synthetic_bars,
            bar_minutes=settings.synthetic_bar_minutes,
            predictability=settings.synthetic_predictability,
            sources_file=str(settings.sources_file.resolve()) if settings.sources_file else "",
            path=settings.bars_path,
            file_format=settings.bars_format,
            timezone=settings.bars_timezone,
            timestamp_format=settings.bars_timestamp_format,
            symbol_column=settings.bars_symbol_column,
            timestamp_column=settings.bars_timestamp_column,
            open_column=settings.bars_open_column,
            high_column=settings.bars_high_column,
            low_column=settings.bars_low_column,
            close_column=settings.bars_close_column,
            volume_column=settings.bars_volume_column,
            calendar=settings.bars_calendar,
            row_order=settings.bars_row_order,
        ),
        "warehouse": WarehouseResource(
            chdb_path=str(settings.warehouse_path.resolve()),
            cache_dir=str((settings.home / "cache").resolve()),
            clickhouse_url=env_or_empty("CLICKHOUSE_URL"),
        ),
        "feature_store": feature_store_resource(settings, secret=env_or_empty),
        "mlflow": MlflowResource(
            tracking_uri=dg.EnvVar("MLFLOW_TRACKING_URI")
            if tracking_server
            else f"sqlite:///{mlflow_dir / 'mlflow.db'}",
            artifact_location="" if tracking_server else (mlflow_dir / "artifacts").as_uri(),
            ui_url=settings.mlflow_ui_url,
        ),
        "registry": RegistryResource(
            url=settings.registry_url,
            api_key=env_or_empty("TRADE2026_REGISTRY_API_KEY"),
            timeout_s=settings.registry_timeout_s,
        ),
    }
