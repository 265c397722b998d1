"""What the code location's assets record, emitted here by small stand-in assets with the
same keys, checks and metadata (the real training is the models' tests'), and one sensor
tick stored the way the daemon stores it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster._core.definitions.sensor_definition import SensorExecutionData

from trade2026_assets.defs.deploy.deployed_strategy import deployed_strategy_spec
from trade2026_assets.defs.deploy.sensor import build_auto_swap_sensor
from trade2026_assets.strategy.declaration import StrategyDeclaration
from trade2026_assets.tracking import MlflowResource

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
WON = {"passed": True, "outcome": "won", "candidate_wf_auc": 0.6}
FIRST = {"passed": True, "outcome": "no champion", "champion_version": None}
GATES = ("beats_majority_baseline", "auc_above_chance")


def strategy(prefix: str, **fields: Any) -> StrategyDeclaration:
    """A declaration with a name of its own, so tests sharing a registry share no slot."""
    return StrategyDeclaration(name=f"{prefix}_{uuid.uuid4().hex[:8]}", **fields)


def market_data_assets(
    indicator_sets: list[str], *, parity: bool = True
) -> list[dg.AssetsDefinition]:
    """Shared `indicators` and `online_features` whose parity covered `indicator_sets`."""

    @dg.asset(name="indicators")
    def indicators() -> dg.MaterializeResult[None]:
        return dg.MaterializeResult(metadata={"indicator_sets": indicator_sets})

    @dg.asset(
        name="online_features",
        deps=[indicators],
        check_specs=[dg.AssetCheckSpec("online_offline_parity", asset="online_features")],
    )
    def online_features() -> Iterator[dg.MaterializeResult[None] | dg.AssetCheckResult]:
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(
            check_name="online_offline_parity",
            passed=parity,
            metadata={"mismatches": 0, "indicator_sets": indicator_sets},
        )

    return [indicators, online_features]


def model_asset(
    declaration: StrategyDeclaration,
    version: str,
    beats: Mapping[str, Any],
    *,
    gates: bool = True,
) -> dg.AssetsDefinition:
    """`<strategy>/model` as the training records it: version `version`, its checks."""
    key = dg.AssetKey(declaration.asset_key_path("model"))
    beats = dict(beats)
    passed = bool(beats.pop("passed"))

    @dg.asset(
        key=key,
        check_specs=[
            dg.AssetCheckSpec(name, asset=key)
            for name in (*GATES, "beats_champion", "beats_champion_sharpe")
        ],
    )
    def model() -> Iterator[dg.MaterializeResult[None] | dg.AssetCheckResult]:
        yield dg.MaterializeResult(
            metadata={
                "model_version": version,
                "model_uri": declaration.model_uri(version),
                "indicator_set": declaration.indicator_set,
            }
        )
        for gate in GATES:
            yield dg.AssetCheckResult(check_name=gate, passed=gates)
        yield dg.AssetCheckResult(check_name="beats_champion", passed=passed, metadata=beats)
        # The Sharpe comparison follows the AUC's: the policy needs both over a champion.
        yield dg.AssetCheckResult(check_name="beats_champion_sharpe", passed=passed, metadata=beats)

    return model


def run(instance: dg.DagsterInstance, assets: list[dg.AssetsDefinition]) -> None:
    assert dg.materialize(assets, instance=instance, run_config=QUIET).success


def register_version(mlflow: MlflowResource, declaration: StrategyDeclaration) -> str:
    """A new version of the strategy's registered model (no artifact: the sensor only moves
    aliases and tags); its number."""
    from mlflow.exceptions import MlflowException

    client = mlflow.client()
    try:
        client.create_registered_model(declaration.registered_model)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    return str(
        client.create_model_version(declaration.registered_model, source="file:///nowhere").version
    )


def train(
    instance: dg.DagsterInstance,
    mlflow: MlflowResource,
    declaration: StrategyDeclaration,
    beats: Mapping[str, Any] = WON,
    **kwargs: Any,
) -> str:
    """A registered version and a successful run recording it; the version."""
    version = register_version(mlflow, declaration)
    run(instance, [model_asset(declaration, version, beats, **kwargs)])
    return version


class Ticker:
    """One strategy's sensor with its own cursor, ticked as the daemon ticks it."""

    def __init__(
        self,
        declaration: StrategyDeclaration,
        instance: dg.DagsterInstance,
        resources: Mapping[str, Any],
    ) -> None:
        self.declaration = declaration
        self.sensor = build_auto_swap_sensor(declaration, interval_s=30, running=False)
        # The daemon evaluates a sensor in its repository (it targets deployed_strategy).
        self.definitions = dg.Definitions(
            assets=[deployed_strategy_spec(declaration)], sensors=[self.sensor]
        )
        self.instance = instance
        self.resources = dict(resources)
        self.cursor: str | None = None

    def __call__(self) -> SensorExecutionData:
        # With a repository name the tick's log is captured, as the daemon captures it.
        with dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources=self.resources,
            repository_name="__repository__",
            definitions=self.definitions,
            instance_ref=None if self.instance.is_ephemeral else self.instance.get_ref(),
            sensor_name=self.sensor.name,
        ) as context:
            data: SensorExecutionData = self.sensor.evaluate_tick(context)
        self.cursor = data.cursor
        for event in data.asset_events:
            assert isinstance(event, dg.AssetMaterialization)
            self.instance.report_runless_asset_event(event)
        return data


def tick_log(instance: dg.DagsterInstance, data: SensorExecutionData) -> str:
    """What a tick's "View logs" shows: the messages it logged."""
    assert data.log_key, "the tick logged nothing"
    logged = instance.compute_log_manager.get_log_data(data.log_key)
    return (logged.stderr or b"").decode() + (logged.stdout or b"").decode()


def metadata_of(event: Any) -> dict[str, Any]:
    return {key: value.value for key, value in event.metadata.items()}
