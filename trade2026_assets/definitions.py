"""The one place that assembles the code location's `Definitions` (see workspace.yaml)."""

from __future__ import annotations

import os

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from trade2026_assets.assets.deployed_strategy import DEPLOYED_STRATEGY_SPEC
from trade2026_assets.assets.indicators import build_indicators
from trade2026_assets.assets.market_bars import build_market_bars
from trade2026_assets.assets.models import (
    build_strategy_backtest,
    build_training_set,
    build_xgb_model,
)
from trade2026_assets.assets.online_features import build_online_features
from trade2026_assets.auto_swap import SwapPolicy, build_auto_swap_sensor
from trade2026_assets.dead_runs import build_dead_run_sensor
from trade2026_assets.feature_store.resource import feature_store_resource
from trade2026_assets.market_data import MarketDataResource
from trade2026_assets.registry import RegistryResource
from trade2026_assets.schedules import build_schedules
from trade2026_assets.settings import AssetsSettings, load_settings
from trade2026_assets.tracking import MlflowResource
from trade2026_assets.warehouse import WarehouseResource

MARKET_DATA_JOB = "market_data_job"
TRAINING_JOB = "training_job"


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags that make one run cover the partitions `first`..`last`, as a single-run
    backfill launched from the UI does."""
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def build_definitions(settings: AssetsSettings) -> dg.Definitions:
    """Definitions for one configuration; tests build their own from their own settings."""
    partitions = dg.StaticPartitionsDefinition(settings.universe)
    market_bars = build_market_bars(partitions)
    indicators = build_indicators(partitions, market_bars)
    online_features = build_online_features(partitions, indicators)
    training_set = build_training_set(settings.universe)
    xgb_model = build_xgb_model()
    strategy_backtest = build_strategy_backtest()
    training_job = dg.define_asset_job(
        TRAINING_JOB,
        selection=[training_set, xgb_model, strategy_backtest],
        description="Training set → XGBoost model (MLflow) → backtest, with their gates.",
    )
    mlflow_dir = settings.mlflow_dir.resolve()
    market_data_job = dg.define_asset_job(
        MARKET_DATA_JOB,
        selection=[market_bars, indicators, online_features],
        description="Bars, indicators and online features for the whole universe (or any "
        "range of symbols).",
    )
    return dg.Definitions(
        assets=[
            market_bars,
            indicators,
            online_features,
            training_set,
            xgb_model,
            strategy_backtest,
            DEPLOYED_STRATEGY_SPEC,
        ],
        jobs=[market_data_job, training_job],
        sensors=[
            build_dead_run_sensor(),
            build_auto_swap_sensor(
                interval_s=settings.auto_swap_interval_s,
                policy=SwapPolicy(
                    ack_deadline_s=settings.auto_swap_ack_deadline_s,
                    ack_wait_s=settings.auto_swap_ack_wait_s,
                    min_acks=settings.auto_swap_min_acks,
                ),
                running=settings.auto_swap_sensor == "running",
            ),
        ],
        schedules=build_schedules(
            market_data_job=market_data_job,
            training_job=training_job,
            universe_tags=partition_range_tags(settings.universe[0], settings.universe[-1]),
            running=settings.schedules == "running",
        ),
        resources={
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
                # The URL may carry a password: Dagster reads it from the environment at run
                # time instead of storing it in the run's config.
                clickhouse_url=dg.EnvVar("CLICKHOUSE_URL")
                if os.environ.get("CLICKHOUSE_URL")
                else "",
            ),
            # Connection strings may carry passwords: read at run time.
            "feature_store": feature_store_resource(settings, secret=_env_or_empty),
            "mlflow": MlflowResource(
                # A tracking server's URI may carry credentials: read at run time.
                tracking_uri=dg.EnvVar("MLFLOW_TRACKING_URI")
                if os.environ.get("MLFLOW_TRACKING_URI")
                else f"sqlite:///{mlflow_dir / 'mlflow.db'}",
                artifact_location=""
                if os.environ.get("MLFLOW_TRACKING_URI")
                else (mlflow_dir / "artifacts").as_uri(),
                ui_url=settings.mlflow_ui_url,
            ),
            "registry": RegistryResource(
                url=settings.registry_url,
                # A credential: read by Dagster from the environment at tick time.
                api_key=_env_or_empty("TRADE2026_REGISTRY_API_KEY"),
                timeout_s=settings.registry_timeout_s,
                slot=settings.strategy_slot,
            ),
        },
    )


def _env_or_empty(name: str) -> dg.EnvVar | str:
    """The variable, read by Dagster at run time, if this environment sets it."""
    return dg.EnvVar(name) if os.environ.get(name) else ""


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by `dagster dev` through workspace.yaml; reads the environment only now."""
    return build_definitions(load_settings())
