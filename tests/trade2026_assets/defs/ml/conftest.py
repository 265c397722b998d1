"""One trained strategy shared by the tests that read what its materializations record:
the market data and the default strategy's training job, in process, on a real chDB
warehouse and a real MLflow (SQLite backend), into one Dagster instance."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg
import pytest
from mlflow import MlflowClient

from scripts.harness.dagster_runs import run_job, run_market_data_job
from tests.trade2026_assets.declarations import DEFAULT, default_with, write_strategies
from trade2026_assets.definitions import TRAINING_JOB, build_definitions
from trade2026_assets.settings import AssetsSettings

SYMBOLS = ["SYNA", "SYNB"]


@dataclass(frozen=True)
class Trained:
    instance: dg.DagsterInstance
    mlflow: MlflowClient

    def latest(self, asset: str) -> dg.AssetMaterialization:
        """The newest materialization of the default strategy's `asset`."""
        event = self.instance.get_latest_materialization_event(dg.AssetKey([DEFAULT, asset]))
        assert event is not None, asset
        assert event.asset_materialization is not None, asset
        return event.asset_materialization


@pytest.fixture(scope="package")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    home = tmp_path_factory.mktemp("trained")
    # Enough bars and signal that the model passes its gates and the backtest runs.
    settings = AssetsSettings(
        home=home,
        symbols=",".join(SYMBOLS),
        synthetic_bars=8000,
        synthetic_predictability=0.2,
        strategies_dir=write_strategies(home / "strategies", {DEFAULT: default_with()}),
    )
    defs = build_definitions(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        assert run_market_data_job(defs, SYMBOLS, instance=instance).success
        outcome = run_job(defs, TRAINING_JOB, instance=instance)
        assert outcome.success, outcome.failures
        uri = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
        yield Trained(instance, MlflowClient(tracking_uri=uri, registry_uri=uri))
