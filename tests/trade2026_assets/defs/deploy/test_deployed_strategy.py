"""Each declared strategy gets its own sensor and its own deployed_strategy asset, named
from its declaration, and they load together in one code location."""

from __future__ import annotations

import dagster as dg

from trade2026_assets.defs.deploy.deployed_strategy import DEPLOYMENT_GROUP, deployed_strategy_spec
from trade2026_assets.defs.deploy.sensor import build_auto_swap_sensor
from trade2026_assets.registry import RegistryResource
from trade2026_assets.settings import DEMO_SYMBOLS, STRATEGIES_DIR
from trade2026_assets.strategy.declaration import load_strategies
from trade2026_assets.tracking import MlflowResource


def test_every_declared_strategy_has_its_sensor_and_deployed_asset() -> None:
    strategies = list(load_strategies(STRATEGIES_DIR, symbols=DEMO_SYMBOLS))
    assert len(strategies) >= 2
    defs = dg.Definitions(
        assets=[deployed_strategy_spec(declaration) for declaration in strategies],
        sensors=[
            build_auto_swap_sensor(declaration, interval_s=45, running=index == 0)
            for index, declaration in enumerate(strategies)
        ],
        resources={
            "registry": RegistryResource(),
            "mlflow": MlflowResource(tracking_uri="sqlite:///unused.db"),
        },
    )
    graph = defs.resolve_asset_graph()
    for index, declaration in enumerate(strategies):
        node = graph.get(dg.AssetKey([declaration.name, "deployed_strategy"]))
        assert node.parent_keys == {
            dg.AssetKey([declaration.name, "model"]),
            dg.AssetKey("online_features"),
        }
        assert node.group_name == DEPLOYMENT_GROUP
        sensor = defs.resolve_sensor_def(declaration.sensor_name)
        assert sensor.minimum_interval_seconds == 45
        assert sensor.default_status == (
            dg.DefaultSensorStatus.RUNNING if index == 0 else dg.DefaultSensorStatus.STOPPED
        )
        assert declaration.slot in str(sensor.description)
