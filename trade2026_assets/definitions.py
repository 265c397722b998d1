"""The one place that assembles the code location's `Definitions` (see workspace.yaml):
the shared market data once, and each declared strategy's assets, job and sensor."""

from __future__ import annotations

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from trade2026_assets.defs.deploy.deployed_strategy import deployed_strategy_spec
from trade2026_assets.defs.deploy.sensor import build_auto_swap_sensor
from trade2026_assets.defs.market_data.indicators import build_indicators
from trade2026_assets.defs.market_data.market_bars import build_market_bars
from trade2026_assets.defs.market_data.online_features import (
    OnlineFeaturesConfig,
    build_online_features,
)
from trade2026_assets.defs.ml.backtest_asset import build_backtest
from trade2026_assets.defs.ml.model_asset import build_model
from trade2026_assets.defs.ml.training_set_asset import build_training_set
from trade2026_assets.defs.resources import build_resources
from trade2026_assets.defs.runs.dead_runs import build_dead_run_sensor
from trade2026_assets.defs.schedules import build_schedules
from trade2026_assets.feature_store.frame import feature_services
from trade2026_assets.settings import AssetsSettings, load_settings
from trade2026_assets.strategy.declaration import (
    Strategies,
    StrategyDeclaration,
    strategy_symbols,
)
from trade2026_assets.technical_indicators import IndicatorParams

MARKET_DATA_JOB = "market_data_job"
TRAINING_JOB = "training_job"


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags that make one run cover the partitions `first`..`last`, as a single-run
    backfill launched from the UI does."""
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def indicator_sets_by_symbol(
    strategies: Strategies, symbols_of: dict[str, list[str]], universe: list[str]
) -> dict[str, list[IndicatorParams]]:
    """Per symbol, every indicator set a strategy trading it needs (once each); a symbol no
    strategy trades gets the default set, so its market data is still complete."""
    sets: dict[str, dict[str, IndicatorParams]] = {symbol: {} for symbol in universe}
    for declaration in strategies:
        for symbol in symbols_of[declaration.name]:
            sets[symbol].setdefault(declaration.indicator_set, declaration.indicators)
    default = IndicatorParams()
    return {symbol: list(found.values()) or [default] for symbol, found in sets.items()}


def retrain_job_name(declaration: StrategyDeclaration) -> str:
    return f"{declaration.name}_retrain"


def retrain_job(
    declaration: StrategyDeclaration,
    symbols: list[str],
    universe: list[str],
    trained: list[dg.AssetsDefinition],
) -> dg.UnresolvedAssetJobDefinition:
    """After a change to the strategy's parameters: its symbols' indicators and online
    features again (one run, as a single-run backfill), then its training set, model and
    backtest. The launchpad opens on its config's defaults, so launching is one click."""
    first, last = symbols[0], symbols[-1]
    # A run covers a range of partitions: any other symbol inside it is computed too.
    inside = universe[universe.index(first) : universe.index(last) + 1]
    extra = [symbol for symbol in inside if symbol not in symbols]
    also = f" (the range also covers {', '.join(extra)})" if extra else ""
    return dg.define_asset_job(
        retrain_job_name(declaration),
        selection=dg.AssetSelection.assets("indicators", "online_features", *trained),
        config=dg.RunConfig(ops={"online_features": OnlineFeaturesConfig()}),
        description=f"{declaration.name} after a parameter change: indicators → online "
        f"features → training set → model (MLflow) → backtest, with their gates. Launch it "
        f"over the partitions {first}...{last}{also} as one run: `Materialize all`, then "
        "the range and 'single run'.",
    )


def strategy_definitions(
    declaration: StrategyDeclaration,
    symbols: list[str],
    settings: AssetsSettings,
    universe: list[str],
) -> tuple[
    list[dg.AssetsDefinition | dg.AssetSpec],
    list[dg.UnresolvedAssetJobDefinition],
    dg.SensorDefinition,
]:
    training_set = build_training_set(declaration, symbols)
    model = build_model(declaration)
    backtest = build_backtest(declaration)
    job = dg.define_asset_job(
        declaration.training_job,
        selection=[training_set, model, backtest],
        description=f"{declaration.name}: training set → model (MLflow) → backtest, with "
        "their gates.",
    )
    jobs = [job]
    if symbols:
        trained = [training_set, model, backtest]
        jobs.append(retrain_job(declaration, symbols, universe, trained))
    sensor = build_auto_swap_sensor(
        declaration,
        interval_s=settings.auto_swap_interval_s,
        running=settings.auto_swap_sensor == "running",
    )
    return [training_set, model, backtest, deployed_strategy_spec(declaration)], jobs, sensor


def build_definitions(
    settings: AssetsSettings, strategies: Strategies | None = None
) -> dg.Definitions:
    """Definitions for one configuration; tests build their own from their own settings."""
    strategies = strategies if strategies is not None else settings.strategies()
    universe = settings.universe
    sources = settings.source_symbols()
    symbols_of = {d.name: strategy_symbols(d, universe, sources) for d in strategies}
    partitions = dg.StaticPartitionsDefinition(universe)
    market_bars = build_market_bars(partitions)
    indicator_sets = indicator_sets_by_symbol(strategies, symbols_of, universe)
    indicators = build_indicators(partitions, market_bars, indicator_sets)
    online_features = build_online_features(
        partitions, indicators, indicator_sets, feature_services(list(strategies))
    )
    market_data_job = dg.define_asset_job(
        MARKET_DATA_JOB,
        selection=[market_bars, indicators, online_features],
        description="Bars, indicators and online features for the whole universe (or any "
        "range of symbols), shared by every strategy.",
    )
    assets: list[dg.AssetsDefinition | dg.AssetSpec] = [market_bars, indicators, online_features]
    jobs: list[dg.UnresolvedAssetJobDefinition] = [market_data_job]
    sensors: list[dg.SensorDefinition] = [build_dead_run_sensor()]
    for declaration in strategies:
        strategy_assets, strategy_jobs, sensor = strategy_definitions(
            declaration, symbols_of[declaration.name], settings, universe
        )
        assets.extend(strategy_assets)
        jobs.extend(strategy_jobs)
        sensors.append(sensor)
    training_job = dg.define_asset_job(
        TRAINING_JOB,
        selection=dg.AssetSelection.groups(*strategies.names),
        description="Every strategy's training set → model → backtest, with their gates.",
    )
    jobs.append(training_job)
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        sensors=sensors,
        schedules=build_schedules(
            market_data_job=market_data_job,
            training_job=training_job,
            universe_tags=partition_range_tags(universe[0], universe[-1]),
            running=settings.schedules == "running",
        ),
        resources=build_resources(settings),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by `dagster dev` through workspace.yaml; reads the environment only now."""
    return build_definitions(load_settings())
