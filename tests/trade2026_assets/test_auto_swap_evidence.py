"""The auto-swap judges the candidate's own, current evidence: the sensor is evaluated on a
real Dagster instance whose runs emit the events the code location's assets emit (the same
asset keys, checks and metadata), and on a real MLflow store.

Each case was seen from the UI: a swap while the online store still held the features of
an older indicator set; a swap while the candidate's own backtest was still running; a
swap on an AUC gain of 0.0002."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster import AssetExecutionContext

from tests.trade2026_assets.dagster_runs import QUIET
from trade2026_assets.assets.models import champion_outcome
from trade2026_assets.auto_swap import CheckOutcome, SwapPolicy, evaluate, rejection
from trade2026_assets.registry import RegistryResource
from trade2026_assets.tracking import MlflowResource

RSI14 = "rsi14-macd12.26.9-bb20.2.2-vol20-aaaaaaaaaa"
RSI21 = "rsi21-macd12.26.9-bb20.2.2-vol20-bbbbbbbbbb"
# Never reached: every case here is decided before the sensor talks to the registry.
UNREACHABLE = RegistryResource(url="http://127.0.0.1:9", timeout_s=1)


@pytest.fixture
def mlflow(tmp_path: Path) -> MlflowResource:
    return MlflowResource(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifact_location=(tmp_path / "artifacts").as_uri(),
    )


def market_data_assets(indicator_set: str, *, parity: bool = True) -> list[dg.AssetsDefinition]:
    @dg.asset(name="indicators")
    def indicators() -> dg.MaterializeResult[None]:
        return dg.MaterializeResult(metadata={"indicator_set": indicator_set})

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
            metadata={"mismatches": 0, "indicator_set": indicator_set},
        )

    return [indicators, online_features]


def model_asset(indicator_set: str, beats: dict[str, Any]) -> dg.AssetsDefinition:
    @dg.asset(
        name="xgb_model",
        check_specs=[
            dg.AssetCheckSpec(name, asset="xgb_model")
            for name in ("beats_majority_baseline", "test_auc_above_chance", "beats_champion")
        ],
    )
    def xgb_model() -> Iterator[dg.MaterializeResult[None] | dg.AssetCheckResult]:
        yield dg.MaterializeResult(
            metadata={
                "model_version": "4",
                "model_uri": "models:/default_ml_strategy/4",
                "indicator_set": indicator_set,
            }
        )
        yield dg.AssetCheckResult(check_name="beats_majority_baseline", passed=True)
        yield dg.AssetCheckResult(check_name="test_auc_above_chance", passed=True)
        yield dg.AssetCheckResult(
            check_name="beats_champion", passed=bool(beats.pop("passed")), metadata=beats
        )

    return xgb_model


def run(instance: dg.DagsterInstance, assets: list[dg.AssetsDefinition]) -> None:
    result = dg.materialize(assets, instance=instance, run_config=QUIET)
    assert result.success


WON = {"passed": True, "outcome": "won", "champion_version": None, "candidate_test_auc": 0.6}


def tick(instance: dg.DagsterInstance, mlflow: MlflowResource) -> dg.SensorResult:
    return evaluate(instance, None, UNREACHABLE, mlflow, SwapPolicy())


def test_parity_from_before_the_latest_indicators_is_not_evidence(
    mlflow: MlflowResource,
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    run(instance, market_data_assets(RSI14))
    # rsi_period changed to 21: indicators again, online_features not.
    run(instance, market_data_assets(RSI21)[:1])
    run(instance, [model_asset(RSI21, dict(WON))])

    result = tick(instance, mlflow)

    assert result.skip_reason is not None
    reason = str(result.skip_reason.skip_message)
    assert "parity ran before the latest indicators materialization" in reason


def test_parity_of_another_indicator_set_is_not_evidence(mlflow: MlflowResource) -> None:
    instance = dg.DagsterInstance.ephemeral()
    run(instance, market_data_assets(RSI14))
    run(instance, [model_asset(RSI21, dict(WON))])

    result = tick(instance, mlflow)

    assert result.skip_reason is not None
    reason = str(result.skip_reason.skip_message)
    assert f"compared indicator set {RSI14}" in reason
    assert f"was trained on {RSI21}" in reason


def test_a_candidate_is_not_judged_while_its_run_is_still_running(
    mlflow: MlflowResource,
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    run(instance, market_data_assets(RSI14))
    seen: list[dg.SensorResult] = []
    model = model_asset(RSI14, dict(WON))

    @dg.asset(name="strategy_backtest", deps=[model])
    def strategy_backtest(context: AssetExecutionContext) -> None:
        # The daemon ticks while the candidate's own backtest runs.
        seen.append(tick(context.instance, mlflow))

    run(instance, [model, strategy_backtest])

    (during,) = seen
    assert during.skip_reason is not None
    assert "is STARTED; judged once every step and check of it has finished" in str(
        during.skip_reason.skip_message
    )
    assert during.cursor is None  # the candidate is looked at again next tick


def test_a_candidate_whose_run_failed_does_not_go_live(mlflow: MlflowResource) -> None:
    instance = dg.DagsterInstance.ephemeral()
    run(instance, market_data_assets(RSI14))
    model = model_asset(RSI14, dict(WON))

    @dg.asset(name="strategy_backtest", deps=[model])
    def strategy_backtest() -> None:
        raise dg.Failure(description="cannot backtest")

    assert not dg.materialize(
        [model, strategy_backtest], instance=instance, run_config=QUIET, raise_on_error=False
    ).success

    result = tick(instance, mlflow)

    assert result.skip_reason is not None
    assert "ended FAILURE" in str(result.skip_reason.skip_message)


def test_a_gain_within_the_margin_is_a_tie_and_the_champion_stays() -> None:
    assert champion_outcome(0.6102, 0.6100, margin=0.005) == "tie"
    assert champion_outcome(0.6000, 0.6030, margin=0.005) == "tie"
    assert champion_outcome(0.6100, 0.6000, margin=0.005) == "won"
    assert champion_outcome(0.6000, 0.6100, margin=0.005) == "lost"
    assert champion_outcome(0.61, 0.61, margin=0.0) == "tie"

    tie = CheckOutcome(
        False,
        {
            "outcome": "tie",
            "champion_version": "3",
            "candidate_test_auc": 0.6102,
            "champion_test_auc": 0.61,
            "auc_gain": 0.0002,
            "margin": 0.005,
        },
    )
    from tests.trade2026_assets.test_auto_swap import PARITY, candidate

    problem = rejection(candidate(beats_champion=tie), PARITY, champion="3")
    assert problem is not None
    assert "tied with champion version 3" in problem
    assert "auc_gain 0.0002" in problem
    assert "lost" not in problem
