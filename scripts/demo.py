"""The main job on the embedded default (`make demo`).

1. Materialize `market_bars`, `indicators` and `online_features` for the demo universe
   through the Dagster code location (one single-run backfill, recorded in the Dagster
   instance under the state directory so that `make dagster` shows it), into the embedded
   chDB warehouse and the Feast online store (SQLite), and read the online features back.
2. Train, register and backtest a model (`training_job`), with its gates.
3. Start the registry on its embedded SQLite database, walk the seed's entity → deployment
   flow over HTTP, hot-swap the staging strategy into production and roll that swap back.
4. Deploy the trained model as the production `default_ml_strategy`, start serving
   (`bentoml serve`) on it, and ask it for the strategy's signal per symbol.

It prints what it did. Re-running it re-materializes the same bars (replacing, not
duplicating), registers the next patch versions and replaces what the last run deployed.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import warnings
from pathlib import Path
from typing import Any

import httpx

from registry_service.client import RegistryClient, RegistryClientError
from registry_service.process import RegistryProcess, create_key
from serving.model import MODEL_NAME
from serving.process import ServingProcess
from trade2026_assets.definitions import (
    MARKET_DATA_JOB,
    TRAINING_JOB,
    defs,
    partition_range_tags,
)
from trade2026_assets.feature_store.frame import FEATURE_SERVICE
from trade2026_assets.feature_store.resource import FeatureStoreResource
from trade2026_assets.settings import AssetsSettings
from trade2026_assets.warehouse import WarehouseResource

ENTITIES = (("strategy_a", "1.0", "production"), ("strategy_b", "1.1", "staging"))


def say(message: str) -> None:
    print(message, flush=True)


def state_dir() -> Path:
    return Path(os.environ.get("TRADE2026_HOME", ".trade2026")).resolve()


def demo_key(home: Path) -> str:
    """The demo's own local API key, created once with the CLI and kept in the state dir."""
    key_file = home / "demo-api-key"
    if key_file.exists():
        return key_file.read_text().strip()
    key = create_key(name="demo", scopes="read,write,deploy")
    home.mkdir(parents=True, exist_ok=True)
    key_file.touch(mode=0o600)
    key_file.write_text(key + "\n")
    return key


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def next_version(client: RegistryClient, name: str, minor: str) -> str:
    """`<minor>.N` with N one past the versions already registered under `name`."""
    existing = client.list_entities(name=name, limit=500).items
    patches = [
        int(e.version.rsplit(".", 1)[1])
        for e in existing
        if e.version.startswith(minor + ".") and e.version.rsplit(".", 1)[1].isdigit()
    ]
    return f"{minor}.{max(patches, default=-1) + 1}"


def walk_flow(client: RegistryClient) -> None:
    ids = []
    for name, minor, environment in ENTITIES:
        entity = client.create_entity(
            name=name,
            type="strategy",
            version=next_version(client, name, minor),
            description="demo strategy",
            config={"model_uri": "models:/default_ml_strategy/1", "buy_threshold": 0.6},
        )
        say(
            f"  registered  {entity.name} {entity.version}"
            f"  id={entity.entity_id}  [{entity.status}]"
        )
        live = client.list_deployments(environment=environment, slot=name, status="active").items
        for old in live:
            client.deactivate(str(old.deployment_id), reason="replaced by the demo")
            say(f"  deactivated {old.entity_name} {old.version} in {environment}/{old.slot}")
        deployment = client.deploy(
            entity_id=str(entity.entity_id), environment=environment, deployed_by="demo"
        )
        status = client.get_entity(str(entity.entity_id)).status
        say(
            f"  deployed    {entity.name} {entity.version} → {environment}/{deployment.slot}"
            f"  deployment={deployment.deployment_id}  [entity {status}]"
        )
        ids.append(str(entity.entity_id))
    swap_and_roll_back(client, *ids)
    total = client.list_deployments().total
    active = client.list_deployments(status="active").total
    say(f"  deployments: total={total} active={active}")
    events = client.events(limit=1000)
    say(f"  outbox events so far: {len(events.items)}{'+' if events.has_more else ''}")


def swap_and_roll_back(client: RegistryClient, live_id: str, staged_id: str) -> None:
    """Promote what staging runs into the production slot, then undo it."""
    swap = client.swap(
        from_entity_id=live_id,
        to_entity_id=staged_id,
        reason="demo: promote the staging strategy",
        initiated_by="demo",
    )
    say(
        f"  swapped     production/{swap.slot}: {_describe(client, live_id)} → "
        f"{_describe(client, staged_id)}  swap={swap.swap_id}  in {swap.duration_ms:.1f} ms"
    )
    undo = client.rollback(str(swap.swap_id), reason="demo: roll back", initiated_by="demo")
    restored = undo.to_deployment_id == swap.from_deployment_id
    say(
        f"  rolled back production/{undo.slot}: {_describe(client, live_id)} live again "
        f"(same deployment: {'yes' if restored else 'NO'})  swap={undo.swap_id}"
    )


def serve_signals(
    client: RegistryClient,
    registry_url: str,
    key: str,
    model_uri: str,
    home: Path,
    symbols: list[str],
) -> bool:
    """Deploy the trained model as the production strategy, start serving on it and ask
    for the strategy's signals."""
    entity = client.create_entity(
        name=MODEL_NAME,
        type="strategy",
        version=next_version(client, MODEL_NAME, "1.0"),
        description="the demo's trained model",
        config={"model_uri": model_uri, "buy_threshold": 0.6, "sell_threshold": 0.4},
    )
    for old in client.list_deployments(
        environment="production", slot=MODEL_NAME, status="active"
    ).items:
        client.deactivate(str(old.deployment_id), reason="replaced by the demo")
    client.deploy(entity_id=str(entity.entity_id), environment="production", deployed_by="demo")
    say(f"  deployed    {entity.name} {entity.version} ({model_uri}) → production/{MODEL_NAME}")
    port = int(os.environ.get("SERVING_PORT", "3000"))
    if not port_is_free(port):
        say(f"error: port {port} is in use; stop what runs there or set SERVING_PORT")
        return False
    log_file = home / "logs" / "serving-demo.log"
    say(f"starting serving on http://127.0.0.1:{port} (bentoml serve, log: {log_file})")
    env = {
        "TRADE2026_HOME": str(home),
        "SERVING_REGISTRY_URL": registry_url,
        "SERVING_REGISTRY_API_KEY": key,
        "BENTOML_HOME": str(home / "bentoml"),
    }
    with ServingProcess(port=port, env=env, log_file=log_file) as serving:
        serving.wait_ready()
        live = httpx.get(f"{serving.url}/v1/model", timeout=10).json()["live"]
        say(
            f"serving {live['model_uri']} (deployment {live['deployment_id']}, "
            f"since {live['serving_since']})"
        )
        answer = httpx.post(f"{serving.url}/signal", json={"symbols": symbols}, timeout=30)
        if answer.status_code != 200:
            say(f"error: /signal answered {answer.status_code}: {answer.text}")
            return False
        body = answer.json()
        say(f"signals (model version {body['version']}):")
        for symbol, signal in body["signals"].items():
            say(
                f"  {symbol:<6} {signal['action']:<4}  size {signal['size']:.2f}  "
                f"confidence {signal['confidence']:.3f}  p(up) {signal['probability']:.3f}  "
                f"features as of {signal['features_as_of'][:16]}"
            )
        for symbol, problem in body["errors"].items():
            say(f"  {symbol:<6} {problem}")
    say("serving stopped. Run it yourself with: cd serving && ../.venv/bin/bentoml serve")
    return True


def universe() -> list[str]:
    return AssetsSettings().universe


def _describe(client: RegistryClient, entity_id: str) -> str:
    entity = client.get_entity(entity_id)
    return f"{entity.name} {entity.version} [{entity.status}]"


LATEST_FEATURES_SQL = """
SELECT symbol, count() AS rows, max(ts) AS last_ts, argMax(close, ts) AS close,
       argMax(rsi, ts) AS rsi, argMax(macd_hist, ts) AS macd_hist,
       argMax(bb_lower, ts) AS bb_lower, argMax(bb_upper, ts) AS bb_upper
FROM features GROUP BY symbol ORDER BY symbol
"""
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def materialize_market_data(home: Path) -> bool:
    """One run of the market-data job over the whole universe; prints checks and values."""

    dagster_home = Path(os.environ.setdefault("DAGSTER_HOME", str(home / "dagster")))
    dagster_home.mkdir(parents=True, exist_ok=True)
    instance_config = dagster_home / "dagster.yaml"
    if not instance_config.exists():
        # Default SQLite storage under DAGSTER_HOME; no telemetry from a local demo.
        instance_config.write_text("telemetry:\n  enabled: false\n")
    settings = AssetsSettings()
    universe = settings.universe
    say(
        f"materializing market_bars, indicators and online_features for {', '.join(universe)} "
        f"({settings.market_source} bars; Dagster instance in {dagster_home})"
    )
    result = run_job(MARKET_DATA_JOB, tags=partition_range_tags(universe[0], universe[-1]))
    for evaluation in result.get_asset_check_evaluations():
        say(f"  check {check_line(evaluation)}")
    if not result.success:
        say(f"error: run {result.run_id} failed: {failure_summary(result)}")
        return False
    warehouse = WarehouseResource(chdb_path=str(settings.warehouse_path.resolve()))
    bars = warehouse.query_arrow("SELECT count() AS n FROM bars").to_pylist()[0]["n"]
    say(f"run {result.run_id}: {bars} bars stored; latest indicators per symbol:")
    for row in warehouse.query_arrow(LATEST_FEATURES_SQL).to_pylist():
        say(
            f"  {row['symbol']:<6} {row['rows']:>6} rows  last {row['last_ts']:%Y-%m-%d %H:%M}"
            f"  close {row['close']:9.2f}  RSI {row['rsi']:6.2f}"
            f"  MACD hist {row['macd_hist']:+8.4f}"
            f"  BB [{row['bb_lower']:.2f}, {row['bb_upper']:.2f}]"
        )
    show_online_features(universe)
    return True


def show_online_features(universe: list[str]) -> None:
    """What serving will read: the model's features per symbol from the online store."""
    from trade2026_assets.feature_store.retrieval import OnlineFeatureReader

    resource = (defs().resources or {})["feature_store"]
    assert isinstance(resource, FeatureStoreResource)
    reader = OnlineFeatureReader(resource.store())
    answer = reader.get(universe)
    say(
        f"online features ({resource.online_kind} online store, feature service "
        f"{FEATURE_SERVICE}: {len(reader.columns)} features):"
    )
    for symbol, row in answer.found.items():
        values = dict(zip(reader.columns, row.values, strict=True))
        say(
            f"  {symbol:<6} as of {row.as_of:%Y-%m-%d %H:%M}  ret_1 {values['ret_1']:+.5f}"
            f"  RSI {values['rsi']:6.2f}  %B {values['bb_pctb']:5.2f}"
            f"  BB width {values['bb_width']:.4f}"
        )
    for symbol, problem in answer.problems.items():
        say(f"  {symbol:<6} {problem}")


def run_job(name: str, *, tags: dict[str, str] | None = None) -> Any:
    """One in-process run of a job of the code location, recorded in DAGSTER_HOME."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        return (
            defs()
            .resolve_job_def(name)
            .execute_in_process(
                instance=instance, tags=tags or {}, run_config=QUIET_LOGS, raise_on_error=False
            )
        )


def check_line(evaluation: Any) -> str:
    verdict = "passed" if evaluation.passed else f"FAILED ({evaluation.severity.value})"
    return f"{evaluation.asset_key.to_user_string()}.{evaluation.check_name}: {verdict}"


def train_and_backtest() -> str | None:
    """training_set → xgb_model (MLflow) → strategy_backtest, with the gates; prints them.
    The registered model's URI, or None when the run failed."""

    say("training: training_set → xgb_model → strategy_backtest (MLflow under the state dir)")
    result = run_job(TRAINING_JOB)
    for evaluation in result.get_asset_check_evaluations():
        evidence = {
            key: value.value
            for key, value in evaluation.metadata.items()
            if isinstance(value.value, int | float) and not isinstance(value.value, bool)
        }
        shown = ", ".join(f"{k}={v:.4g}" for k, v in evidence.items())
        say(f"  gate {check_line(evaluation)}  {shown}")
    metadata: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        metadata[materialization.asset_key.to_user_string()] = {
            key: value.value for key, value in materialization.metadata.items()
        }
    if "training_set" in metadata:
        ts = metadata["training_set"]
        say(
            f"  training set {ts['training_set_hash']}: {ts['rows']} rows "
            f"{ts['rows_by_split']}, features {len(ts['features'])}"
        )
    if "xgb_model" in metadata:
        model = metadata["xgb_model"]
        m = model["metrics"]
        baseline = m["test_majority_baseline_accuracy"]
        say(
            f"  model {model['model_uri']} (MLflow run {model['mlflow_run_id']}): "
            f"test accuracy {m['test_accuracy']:.4f} vs majority {baseline:.4f}, "
            f"AUC {m['test_auc']:.4f}, log loss {m['test_log_loss']:.4f}; "
            f"challenger: {'yes' if model['challenger'] else 'no'}"
        )
    if "strategy_backtest" in metadata:
        for name in ("strategy", "buy_and_hold"):
            b = metadata["strategy_backtest"][name]
            say(
                f"  backtest {name:<12} total {b['total_return']:+.4%}  annualized "
                f"{b['annualized_return']:+.2%}  Sharpe {b['sharpe']:.2f}  Sortino "
                f"{b['sortino']:.2f}  max DD {b['max_drawdown']:.2%}  hit {b['hit_rate']:.1%}  "
                f"exposure {b['exposure']:.1%}"
            )
    if not result.success:
        say(f"error: training run {result.run_id} failed: {failure_summary(result)}")
        return None
    model_uri: str = metadata["xgb_model"]["model_uri"]
    return model_uri


def failure_summary(result: Any) -> str:
    """Why a run failed, in the words of its failed steps."""
    reasons = []
    for event in result.all_events:
        if event.is_step_failure:
            failure = event.step_failure_data
            user = failure.user_failure_data
            text = user.description if user and user.description else failure.error.message
            reasons.append(f"{event.step_key}: {text.strip().splitlines()[0]}")
    return "; ".join(reasons) or "see `make dagster` for its events"


def main() -> int:
    # Dagster labels single-run backfill policies beta; not news to someone running a demo.
    warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    home = state_dir()
    for server in (
        "CLICKHOUSE_URL",
        "MLFLOW_TRACKING_URI",
        "REGISTRY_DATABASE_URL",
        "FEAST_REDIS_CONNECTION_STRING",
        "FEAST_REGISTRY_URL",
    ):
        # The demo is the embedded profile: no servers, whatever this shell exports.
        if os.environ.pop(server, None):
            say(f"note: {server} ignored: the demo runs on the embedded profile")
    port = int(os.environ.get("REGISTRY_PORT", "8350"))
    os.environ["TRADE2026_HOME"] = str(home)
    say(f"Trade2026 demo — embedded profile, state in {home}")
    if not port_is_free(port):
        say(f"error: port {port} is in use; stop what runs there or set REGISTRY_PORT")
        return 1
    if not materialize_market_data(home):
        return 1
    model_uri = train_and_backtest()
    if model_uri is None:
        return 1
    key = demo_key(home)
    log_file = home / "logs" / "registry-demo.log"
    say(f"starting registry on http://127.0.0.1:{port} (SQLite, log: {log_file})")
    with (
        RegistryProcess(port=port, log_file=log_file) as registry,
        RegistryClient(registry.url, api_key=key) as client,
    ):
        say(f"registry ready: {client.ready()}")
        try:
            walk_flow(client)
            if not serve_signals(client, registry.url, key, model_uri, home, universe()):
                return 1
        except RegistryClientError as exc:
            say(f"error: {exc}")
            return 1
    say("registry stopped. Run it yourself with: .venv/bin/python -m registry_service serve")
    say(f"API key for curl (read,write,deploy): {home / 'demo-api-key'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
