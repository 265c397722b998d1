"""The main job on the embedded default (`make demo`): the whole loop, from nothing, for
every strategy declared in `strategies/` (the shipped two: `default_ml_strategy`, XGBoost on
every hourly bar, and `swing_logit`, a logistic regression on three symbols).

1. Start the registry (SQLite) and serving (`bentoml serve`, 2 workers following the
   registry for every strategy) in the background.
2. Materialize `market_bars`, `indicators` (every declared indicator set) and
   `online_features` for the demo universe through the Dagster code location (one
   single-run backfill, recorded in the Dagster instance under the state directory, so
   `make up`/`make dagster` show it) into chDB and the Feast online store (SQLite), and
   read each strategy's online features back.
3. Walk the registry's flow over HTTP: entities, deployments, a manual swap and its
   rollback.
4. Train a quick first version of `default_ml_strategy` (its declaration with 2 one-split
   trees, as if edited since) and let its sensor tick: nothing is live, so it
   is deployed.
5. Train every strategy as declared (`training_job`) and tick each strategy's sensor: the
   default model beats its quick version, so its sensor swaps it in (an `automatic` swap,
   acknowledged by serving); `swing_logit` goes live on its first deployment.
6. Ask serving for each strategy's signals (`/strategies/<name>/signal`), print a summary
   and stop what it started.

The sensors are evaluated in-process exactly as the daemon evaluates them (their cursors
kept in the state directory); `make up` runs them in the Dagster daemon instead. Re-running
the demo re-materializes the same bars (replacing, not duplicating) and trains new
versions; the sensors then say why they do not replace the champions, or swap them in.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import httpx

from registry_service.client import RegistryClient, RegistryClientError
from scripts.dagster_instance import ensure_instance_yaml
from scripts.harness.registry import RegistryProcess, local_api_key
from scripts.harness.serving import ServingProcess
from serving.settings import WORKERS
from trade2026_assets.definitions import (
    MARKET_DATA_JOB,
    TRAINING_JOB,
    defs,
    partition_range_tags,
)
from trade2026_assets.defs.evidence import evidence_text
from trade2026_assets.feature_store.resource import FeatureStoreResource
from trade2026_assets.settings import SERVER_VARIABLES, AssetsSettings
from trade2026_assets.strategy.declaration import DEFAULT_STRATEGY, strategy_symbols
from trade2026_assets.warehouse import WarehouseResource

ENTITIES = (("strategy_a", "1.0", "production"), ("strategy_b", "1.1", "staging"))


def say(message: str) -> None:
    print(message, flush=True)


def state_dir() -> Path:
    return Path(os.environ.get("TRADE2026_HOME", ".trade2026")).resolve()


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
            config={"model_uri": f"models:/{DEFAULT_STRATEGY}/1", "buy_threshold": 0.6},
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


def tick_sensor(home: Path, declared: Any, timeout_s: float = 60.0) -> Any:
    """Ticks of a strategy's auto-swap sensor against the Dagster instance, as the daemon
    makes them: the cursor carried between ticks, reported asset events stored in the
    instance. A tick never waits for serving: a swap it requested is followed up by the next
    ticks (here every half second) until one records what became of it."""
    import dagster as dg

    from trade2026_assets.defs.deploy.registry_steps import CursorState
    from trade2026_assets.defs.deploy.sensor import build_auto_swap_sensor

    # A swap counts as taken here once every serving worker has acknowledged it.
    every_worker = declared.swap.model_copy(update={"min_acks": WORKERS})
    declaration = declared.model_copy(update={"swap": every_worker})
    sensor = build_auto_swap_sensor(declaration, interval_s=30, running=False)
    loaded = defs()
    resources = {}
    for name in ("registry", "mlflow"):
        # The context manager form disposes the ephemeral instance it initializes in.
        with (loaded.resources or {})[name].process_config_and_initialize_cm() as resource:
            resources[name] = resource
    cursor_file = home / "dagster" / f"demo-{sensor.name}-cursor.json"
    cursor = cursor_file.read_text() if cursor_file.exists() else None
    give_up = time.monotonic() + timeout_s
    with dg.DagsterInstance.get() as instance:
        while True:
            # The sensor targets its deployed_strategy: it is evaluated in its definitions.
            context = dg.build_sensor_context(
                instance=instance, cursor=cursor, resources=resources, definitions=loaded
            )
            data = sensor.evaluate_tick(context)
            for event in data.asset_events:
                instance.report_runless_asset_event(event)
            cursor = data.cursor
            if cursor:
                cursor_file.write_text(cursor)
            pending = CursorState.parse(cursor, sensor_name=sensor.name).pending
            if data.asset_events or pending is None or time.monotonic() > give_up:
                return data
            time.sleep(0.5)


def declared_strategies() -> Any:
    from trade2026_assets.settings import load_settings

    return load_settings().strategies()


def show_tick(sensor: str, data: Any) -> dict[str, Any] | None:
    """Print what a tick did; the metadata of the deployed_strategy it recorded, if any."""
    if not data.asset_events:
        say(f"  {sensor}: no swap: {data.skip_message}")
        return None
    event = data.asset_events[0]
    recorded = {key: value.value for key, value in event.metadata.items()}
    say(f"  {sensor}: {event.description}")
    if "swap_id" in recorded:
        say(
            f"    swap {recorded['swap_id']} ({recorded['swap_type']}): committed in "
            f"{recorded['swap_duration_ms']:.1f} ms, serving followed in "
            f"{_ms(recorded['propagation_ms'])} (downtime {_ms(recorded['downtime_ms'])}), "
            f"{len(recorded['acknowledgements'])} worker acknowledgement(s)"
        )
    return recorded


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f} ms"


def ask_for_signals(
    serving: ServingProcess, name: str, champion: str | None, symbols: list[str]
) -> Any:
    """Serving's answer for a strategy's symbols, once it serves the strategy's champion
    (if there is one). Each worker follows the registry on its own, so until every worker
    has loaded the model an answer may come from one still loading (503): ask again."""
    route = f"{serving.url}/strategies/{name}/signal"
    deadline = time.monotonic() + 60
    while True:
        answer = httpx.post(route, json={"symbols": symbols}, timeout=30)
        body = answer.json() if answer.status_code == 200 else None
        if body is not None and (champion is None or str(body.get("version")) == champion):
            return body
        if time.monotonic() > deadline:
            wanted = f"version {champion}" if champion else "a model"
            say(
                f"error: {route} did not answer with {wanted} within 60 s: "
                f"{answer.status_code} {answer.text}"
            )
            return None
        time.sleep(0.2)


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

    dagster_home = os.environ["DAGSTER_HOME"]
    settings = AssetsSettings()
    universe = settings.universe
    say(
        f"materializing market_bars, indicators and online_features for {', '.join(universe)} "
        f"({settings.market_source} bars; Dagster instance in {dagster_home})"
    )
    result = run_job(MARKET_DATA_JOB, tags=partition_range_tags(universe[0], universe[-1]))
    # Checks evaluated per symbol: one line per check that passed, one per symbol that did
    # not, with its evidence.
    passed: set[str] = set()
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed and evaluation.partition is not None:
            line = check_line(evaluation)
            if line not in passed:
                say(f"  check {line}")
            passed.add(line)
            continue
        where = f" [{evaluation.partition}]" if evaluation.partition else ""
        say(f"  check {check_line(evaluation)}{where}")
        if not evaluation.passed:
            say(indented(evidence_text(evaluation)))
    if not result.success:
        say(f"error: run {result.run_id} failed: {failure_summary(result)}")
        say(run_logs_hint(result.run_id))
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
    """What serving will read: each strategy's features per symbol from the online store,
    through its feature service, for its indicator set."""
    from trade2026_assets.feature_store.retrieval import OnlineFeatureReader

    resource = (defs().resources or {})["feature_store"]
    assert isinstance(resource, FeatureStoreResource)
    reader = OnlineFeatureReader(resource.store())
    for strategy in declared_strategies():
        features = reader.service_features(strategy.feature_service)
        symbols = strategy_symbols(strategy, universe)
        answer = reader.get(symbols, indicator_set=strategy.indicator_set, features=features)
        say(
            f"online features of {strategy.name} ({resource.online_kind} online store, "
            f"feature service {strategy.feature_service}: {len(features)} features):"
        )
        for symbol, row in answer.found.items():
            shown = "  ".join(
                f"{name} {value:+.4f}"
                for name, value in list(zip(features, row.values, strict=True))[:4]
            )
            say(f"  {symbol:<6} as of {row.as_of:%Y-%m-%d %H:%M}  {shown}")
        for symbol, problem in answer.problems.items():
            say(f"  {symbol:<6} {problem}")


def run_job(
    name: str,
    *,
    tags: dict[str, str] | None = None,
    run_config: dict[str, Any] | None = None,
    definitions: Any = None,
) -> Any:
    """One in-process run of a job of the code location, recorded in DAGSTER_HOME."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        return (
            (definitions or defs())
            .resolve_job_def(name)
            .execute_in_process(
                instance=instance,
                tags=tags or {},
                run_config={**QUIET_LOGS, **(run_config or {})},
                raise_on_error=False,
            )
        )


def indented(text: str) -> str:
    return "\n".join(f"      {line}" for line in text.splitlines())


def check_line(evaluation: Any) -> str:
    verdict = "passed" if evaluation.passed else f"FAILED ({evaluation.severity.value})"
    return f"{evaluation.asset_key.to_user_string()}.{evaluation.check_name}: {verdict}"


def train_and_backtest(
    title: str, job: str, definitions: Any = None
) -> dict[str, dict[str, Any]] | None:
    """A training job (training set → model (MLflow) → backtest, with the gates, per
    strategy); prints them. Each asset's metadata by key, or None when the run failed."""

    say(f"training {title}: training set → model → backtest")
    result = run_job(job, definitions=definitions)
    gates = []
    for evaluation in result.get_asset_check_evaluations():
        evidence = {
            key: value.value
            for key, value in evaluation.metadata.items()
            if isinstance(value.value, int | float) and not isinstance(value.value, bool)
        }
        shown = ", ".join(f"{k}={v:.4g}" for k, v in evidence.items())
        say(f"  gate {check_line(evaluation)}  {shown}")
        if not evaluation.passed:
            say(indented(evidence_text(evaluation)))
        gates.append(check_line(evaluation))
    metadata: dict[str, dict[str, Any]] = {"gates": {"lines": gates}}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        metadata[materialization.asset_key.to_user_string()] = {
            key: value.value for key, value in materialization.metadata.items()
        }
    for key, values in metadata.items():
        asset = key.rsplit("/", 1)[-1]
        if asset == "training_set":
            say(
                f"  {key} {values['training_set_hash']}: {values['rows']} rows "
                f"{values['rows_by_split']}, {len(values['features'])} features, label "
                f"{values['label']}"
            )
        elif asset == "model":
            m = values
            baseline = m["test_majority_baseline_accuracy"]
            say(
                f"  {key} {values['model_uri']} ({values['model_family']}, MLflow run "
                f"{values['mlflow_run_id']}): test accuracy {m['test_accuracy']:.4f} vs "
                f"majority {baseline:.4f}, AUC {m['test_auc']:.4f}, log loss "
                f"{m['test_log_loss']:.4f}; challenger: {'yes' if values['challenger'] else 'no'}"
            )
        elif asset == "backtest":
            # The tear sheet's one line: Sharpe with its interval, deflated Sharpe over the
            # strategy's trials, trades, exposure and the true buy-and-hold.
            say(f"  {key} tear sheet: {values['headline']}")
            for name in ("strategy", "buy_and_hold", "equal_weight_rebalanced"):
                b = {k.removeprefix(f"{name}_"): v for k, v in values.items()}
                say(
                    f"  {key} {name:<12} total {b['total_return']:+.4%}  annualized "
                    f"{b['annualized_return']:+.2%}  Sharpe {b['sharpe']:.2f}  Sortino "
                    f"{b['sortino']:.2f}  max DD {b['max_drawdown']:.2%}  hit "
                    f"{b['hit_rate']:.1%}  exposure {b['exposure']:.1%}"
                )
    if not result.success:
        say(f"error: training run {result.run_id} failed: {failure_summary(result)}")
        say(run_logs_hint(result.run_id))
        return None
    return metadata


def run_logs_hint(run_id: str) -> str:
    return (
        f"  its full event log: `make up`, then Runs → {run_id[:8]} in the Dagster UI "
        f"(instance in {os.environ.get('DAGSTER_HOME')})"
    )


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


# A quick first model of the default strategy (2 one-split trees, each drawing 2 of the 10
# features): what is live before its declared model arrives, as if its file had said so and
# was edited since. Its features stay the declared ones, which serving's routes take. Worse
# by enough that the paired walk-forward comparison tells them apart: 2 stumps over all ten
# features learn the synthetic market's one-bar signal as well as 100 deep trees, and tie.
BASELINE_MODEL = {"num_boost_round": 2, "max_depth": 1, "colsample_bytree": 0.2, "seed": 3}


def baseline_definitions(strategies: Any) -> Any:
    """The code location with the default strategy's model edited to BASELINE_MODEL."""
    from trade2026_assets.definitions import build_definitions
    from trade2026_assets.settings import load_settings
    from trade2026_assets.strategy.declaration import Strategies

    declared = strategies[DEFAULT_STRATEGY]
    model = declared.model.model_copy(
        update={"params": declared.model.params.model_copy(update=BASELINE_MODEL)}
    )
    by_name = {DEFAULT_STRATEGY: declared.model_copy(update={"model": model})}
    return build_definitions(load_settings(), Strategies(by_name, {}))


def main() -> int:
    # Dagster labels single-run backfill policies beta; not news to someone running a demo.
    warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")
    warnings.filterwarnings("ignore", message="The ``noload`` loader strategy")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    started = time.monotonic()
    home = state_dir()
    for server in SERVER_VARIABLES:
        # The demo is the embedded profile: no servers, whatever this shell exports.
        if os.environ.pop(server, None):
            say(f"note: {server} ignored: the demo runs on the embedded profile")
    os.environ["TRADE2026_HOME"] = str(home)
    registry_port = int(os.environ.get("REGISTRY_PORT", "8350"))
    serving_port = int(os.environ.get("SERVING_PORT", "3000"))
    say(f"Trade2026 demo — embedded profile, state in {home}")
    for name, port, variable in (
        ("registry", registry_port, "REGISTRY_PORT"),
        ("serving", serving_port, "SERVING_PORT"),
    ):
        if not port_is_free(port):
            say(
                f"error: port {port} ({name}) is in use: `make down` if the stack runs, or set "
                f"{variable}"
            )
            return 1
    dagster_home = Path(os.environ.setdefault("DAGSTER_HOME", str(home / "dagster")))
    ensure_instance_yaml(dagster_home)
    key = local_api_key(home)
    registry_url = f"http://127.0.0.1:{registry_port}"
    # What the sensor's resource reads (the key through dagster.EnvVar, at tick time).
    os.environ["TRADE2026_REGISTRY_URL"] = registry_url
    os.environ["TRADE2026_REGISTRY_API_KEY"] = key
    logs = home / "logs"
    say(
        f"[1/6] starting the registry ({registry_url}, log {logs / 'registry-demo.log'}) and "
        f"serving (http://127.0.0.1:{serving_port}, log {logs / 'serving-demo.log'})"
    )
    serving_env = {
        "TRADE2026_HOME": str(home),
        "SERVING_REGISTRY_URL": registry_url,
        "SERVING_REGISTRY_API_KEY": key,
        "SERVING_POLL_INTERVAL_S": "0.5",
        "BENTOML_HOME": str(home / "bentoml"),
    }
    try:
        with (
            RegistryProcess(port=registry_port, log_file=logs / "registry-demo.log") as registry,
            RegistryClient(registry.url, api_key=key) as client,
            ServingProcess(
                port=serving_port, env=serving_env, log_file=logs / "serving-demo.log"
            ) as serving,
        ):
            return run_loop(home, client, serving, started)
    except (RegistryClientError, RuntimeError, TimeoutError, httpx.HTTPError) as exc:
        say(f"error: {type(exc).__name__}: {exc} (logs in {logs})")
        return 1


def run_loop(home: Path, client: RegistryClient, serving: ServingProcess, started: float) -> int:
    strategies = declared_strategies()
    say(f"declared strategies: {', '.join(strategies.names)}")
    say("[2/6] market data")
    if not materialize_market_data(home):
        return 1
    say("[3/6] the registry's entity → deployment → swap → rollback flow")
    walk_flow(client)
    if DEFAULT_STRATEGY in strategies:
        say(f"[4/6] a first model of {DEFAULT_STRATEGY}")
        baseline = train_and_backtest(
            f"a quick {DEFAULT_STRATEGY} (2 stumps)",
            f"{DEFAULT_STRATEGY}_training",
            definitions=baseline_definitions(strategies),
        )
        if baseline is None:
            return 1
        declared = strategies[DEFAULT_STRATEGY]
        show_tick(declared.sensor_name, tick_sensor(home, declared))
    else:
        say(f"[4/6] no {DEFAULT_STRATEGY} is declared: no quick first model")
    say("[5/6] every strategy as declared")
    trained = train_and_backtest(", ".join(strategies.names), TRAINING_JOB)
    if trained is None:
        return 1
    recorded = {
        declaration.name: show_tick(declaration.sensor_name, tick_sensor(home, declaration))
        for declaration in strategies
    }
    say("[6/6] signals from serving")
    serving.wait_up()
    answers = {}
    for declaration in strategies:
        champion = current_champion(declaration)
        symbols = strategy_symbols(declaration, universe())
        body = ask_for_signals(serving, declaration.name, champion, symbols)
        if body is None:
            return 1
        answers[declaration.name] = body
        say(f"{declaration.name} (model version {body['version']}, {body['model_family']}):")
        for symbol, signal in body["signals"].items():
            say(
                f"  {symbol:<6} {signal['action']:<4}  size {signal['size']:.2f}  "
                f"confidence {signal['confidence']:.3f}  p(up) {signal['probability']:.3f}  "
                f"features as of {signal['features_as_of'][:16]}"
            )
        for symbol, problem in body["errors"].items():
            say(f"  {symbol:<6} {problem}")
    summary(strategies, trained, recorded, answers, time.monotonic() - started)
    return 0


def current_champion(declaration: Any) -> str | None:
    from trade2026_assets.defs.deploy.aliases import current_champion as champion_of
    from trade2026_assets.tracking import MlflowResource

    resource = (defs().resources or {})["mlflow"]
    assert isinstance(resource, MlflowResource)
    return champion_of(resource, declaration)


def summary(
    strategies: Any,
    trained: dict[str, dict[str, Any]],
    recorded: dict[str, dict[str, Any] | None],
    answers: dict[str, Any],
    seconds: float,
) -> None:
    say("")
    say("summary")
    for declaration in strategies:
        name = declaration.name
        model = trained[f"{name}/model"]
        metrics = model
        backtest = {
            k.removeprefix("strategy_"): v
            for k, v in trained.get(f"{name}/backtest", {}).items()
            if k.startswith("strategy_")
        }
        failed = [
            line
            for line in trained["gates"]["lines"]
            if line.startswith(f"{name}/") and not line.endswith("passed")
        ]
        body = answers[name]
        said = recorded.get(name)
        swapped = (
            f"by automatic swap {said['swap_id']}"
            if said and "swap_id" in said
            else "(first deployment)"
            if said
            else "(no swap this run)"
        )
        say(f"  {name}")
        say(
            f"    newest model  version {model['model_version']} ({model['model_family']}): "
            f"test AUC {metrics['test_auc']:.4f}, accuracy {metrics['test_accuracy']:.4f} "
            f"(majority {metrics['test_majority_baseline_accuracy']:.4f})"
        )
        say(f"    gates         {'all passed' if not failed else '; '.join(failed)}")
        if backtest:
            say(
                f"    backtest      Sharpe {backtest['sharpe']:.2f}, total "
                f"{backtest['total_return']:+.3%}, max drawdown {backtest['max_drawdown']:.2%}"
            )
        say(f"    live          model version {body['version']} {swapped}")
        say(
            "    signals       "
            + ", ".join(
                f"{symbol} {signal['action']}" for symbol, signal in body["signals"].items()
            )
        )
    say(f"  wall time      {seconds:.0f} s; registry and serving stopped")
    say("  interactive:   make up (Dagster UI, registry, serving, MLflow UI), make down")


if __name__ == "__main__":
    sys.exit(main())
