"""training_set → xgb_model → strategy_backtest through the real definitions, on a real
chDB warehouse and a real MLflow (SQLite backend, local artifacts). MLflow's contents are
read back with MlflowClient."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tests.trade2026_assets.dagster_runs import RunOutcome, run_job, run_market_data_job
from trade2026_assets.assets.models import MODEL_ROWS_SQL, load_training_set, model_rows
from trade2026_assets.definitions import TRAINING_JOB, build_definitions
from trade2026_assets.ml.training_set import FEATURES
from trade2026_assets.settings import AssetsSettings
from trade2026_assets.warehouse import WarehouseResource

SYMBOLS = ["SYNA", "SYNB", "SYNC", "SYND"]


def pipeline(
    home: Path,
    predictability: float,
    run_config: dict[str, object] | None = None,
    instance: dg.DagsterInstance | None = None,
) -> tuple[RunOutcome, MlflowClient]:
    settings = AssetsSettings(
        home=home,
        symbols=",".join(SYMBOLS),
        synthetic_bars=4000,
        synthetic_predictability=predictability,
    )
    defs = build_definitions(settings)
    instance = instance or dg.DagsterInstance.ephemeral()
    assert run_market_data_job(defs, SYMBOLS, instance=instance).success
    outcome = run_job(defs, TRAINING_JOB, instance=instance, run_config=run_config)
    uri = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    return outcome, MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_with_a_predictable_market_the_model_passes_and_mlflow_holds_it(tmp_path: Path) -> None:
    outcome, client = pipeline(tmp_path, predictability=0.2)

    assert outcome.success, outcome.failures
    assert set(outcome.materialized) == {"training_set", "xgb_model", "strategy_backtest"}
    for gate in ("no_leakage", "beats_majority_baseline", "test_auc_above_chance"):
        evaluation = next(e for (a, n), e in outcome.checks.items() if n == gate)
        assert evaluation.passed, gate
    auc = outcome.metadata("xgb_model", "test_auc_above_chance")
    assert auc["test_auc"] >= auc["threshold"] == pytest.approx(0.51)

    model = outcome.metadata_of["xgb_model"]
    training = outcome.metadata_of["training_set"]
    version = client.get_model_version("default_ml_strategy", model["model_version"])
    assert client.get_model_version_by_alias("default_ml_strategy", "challenger").version == (
        version.version
    )
    assert version.run_id is not None
    run = client.get_run(version.run_id)
    assert run.info.run_id == model["mlflow_run_id"]
    assert run.data.tags["training_set"] == training["training_set_hash"]
    assert run.data.tags["indicator_set"] == training["indicator_set"]
    assert run.data.tags["dagster_run_id"]
    assert run.data.params["max_depth"] == "5"
    assert run.data.params["seed"] == "42"
    for metric in (
        "train_accuracy",
        "validation_auc",
        "test_accuracy",
        "test_auc",
        "test_log_loss",
        "test_majority_baseline_accuracy",
        "backtest_sharpe",
        "backtest_max_drawdown",
        "buy_and_hold_total_return",
    ):
        assert metric in run.data.metrics, metric
    assert run.data.metrics["test_auc"] == pytest.approx(auc["test_auc"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"feature_importance.json", "equity_curve.png", "backtest.json"} <= artifacts
    importance = client.download_artifacts(run.info.run_id, "feature_importance.json")
    assert set(Path(importance).read_text().replace('"', " ").split()) & set(FEATURES)

    # The model trained on exactly the stored rows: the local Arrow copy equals them.
    cached = tmp_path / "cache" / "training_sets" / f"{training['training_set_hash']}.arrow"
    warehouse = WarehouseResource(chdb_path=str(tmp_path / "warehouse"))
    stored = load_training_set(warehouse, training["training_set_hash"], MODEL_ROWS_SQL)
    assert pl.read_ipc(cached).equals(stored)
    assert model_rows(warehouse, training["training_set_hash"]).equals(stored)

    backtest = outcome.metadata_of["strategy_backtest"]
    assert backtest["model_version"] == str(version.version)
    assert set(backtest["strategy"]) >= {
        "total_return",
        "annualized_return",
        "sharpe",
        "sortino",
        "max_drawdown",
        "hit_rate",
        "turnover",
        "exposure",
    }
    assert backtest["equity_curve"].startswith("![equity curve](data:image/png;base64,")

    # A second candidate is compared with the champion (set by hand here; Step 7 swaps).
    client.set_registered_model_alias("default_ml_strategy", "champion", version.version)
    again = run_job(
        build_definitions(
            AssetsSettings(
                home=tmp_path,
                symbols=",".join(SYMBOLS),
                synthetic_bars=4000,
                synthetic_predictability=0.2,
            )
        ),
        TRAINING_JOB,
        run_config={"ops": {"xgb_model": {"config": {"max_depth": 3}}}},
    )
    assert again.success, again.failures
    champion = again.metadata("xgb_model", "beats_champion")
    assert champion["champion_version"] == str(version.version)
    assert "champion_test_auc" in champion
    sharpe = again.metadata("strategy_backtest", "beats_champion_sharpe")
    assert sharpe["champion_version"] == str(version.version)


def test_on_a_random_walk_the_gate_fails_and_blocks_the_backtest(tmp_path: Path) -> None:
    outcome, client = pipeline(tmp_path, predictability=0.0)

    assert not outcome.success
    gates = [outcome.check("xgb_model", "beats_majority_baseline")]
    gates.append(outcome.check("xgb_model", "test_auc_above_chance"))
    assert not all(gate.passed for gate in gates)
    failed = next(gate for gate in gates if not gate.passed)
    evidence = {key: value.value for key, value in failed.metadata.items()}
    assert "threshold" in evidence  # says why: the value and the bar it missed
    assert "strategy_backtest" not in outcome.materialized
    # The version is registered (for the record) but is no challenger.
    assert str(client.get_model_version("default_ml_strategy", "1").version) == "1"
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias("default_ml_strategy", "challenger")


def test_a_leaky_split_is_caught_before_training(tmp_path: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    outcome, _ = pipeline(
        tmp_path,
        predictability=0.2,
        run_config={"ops": {"training_set": {"config": {"horizon": 3, "embargo_bars": 0}}}},
        instance=instance,
    )
    assert not outcome.success
    leakage = outcome.check("training_set", "no_leakage")
    assert not leakage.passed
    assert outcome.metadata("training_set", "no_leakage")["threshold_bars"] == 3
    # Write, audit, publish: the leaky set was neither recorded nor stored.
    assert "training_set" not in outcome.materialized
    assert "xgb_model" not in outcome.materialized
    warehouse = WarehouseResource(chdb_path=str(tmp_path / "warehouse"))
    assert warehouse.query_arrow("SELECT count() AS n FROM training_sets").to_pylist() == [{"n": 0}]
    # A later run of the model alone does not train on that set either.
    defs = build_definitions(AssetsSettings(home=tmp_path, symbols=",".join(SYMBOLS)))
    model_only = dg.Definitions.merge(
        defs, dg.Definitions(jobs=[dg.define_asset_job("model_only", selection=["xgb_model"])])
    )
    later = run_job(model_only, "model_only", instance=instance)
    assert not later.success
    assert any("has not been materialized" in message for message in later.failures)
