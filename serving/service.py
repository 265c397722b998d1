"""The BentoML service: predictions and signals of every declared strategy, each from the
model its registry slot names live.

`bentoml serve` from this directory (see bentofile.yaml). The strategies are the
declarations of `TRADE2026_STRATEGIES_DIR`; each has a follower of its registry slot
(serving.follower), in each worker process, switching its live model without a gap and
never touching another strategy's.

Routes: POST /strategies/{name}/predict, POST /strategies/{name}/signal, GET /strategies
(each strategy's live version, family, since when, by which swap, or why none is live);
the unprefixed POST /predict and POST /signal answer for the default strategy
(`default_ml_strategy`), GET /v1/model describes it; /readyz, /livez, /metrics. An
undeclared strategy is a 404. Every request first passes serving.gate (API key, body type,
size and shape against that strategy's features; metrics).

Readiness (/readyz): every declared strategy's follower runs and has polled lately, and at
least one strategy is live. A strategy nobody deployed yet does not hold the others back
(its routes answer 503 saying why); a follower that stopped does, since its strategy could
never go live here.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import signal as signals
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import bentoml
import numpy as np
from fastapi import FastAPI, Request
from pydantic import BaseModel, ValidationError
from starlette.responses import JSONResponse, Response

from registry_service.client import RegistryClient
from serving.examples import request_examples
from serving.follower import RegistryEvents, RegistryFollower, describe_model
from serving.gate import VALIDATED_BODY, RequestGate, validation_problem
from serving.live_model import LiveModel, load_model
from serving.online import open_reader, read_features
from serving.openapi import complete
from serving.schemas import (
    MAX_SYMBOLS,
    PredictRequest,
    SignalRequest,
    column_order,
    predict_request,
)
from serving.settings import WORKERS, ServingSettings, retired_variables
from trade2026_assets.feature_store.store import feature_store_config
from trade2026_assets.mlflow_requests import bound_mlflow_requests
from trade2026_assets.settings import AssetsSettings
from trade2026_assets.strategy.declaration import DEFAULT_STRATEGY, StrategyDeclaration

if TYPE_CHECKING:
    from trade2026_assets.feature_store.retrieval import OnlineFeatureReader, OnlineFeatures

logger = logging.getLogger(__name__)

info = FastAPI(title=f"{DEFAULT_STRATEGY}: model info")
# The per-strategy routes; documented by serving.openapi, one path per declared strategy.
routes = FastAPI(title="strategies")
# Bytes a body may take per row (a full-precision row of ten values is about 210) and per
# symbol, plus room for the rest: a body is refused by its size before it is parsed.
BYTES_PER_ROW = 512
BYTES_PER_SYMBOL = 64
BODY_SLACK = 64 * 1024
# Batches up to this many rows are predicted on the event loop (microseconds); larger
# ones in a thread, so they never stall this worker's other requests.
INLINE_ROWS = 64
# /signal's own threads: a slow online store holds these, never /predict's.
STORE_THREADS = 4
# How often the online store is probed for /v1/model when no /signal asks.
STORE_PROBE_S = 5.0
PROBE_SYMBOL = "__PROBE__"


@dataclass(frozen=True)
class Strategy:
    """A declared strategy as this worker serves it."""

    declaration: StrategyDeclaration
    follower: RegistryFollower
    request: type[BaseModel]

    @property
    def name(self) -> str:
        return self.declaration.name

    def why_not_live(self) -> str:
        """Why no model of this strategy answers (its routes' 503, GET /strategies)."""
        status = self.follower.status
        slot = f"slot {self.declaration.slot!r} ({self.follower.environment})"
        if status.failed_deployments:
            failures = "; ".join(f"{d}: {e}" for d, e in status.failed_deployments.items())
            return f"{slot}: its deployment cannot be served: {failures}"
        if status.last_poll_at is None or not status.registry_reachable:
            return f"{slot}: the registry was not reached: {status.registry_error or 'not yet'}"
        if status.slot_empty:
            return f"{slot}: no deployment is live"
        return f"{slot}: loading"


@bentoml.asgi_app(routes, path="/")
@bentoml.asgi_app(info, path="/v1")
@bentoml.service(
    name=DEFAULT_STRATEGY,
    workers=WORKERS,
    traffic={"timeout": 30},
    # A log line per request costs more than a prediction; errors are still logged.
    logging={"access": {"enabled": False}},
    # BentoML labels its request metrics with the raw path, so every unknown path would
    # add series for good: serving.gate measures the service's own routes instead.
    metrics={"enabled": False},
)
class StrategyService:
    def __init__(self) -> None:
        _die_with_parent()
        self.settings = ServingSettings()
        for retired in retired_variables(os.environ):
            logger.warning(retired)
        # A frozen tracking server holds only the load of the model that needs it, briefly.
        bound_mlflow_requests(
            timeout_s=self.settings.mlflow_timeout_s, max_retries=self.settings.mlflow_retries
        )
        assets = AssetsSettings()
        declarations = assets.strategies()
        tracking_uri = self.settings.tracking_uri(assets)
        nats_url = self.settings.nats_url
        self._events = (
            RegistryEvents(nats_url, subject_prefix=self.settings.nats_subject_prefix)
            if nats_url
            else None
        )
        self.strategies: dict[str, Strategy] = {}
        for declaration in declarations:
            follower = RegistryFollower(
                self._registry(),
                environment=self.settings.environment,
                slot=declaration.slot,
                consumer=self.settings.consumer_name(),
                loader=partial(
                    load_model, tracking_uri=tracking_uri, features=declaration.features
                ),
                poll_interval_s=self.settings.poll_interval_s,
                events=self._events,
            )
            request = predict_request(declaration.features)
            self.strategies[declaration.name] = Strategy(declaration, follower, request)
        for strategy in self.strategies.values():
            strategy.follower.start()
        if self._events is not None:
            self._events.start()
        self._feature_store = feature_store_config(
            assets, secret=lambda name: os.environ.get(name, "")
        )
        self._reader: OnlineFeatureReader | None = None
        self._feature_error: str | None = None
        self._feature_latency_ms: float | None = None
        self._store_errors = _feature_store_errors()
        self._store_pool = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="online-store")
        self._open_features()
        threading.Thread(target=self._probe_store, name="online-store-probe", daemon=True).start()
        # Start-up objects (Feast, MLflow, the models) never die: keep them out of the
        # collector's way, which shortens the pauses requests see.
        gc.freeze()

    def _registry(self) -> RegistryClient:
        key = self.settings.registry_api_key
        return RegistryClient(
            self.settings.registry_url,
            api_key=key.get_secret_value() if key else None,
            timeout=self.settings.registry_timeout_s,
        )

    def __is_ready__(self) -> bool:
        followers = [strategy.follower for strategy in self.strategies.values()]
        return all(f.healthy() for f in followers) and any(f.live is not None for f in followers)

    # -- the default strategy's unprefixed routes -------------------------------------------

    @bentoml.api(input_spec=PredictRequest)  # type: ignore[untyped-decorator]
    def predict(
        self, features: list[list[float]], columns: list[str] | None = None
    ) -> dict[str, Any]:
        """Probability of class 1 (next bar up) per row, from the default strategy's live
        model. Rows hold its features in its order (`columns` may name another order)."""
        strategy = self.strategies.get(DEFAULT_STRATEGY)
        if strategy is None:
            return _unknown(DEFAULT_STRATEGY, self.strategies)
        return self._predict(strategy, features, columns)

    @bentoml.api(input_spec=SignalRequest)  # type: ignore[untyped-decorator]
    async def signal(self, symbols: list[str]) -> dict[str, Any]:
        """The default strategy's signal per symbol, from its online features and its live
        model. Unknown or stale symbols are answered in `errors`, the rest in `signals`."""
        strategy = self.strategies.get(DEFAULT_STRATEGY)
        if strategy is None:
            return _unknown(DEFAULT_STRATEGY, self.strategies)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._store_pool, self._signal, strategy, symbols)

    @info.get("/model")
    def model_info(self) -> dict[str, Any]:
        """Which deployment, entity and MLflow version of the default strategy is live,
        since when, by which swap; the registry's and the feature store's state."""
        strategy = self.strategies.get(DEFAULT_STRATEGY)
        if strategy is None:
            return _unknown(DEFAULT_STRATEGY, self.strategies)
        described = strategy.follower.describe()
        described["strategy"] = DEFAULT_STRATEGY
        described["feature_store"] = self._store_state()
        return described

    # -- every strategy's routes ------------------------------------------------------------

    @routes.get("/strategies", include_in_schema=False)
    def list_strategies(self) -> dict[str, Any]:
        """Each declared strategy: what is live (version, family, since when, by which
        swap), or why nothing is; which worker answered and whether it is ready (each
        follows on its own, and `/readyz` is answered by any one of them)."""
        return {
            "strategies": [self._describe(s) for s in self.strategies.values()],
            "feature_store": self._store_state(),
            "worker": self.settings.consumer_name(),
            "ready": self.__is_ready__(),
        }

    @routes.post("/strategies/{name}/predict", include_in_schema=False)
    async def strategy_predict(self, name: str, request: Request) -> Response:
        strategy = self.strategies.get(name)
        if strategy is None:
            return cast("Response", _unknown(name, self.strategies))
        body = request.scope.get("state", {}).get(VALIDATED_BODY)
        if not isinstance(body, strategy.request):
            # Not checked by the gate (it always is when the service runs as built).
            try:
                body = strategy.request.model_validate_json(await request.body())
            except ValidationError as exc:
                return JSONResponse(validation_problem(exc), status_code=400)
        features: list[list[float]] = body.features  # type: ignore[attr-defined]
        columns: list[str] | None = body.columns  # type: ignore[attr-defined]
        if len(features) <= INLINE_ROWS:
            answer = self._predict(strategy, features, columns)
        else:
            import anyio.to_thread

            answer = await anyio.to_thread.run_sync(self._predict, strategy, features, columns)
        return answer if isinstance(answer, Response) else JSONResponse(answer)

    @routes.post("/strategies/{name}/signal", include_in_schema=False)
    async def strategy_signal(self, name: str, request: Request) -> Response:
        strategy = self.strategies.get(name)
        if strategy is None:
            return cast("Response", _unknown(name, self.strategies))
        body = request.scope.get("state", {}).get(VALIDATED_BODY)
        if not isinstance(body, SignalRequest):
            try:
                body = SignalRequest.model_validate_json(await request.body())
            except ValidationError as exc:
                return JSONResponse(validation_problem(exc), status_code=400)
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(self._store_pool, self._signal, strategy, body.symbols)
        return answer if isinstance(answer, Response) else JSONResponse(answer)

    # -- helpers -----------------------------------------------------------------------

    def _predict(
        self, strategy: Strategy, features: list[list[float]], columns: list[str] | None
    ) -> dict[str, Any]:
        model = strategy.follower.live
        if model is None:
            return _error(503, f"{strategy.name}: no model is live: {strategy.why_not_live()}")
        if len(features) > self.settings.max_batch_rows:
            return _error(
                400, f"{len(features)} rows: at most {self.settings.max_batch_rows} per request"
            )
        # The gate checked the body against the declared features, which the live model
        # takes (load_model refuses any other): a mismatch here is the unprefixed /predict
        # on a default strategy declared with other features.
        try:
            order = column_order(columns, model.features)
        except ValueError as exc:
            return _error(400, str(exc))
        rows = np.asarray(features, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != len(order):
            return _error(400, f"each row needs {len(order)} values ({', '.join(order)})")
        if order != model.features:
            # Contiguous, as rows in the declared order are: a model's sums (BLAS) may
            # round differently over another memory layout.
            rows = np.ascontiguousarray(rows[:, [order.index(name) for name in model.features]])
        probabilities = model.predict(rows)
        return {"predictions": probabilities.tolist(), **_named(strategy, model)}

    def _signal(self, strategy: Strategy, symbols: list[str]) -> dict[str, Any]:
        model = strategy.follower.live
        if model is None:
            return _error(503, f"{strategy.name}: no model is live: {strategy.why_not_live()}")
        wanted = list(dict.fromkeys(symbol.upper() for symbol in symbols))
        # One reference per request: another thread may drop or reopen the reader meanwhile.
        reader = self._reader or self._open_features()
        if reader is None:
            return self._features_unavailable(strategy, model, wanted)
        indicator_set = model.deployment.config.indicator_set or strategy.declaration.indicator_set
        answer = self._read(reader, wanted, indicator_set, model.features)
        if answer is None:
            return self._features_unavailable(strategy, model, wanted)
        probabilities = model.predict(answer.matrix()) if answer.found else np.empty(0)
        signals = {}
        for (symbol, row), probability in zip(answer.found.items(), probabilities, strict=True):
            p = float(probability)
            signals[symbol] = {
                **model.rule.signal_for(p),
                "probability": p,
                "features_as_of": row.as_of.isoformat(),
            }
        return {**_named(strategy, model), "signals": signals, "errors": answer.problems}

    def _describe(self, strategy: Strategy) -> dict[str, Any]:
        declaration = strategy.declaration
        follower = strategy.follower
        live = follower.live
        return {
            "name": declaration.name,
            "route": declaration.route,
            "slot": declaration.slot,
            "environment": follower.environment,
            "registered_model": declaration.registered_model,
            "features": list(declaration.features),
            "live": None
            if live is None
            else {
                **describe_model(live),
                "model_family": live.family,
                "rule": live.rule.model_dump(),
            },
            "why_not_live": None if live is not None else strategy.why_not_live(),
            "follower": {
                "running": follower.healthy(),
                "error": follower.status.poll_error,
                "registry_reachable": follower.status.registry_reachable,
                "failed_deployments": dict(follower.status.failed_deployments),
                "switches": follower.status.switches,
            },
        }

    def _store_state(self) -> dict[str, Any]:
        return {
            "online_store": self._feature_store.online_kind,
            "ready": self._reader is not None and self._feature_error is None,
            "error": self._feature_error,
            "last_read_ms": self._feature_latency_ms,
            "timeout_s": self.settings.store_timeout_s,
        }

    def _read(
        self,
        reader: OnlineFeatureReader,
        wanted: list[str],
        indicator_set: str,
        features: tuple[str, ...],
    ) -> OnlineFeatures | None:
        """The store's answer, or None when the store failed (said in `_feature_error`)."""
        started = time.monotonic()
        try:
            answer = read_features(reader, wanted, indicator_set=indicator_set, features=features)
        except self._store_errors as exc:
            # The store failed, not the request (definitions gone, Redis down or slow):
            # every symbol says so, and the store is opened afresh on the next call.
            error = f"{type(exc).__name__}: {exc}"
            if error != self._feature_error:
                logger.warning("online feature read failed: %s", error)
            self._reader = None
            self._feature_error = error
            return None
        finally:
            self._feature_latency_ms = round((time.monotonic() - started) * 1000, 1)
        self._feature_error = None
        return answer

    def _probe_store(self) -> None:
        """Read one (unknown) symbol now and then, so /v1/model tells a store that is down
        or slow even while no /signal asks."""
        failure = None
        probe = next(iter(self.strategies.values())).declaration
        while True:
            time.sleep(STORE_PROBE_S)
            try:
                reader = self._reader or self._open_features()
                if reader is not None:
                    self._read(reader, [PROBE_SYMBOL], probe.indicator_set, probe.features)
                failure = None
            except Exception as exc:  # the probe must outlive anything a read raises
                self._feature_error = f"{type(exc).__name__}: {exc}"
                if self._feature_error != failure:
                    logger.exception("online store probe failed")
                failure = self._feature_error

    def _open_features(self) -> OnlineFeatureReader | None:
        """Open the online store; on failure, say why (in /signal's answers and /v1/model)
        and try again on the next /signal."""
        from trade2026_assets.feature_store.store import FeatureStoreError

        failures: tuple[type[Exception], ...] = (*self._store_errors, FeatureStoreError, ValueError)
        try:
            # Opening reaches no Redis: only a read that works clears a store error.
            self._reader = open_reader(self._feature_store, timeout_s=self.settings.store_timeout_s)
        # SQLAlchemyError (in the store errors): Feast's SQL registry (production) may be
        # unreachable, or be creating its tables in another worker at the same moment.
        except failures as exc:
            self._feature_error = f"{type(exc).__name__}: {exc}"
        return self._reader

    def _features_unavailable(
        self, strategy: Strategy, model: LiveModel, wanted: list[str]
    ) -> dict[str, Any]:
        problem = f"online features unavailable: {self._feature_error}"
        return {
            **_named(strategy, model),
            "signals": {},
            "errors": dict.fromkeys(wanted, problem),
        }


def _die_with_parent() -> None:
    """BentoML's workers run in sessions of their own: a worker whose `bentoml serve` is
    killed would keep answering, out of reach of whoever stops serving. Linux ends it with
    its parent instead."""
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signals.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: nothing to set
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _feature_store_errors() -> tuple[type[Exception], ...]:
    """What the online store may raise when it, not the request, is at fault: Feast
    (definitions missing), the online store (Redis; SQLite embedded), SQLAlchemy (Feast's
    SQL registry), sockets. Imported here, not at module level: importing Feast takes
    seconds, and `bentoml build` / the serve arbiter import this module without it."""
    from feast.errors import FeastError
    from redis.exceptions import RedisError
    from sqlalchemy.exc import SQLAlchemyError

    return (FeastError, RedisError, sqlite3.Error, SQLAlchemyError, OSError)


def _named(strategy: Strategy, model: LiveModel) -> dict[str, Any]:
    return {
        "strategy": strategy.name,
        "model": strategy.declaration.registered_model,
        "version": model.model_version,
        "model_family": model.family,
        "deployment_id": model.deployment.deployment_id,
    }


def _error(status: int, message: str) -> dict[str, Any]:
    """An error answer with its message. BentoML passes a returned Response through as it
    is (its own 5xx errors hide the message); typed as the endpoints' JSON result because
    BentoML derives the API schema from the annotation, which cannot name a Response."""
    return cast("dict[str, Any]", JSONResponse({"error": message}, status_code=status))


def _unknown(name: str, strategies: dict[str, Strategy]) -> dict[str, Any]:
    declared = ", ".join(strategies) or "none"
    return _error(404, f"no strategy named {name!r} is declared (declared: {declared})")


def gate_settings(
    settings: ServingSettings, strategies: list[StrategyDeclaration] | None = None
) -> dict[str, Any]:
    """The request gate's limits and keys from the settings: the largest predict body
    follows SERVING_MAX_BATCH_ROWS; each declared strategy's predict body is checked
    against its own features (the unprefixed /predict against the default strategy's)."""
    predict_limit = settings.max_batch_rows * BYTES_PER_ROW + BODY_SLACK
    signal = (SignalRequest, MAX_SYMBOLS * BYTES_PER_SYMBOL + BODY_SLACK)
    bodies: dict[str, tuple[type[BaseModel], int]] = {
        "/predict": (PredictRequest, predict_limit),
        "/signal": signal,
    }
    for declaration in strategies or []:
        request = predict_request(declaration.features)
        bodies[f"{declaration.route}/predict"] = (request, predict_limit)
        bodies[f"{declaration.route}/signal"] = signal
    return {
        "bodies": bodies,
        "routes": frozenset({"/strategies", *bodies}),
        "api_keys": settings.key_scopes() if settings.require_api_key else None,
    }


# The class as BentoML's decorators left it: a bentoml Service.
_SERVICE: Any = StrategyService
# BentoML takes its middleware when the class is defined, and `bentoml serve` imports this
# module before it starts a worker: reading the gate's settings and the declarations here
# makes a bad key configuration or a bad declaration refuse to start, rather than fail in
# every worker.
_ASSETS = AssetsSettings()
_STRATEGIES = list(_ASSETS.strategies())


def _api_description() -> dict[str, Any]:
    universe, sources = _ASSETS.universe, _ASSETS.source_symbols()
    examples = {d.name: request_examples(d, universe, sources) for d in _STRATEGIES}
    return complete(_SERVICE.openapi_spec.asdict(), _STRATEGIES, examples)


_SERVICE.add_asgi_middleware(
    RequestGate, **gate_settings(ServingSettings(), _STRATEGIES), openapi=_api_description
)
