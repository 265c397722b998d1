"""The sensor judges the candidate's own, current evidence, read from a real Dagster
instance whose runs emit what the code location's assets emit (the same asset keys,
checks and metadata), and a real MLflow store.

Each case was seen from the UI: a swap while the online store still held the features of
an older indicator set; a swap while the candidate's own backtest was still running.

No `from __future__ import annotations`: Dagster reads the asset's context annotation."""

from pathlib import Path

import dagster as dg
import pytest
from dagster import AssetExecutionContext

from tests.trade2026_assets.defs.deploy.events import (
    QUIET,
    WON,
    Ticker,
    market_data_assets,
    model_asset,
    register_version,
    run,
    strategy,
    train,
)
from trade2026_assets.defs.deploy.candidates import newest_candidate
from trade2026_assets.defs.deploy.registry_steps import CursorState
from trade2026_assets.registry import RegistryResource
from trade2026_assets.strategy.declaration import StrategyDeclaration
from trade2026_assets.technical_indicators import IndicatorParams
from trade2026_assets.tracking import MlflowResource

# Never reached: every case here is decided before the sensor talks to the registry.
UNREACHABLE = RegistryResource(url="http://127.0.0.1:9", timeout_s=1)
RSI14 = strategy("rsi14")
RSI21 = StrategyDeclaration(name="rsi21", indicators=IndicatorParams(rsi_period=21))


@pytest.fixture
def mlflow(tmp_path: Path) -> MlflowResource:
    return MlflowResource(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifact_location=(tmp_path / "artifacts").as_uri(),
    )


def ticker(
    declaration: StrategyDeclaration, instance: dg.DagsterInstance, mlflow: MlflowResource
) -> Ticker:
    return Ticker(declaration, instance, {"registry": UNREACHABLE, "mlflow": mlflow})


def skip_message(tick: Ticker) -> str:
    data = tick()
    assert not data.asset_events
    assert data.skip_message is not None
    return str(data.skip_message)


def test_parity_from_before_the_latest_indicators_is_not_evidence(
    mlflow: MlflowResource, instance: dg.DagsterInstance
) -> None:
    run(instance, market_data_assets([RSI14.indicator_set, RSI21.indicator_set]))
    # Indicators again, online_features not.
    run(instance, market_data_assets([RSI21.indicator_set])[:1])
    train(instance, mlflow, RSI21)

    reason = skip_message(ticker(RSI21, instance, mlflow))

    assert "parity ran before the latest indicators materialization" in reason


def test_parity_of_other_indicator_sets_only_is_not_evidence(
    mlflow: MlflowResource, instance: dg.DagsterInstance
) -> None:
    run(instance, market_data_assets([RSI14.indicator_set]))
    train(instance, mlflow, RSI21)

    reason = skip_message(ticker(RSI21, instance, mlflow))

    assert reason.startswith("rsi21/model version 1 (run ")
    assert f"covered indicator sets {RSI14.indicator_set} only, not {RSI21.indicator_set}" in (
        reason
    )


def test_a_candidate_is_not_judged_while_its_run_is_still_running(
    mlflow: MlflowResource, instance: dg.DagsterInstance
) -> None:
    run(instance, market_data_assets([RSI14.indicator_set]))
    seen: list[str] = []
    model = model_asset(RSI14, register_version(mlflow, RSI14), WON)

    @dg.asset(key=RSI14.asset_key_path("backtest"), deps=[model])
    def backtest(context: AssetExecutionContext) -> None:
        # The daemon ticks while the candidate's own backtest runs.
        tick = ticker(RSI14, context.instance, mlflow)
        seen.append(skip_message(tick))
        # The candidate is looked at again next tick: the cursor has not moved past it.
        assert CursorState.parse(tick.cursor, sensor_name=RSI14.sensor_name).after == 0

    run(instance, [model, backtest])

    (during,) = seen
    assert "is STARTED; judged once every step and check of it has finished" in during


def test_a_candidate_whose_run_failed_does_not_go_live(
    mlflow: MlflowResource, instance: dg.DagsterInstance
) -> None:
    run(instance, market_data_assets([RSI14.indicator_set]))
    model = model_asset(RSI14, register_version(mlflow, RSI14), WON)

    @dg.asset(key=RSI14.asset_key_path("backtest"), deps=[model])
    def backtest() -> None:
        raise dg.Failure(description="cannot backtest")

    assert not dg.materialize(
        [model, backtest], instance=instance, run_config=QUIET, raise_on_error=False
    ).success
    tick = ticker(RSI14, instance, mlflow)

    assert "ended FAILURE" in skip_message(tick)
    assert tick.cursor is not None  # judged: not looked at again
    assert skip_message(tick) == f"no new {RSI14.name}/model materialization"


def test_the_candidate_is_the_strategys_own_model_only(
    mlflow: MlflowResource, instance: dg.DagsterInstance
) -> None:
    train(instance, mlflow, RSI21)
    assert newest_candidate(instance, RSI14, 0) is None
    found = newest_candidate(instance, RSI21, 0)
    assert found is not None
    assert found.model_uri == RSI21.model_uri("1")
    assert set(found.checks) == {
        "beats_majority_baseline",
        "auc_above_chance",
        "beats_champion",
        "beats_champion_sharpe",
    }
