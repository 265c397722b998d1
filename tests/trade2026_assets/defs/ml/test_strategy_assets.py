"""Each strategy's training set → model → backtest through the real definitions, on a real
chDB warehouse and a real MLflow (SQLite backend, local artifacts): two strategies of two
model families side by side, each with its own indicator set, features, label and rule."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import Model

from scripts.harness.dagster_runs import RunOutcome, run_job, run_market_data_job
from tests.trade2026_assets.declarations import default_with, shipped, write_strategies
from trade2026_assets.definitions import TRAINING_JOB, build_definitions
from trade2026_assets.defs.ml.reads import (
    MODEL_ROWS_SQL,
    ROWS_VERSION,
    load_training_set,
    model_rows,
)
from trade2026_assets.settings import AssetsSettings
from trade2026_assets.tracking import MlflowResource
from trade2026_assets.warehouse import FEATURES, WarehouseResource

SYMBOLS = ["SYNA", "SYNB", "SYNC", "SYND"]
DEFAULT = "default_ml_strategy"
SWING = "swing_logit"


def settings(home: Path, predictability: float) -> AssetsSettings:
    return AssetsSettings(
        home=home,
        symbols=",".join(SYMBOLS),
        synthetic_bars=4000,
        synthetic_predictability=predictability,
        strategies_dir=home / "strategies",
    )


def pipeline(
    home: Path,
    predictability: float,
    declarations: dict[str, dict[str, Any]],
    instance: dg.DagsterInstance | None = None,
) -> tuple[RunOutcome, MlflowClient]:
    write_strategies(home / "strategies", declarations)
    defs = build_definitions(settings(home, predictability))
    with contextlib.ExitStack() as stack:
        if instance is None:
            instance = stack.enter_context(dg.DagsterInstance.ephemeral())
        assert run_market_data_job(defs, SYMBOLS, instance=instance).success
        outcome = run_job(defs, TRAINING_JOB, instance=instance)
    uri = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    return outcome, MlflowClient(tracking_uri=uri, registry_uri=uri)


def _swing() -> dict[str, Any]:
    fields = shipped(SWING)
    fields.pop("name")
    return fields


def test_two_strategies_train_gate_and_backtest_side_by_side(tmp_path: Path) -> None:
    outcome, client = pipeline(
        tmp_path, predictability=0.2, declarations={DEFAULT: default_with(), SWING: _swing()}
    )
    assert outcome.success, outcome.failures
    assert set(outcome.materialized) == {
        f"{name}/{asset}"
        for name in (DEFAULT, SWING)
        for asset in ("training_set", "model", "backtest")
    }
    for name in (DEFAULT, SWING):
        for asset, gate in (
            ("training_set", "no_leakage"),
            ("training_set", "point_in_time"),
            ("model", "beats_majority_baseline"),
            ("model", "auc_above_chance"),
        ):
            assert outcome.check(f"{name}/{asset}", gate).passed, (name, gate)

    default, swing = (outcome.metadata_of[f"{n}/training_set"] for n in (DEFAULT, SWING))
    # Two indicator sets, two feature lists, two labels: two different training sets.
    assert default["indicator_set"] != swing["indicator_set"]
    assert swing["features"] == list(_swing()["features"])
    assert swing["label"] == "close[t+2] > close[t]"
    assert default["training_set_hash"] != swing["training_set_hash"]

    for name, family, param in (
        (DEFAULT, "xgboost", "max_depth"),
        (SWING, "logistic_regression", "c"),
    ):
        model = outcome.metadata_of[f"{name}/model"]
        assert model["model_family"] == family
        assert model["model_uri"] == f"models:/{name}/{model['model_version']}"
        version = client.get_model_version(name, model["model_version"])
        assert client.get_model_version_by_alias(name, "challenger").version == version.version
        assert version.tags["model_family"] == family
        assert version.run_id is not None
        run = client.get_run(version.run_id)
        assert run.data.params["strategy"] == name
        # What a person sees in MLflow: a named run, a described version, a signature.
        dagster_run = version.tags["dagster_run_id"]
        assert run.info.run_name == f"{name} · v{version.version} · run {dagster_run[:8]}"
        description = str(version.description)
        assert "AUC" in description
        training_set = outcome.metadata_of[f"{name}/training_set"]
        assert f"`{training_set['training_set_hash']}`" in description
        assert "`auc_above_chance` passed" in description
        uri = f"models:/{name}/{version.version}"
        with MlflowResource(tracking_uri=client.tracking_uri).active():
            logged = Model.load(uri)
            example: Any = logged.load_input_example(uri)
        assert logged.signature is not None
        assert logged.signature.inputs.input_names() == list(training_set["features"])
        assert list(example.columns) == list(training_set["features"])
        assert param in run.data.params
        # Dagster's figure is rounded for the eye (5 significant digits), MLflow's exact.
        assert run.data.metrics["test_auc"] == pytest.approx(model["test_auc"], rel=1e-4)
        for metric in ("backtest_sharpe", "buy_and_hold_total_return", "validation_auc"):
            assert metric in run.data.metrics, (name, metric)
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {
            "feature_importance.json",
            "equity_curve.png",
            "strategy.json",
            "tear_sheet.html",
            "backtest.json",
        } <= artifacts
        for metric in ("backtest_deflated_sharpe", "equal_weight_rebalanced_total_return"):
            assert metric in run.data.metrics, (name, metric)

    # The backtest applies each strategy's own declared rule and costs.
    swing_backtest = outcome.metadata_of[f"{SWING}/backtest"]["params"]
    assert swing_backtest["buy_threshold"] == 0.55
    assert swing_backtest["sell_threshold"] == 0.45
    assert swing_backtest["position_size"] == 0.03
    assert swing_backtest["slippage_bps"] == 2.0
    default_backtest = outcome.metadata_of[f"{DEFAULT}/backtest"]["params"]
    assert default_backtest["buy_threshold"] == 0.6

    # The model trained on exactly the stored rows: the local Arrow copy equals them.
    digest = default["training_set_hash"]
    cached = tmp_path / "cache" / "training_sets" / f"{digest}.{ROWS_VERSION}.arrow"
    warehouse = WarehouseResource(chdb_path=str(tmp_path / "warehouse"))
    stored = load_training_set(warehouse, digest, MODEL_ROWS_SQL)
    assert pl.read_ipc(cached).equals(stored)
    assert model_rows(warehouse, digest).equals(stored)

    # Edit the declaration and retrain: the candidate is compared with the champion.
    first = outcome.metadata_of[f"{DEFAULT}/model"]["model_version"]
    client.set_registered_model_alias(DEFAULT, "champion", first)
    write_strategies(
        tmp_path / "strategies",
        {DEFAULT: default_with(model={"params": {"max_depth": 3}}), SWING: _swing()},
    )
    again = run_job(build_definitions(settings(tmp_path, 0.2)), f"{DEFAULT}_training")
    assert again.success, again.failures
    assert set(again.materialized) == {
        f"{DEFAULT}/{a}" for a in ("training_set", "model", "backtest")
    }
    champion = again.metadata(f"{DEFAULT}/model", "beats_champion")
    assert champion["champion_version"] == first
    # Paired on the same walk-forward folds: the champion's configuration refitted on them.
    assert champion["outcome"] in {"won", "tie", "lost"}
    assert "champion_wf_auc" in champion
    # The new version's description says how it fared against the champion.
    retrained = client.get_model_version(
        DEFAULT, again.metadata_of[f"{DEFAULT}/model"]["model_version"]
    )
    assert f"champion version {first}" in str(retrained.description)
    sharpe = again.metadata(f"{DEFAULT}/model", "beats_champion_sharpe")
    assert sharpe["champion_version"] == first
    assert sharpe["trials"] == 2
    # The holdout backtest only reports; both registered versions are trials.
    backtest = again.metadata_of[f"{DEFAULT}/backtest"]
    assert backtest["trials"] == 2
    assert "2 trials" in backtest["headline"]
    # The other strategy's registered model did not move.
    assert [str(v.version) for v in client.search_model_versions(f"name='{SWING}'")] == ["1"]


def test_on_a_random_walk_the_gate_fails_and_blocks_the_backtest(tmp_path: Path) -> None:
    outcome, client = pipeline(tmp_path, predictability=0.0, declarations={DEFAULT: default_with()})
    assert not outcome.success
    model = f"{DEFAULT}/model"
    gates = [
        outcome.check(model, "beats_majority_baseline"),
        outcome.check(model, "auc_above_chance"),
    ]
    assert not all(gate.passed for gate in gates)
    failed = next(gate for gate in gates if not gate.passed)
    evidence = {key: value.value for key, value in failed.metadata.items()}
    assert "threshold" in evidence  # says why: the value and the bar it missed
    assert f"{DEFAULT}/backtest" not in outcome.materialized
    # The version is registered (for the record) but is no challenger.
    assert str(client.get_model_version(DEFAULT, "1").version) == "1"
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias(DEFAULT, "challenger")


def test_a_leaky_split_is_caught_before_training(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    outcome, _ = pipeline(
        tmp_path,
        predictability=0.2,
        declarations={DEFAULT: default_with(label={"horizon": 3}, split={"embargo_bars": 0})},
        instance=instance,
    )
    assert not outcome.success
    training_set = f"{DEFAULT}/training_set"
    leakage = outcome.check(training_set, "no_leakage")
    assert not leakage.passed
    assert outcome.metadata(training_set, "no_leakage")["threshold_bars"] == 3
    # Write, audit, publish: the leaky set was neither recorded nor stored.
    assert training_set not in outcome.materialized
    assert f"{DEFAULT}/model" not in outcome.materialized
    warehouse = WarehouseResource(chdb_path=str(tmp_path / "warehouse"))
    assert warehouse.query_arrow("SELECT count() AS n FROM training_sets").to_pylist() == [{"n": 0}]
    # A later run of the model alone does not train on that set either.
    defs = build_definitions(settings(tmp_path, 0.2))
    model_only = dg.Definitions.merge(
        defs,
        dg.Definitions(
            jobs=[dg.define_asset_job("model_only", selection=[dg.AssetKey([DEFAULT, "model"])])]
        ),
    )
    later = run_job(model_only, "model_only", instance=instance)
    assert not later.success
    assert any("has not been materialized" in message for message in later.failures)


def test_a_feature_one_bar_in_the_future_in_the_stored_rows_blocks_training(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    write_strategies(tmp_path / "strategies", {DEFAULT: default_with()})
    defs = build_definitions(settings(tmp_path, 0.2))
    assert run_market_data_job(defs, SYMBOLS, instance=instance).success
    warehouse = WarehouseResource(chdb_path=str(tmp_path / "warehouse"))
    features = warehouse.query_frame("SELECT * FROM features ORDER BY symbol, ts")
    # The stored rsi of each symbol's three newest bars is the next bar's (the last one
    # keeps its own): a look-ahead only the newest rows show.
    position = pl.int_range(pl.len()).over("symbol")
    newest = position >= pl.len().over("symbol") - 4
    shifted = features.with_columns(
        pl.when(newest)
        .then(pl.col("rsi").shift(-1).over("symbol").fill_null(pl.col("rsi")))
        .otherwise(pl.col("rsi"))
        .alias("rsi")
    )
    warehouse.replace_partitions(table=FEATURES, data=shifted.to_arrow(), partitions=SYMBOLS)

    outcome = run_job(defs, TRAINING_JOB, instance=instance)

    training_set = f"{DEFAULT}/training_set"
    check = outcome.check(training_set, "point_in_time")
    assert not check.passed
    evidence = outcome.metadata(training_set, "point_in_time")
    # The set ends one bar early (the label's horizon): three shifted rows per symbol.
    assert evidence["failing_values"] == 3 * len(SYMBOLS)
    assert evidence["worst_relative_difference"] > 0
    assert "| rsi |" in evidence["first_failing_rows"]
    # Write, audit, publish: nothing stored, nothing trained.
    assert training_set not in outcome.materialized
    assert f"{DEFAULT}/model" not in outcome.materialized
    assert warehouse.query_arrow("SELECT count() AS n FROM training_sets").to_pylist() == [{"n": 0}]
