"""The BentoML service: predictions and strategy signals from the live model.

`bentoml serve` from this directory (see bentofile.yaml). Each worker process follows the
registry on its own (serving.follower): the live model is whatever the registry's live
deployment of the slot names, switched without a gap.

Routes: POST /predict, POST /signal; GET /v1/model (live model, registry status);
/readyz (503 until a model is loaded, or if the follower stopped), /livez, /metrics.
Every request first passes serving.gate (API key, body type, size and shape; metrics).
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
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import bentoml
import numpy as np
from fastapi import FastAPI
from starlette.responses import JSONResponse

from registry_service.client import RegistryClient
from serving.follower import RegistryFollower
from serving.gate import RequestGate
from serving.model import MODEL_NAME, LiveModel, load_model
from serving.openapi import complete
from serving.schemas import MAX_SYMBOLS, PredictRequest, SignalRequest, column_order
from serving.settings import ServingSettings
from trade2026_assets.feature_store.resource import feature_store_resource
from trade2026_assets.ml.training_set import FEATURES
from trade2026_assets.settings import AssetsSettings

if TYPE_CHECKING:
    from trade2026_assets.feature_store.retrieval import OnlineFeatureReader, OnlineFeatures

logger = logging.getLogger(__name__)

info = FastAPI(title="default_ml_strategy: model info")
NO_MODEL = "no model loaded yet: GET /v1/model says why"
# Bytes a body may take per row (a full-precision row of ten values is about 210) and per
# symbol, plus room for the rest: a body is refused by its size before it is parsed.
BYTES_PER_ROW = 512
BYTES_PER_SYMBOL = 64
BODY_SLACK = 64 * 1024
# /signal's own threads: a slow online store holds these, never /predict's.
STORE_THREADS = 4
# How often the online store is probed for /v1/model when no /signal asks.
STORE_PROBE_S = 5.0
PROBE_SYMBOL = "__PROBE__"


@bentoml.asgi_app(info, path="/v1")
@bentoml.service(
    name=MODEL_NAME,
    workers=2,
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
        assets = AssetsSettings()
        key = self.settings.registry_api_key
        registry = RegistryClient(
            self.settings.registry_url,
            api_key=key.get_secret_value() if key else None,
            timeout=self.settings.registry_timeout_s,
        )
        self.follower = RegistryFollower(
            registry,
            environment=self.settings.environment,
            slot=self.settings.slot,
            consumer=self.settings.consumer_name(),
            loader=partial(load_model, tracking_uri=self.settings.tracking_uri(assets)),
            poll_interval_s=self.settings.poll_interval_s,
            nats_url=self.settings.nats_url,
            nats_subject_prefix=self.settings.nats_subject_prefix,
        )
        self.follower.start()
        self._feature_store = feature_store_resource(
            assets, secret=lambda name: os.environ.get(name, "")
        )
        self._reader: OnlineFeatureReader | None = None
        self._feature_error: str | None = None
        self._feature_latency_ms: float | None = None
        self._store_errors = _feature_store_errors()
        self._store_pool = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="online-store")
        self._open_features()
        threading.Thread(target=self._probe_store, name="online-store-probe", daemon=True).start()
        # Start-up objects (Feast, MLflow, XGBoost) never die: keep them out of the
        # collector's way, which shortens the pauses requests see.
        gc.freeze()

    def __is_ready__(self) -> bool:
        return self.follower.live is not None and self.follower.healthy()

    # -- endpoints ---------------------------------------------------------------------

    @bentoml.api(input_spec=PredictRequest)  # type: ignore[untyped-decorator]
    def predict(
        self, features: list[list[float]], columns: list[str] | None = None
    ) -> dict[str, Any]:
        """Probability of class 1 (next bar up) per row. Rows hold the model's features in
        its order (`columns` may name another order)."""
        model = self.follower.live
        if model is None:
            return _error(503, NO_MODEL)
        if len(features) > self.settings.max_batch_rows:
            return _error(
                400, f"{len(features)} rows: at most {self.settings.max_batch_rows} per request"
            )
        # The gate checked the body against PredictRequest: widths, columns, values fit.
        order = column_order(columns)
        rows = np.asarray(features, dtype=np.float32)
        if order != FEATURES:
            rows = rows[:, [order.index(name) for name in FEATURES]]
        probabilities = model.predict(rows)
        return {"predictions": probabilities.tolist(), **_named(model)}

    @bentoml.api(input_spec=SignalRequest)  # type: ignore[untyped-decorator]
    async def signal(self, symbols: list[str]) -> dict[str, Any]:
        """The default strategy's signal per symbol, from its online features and the live
        model. Unknown or stale symbols are answered in `errors`, the rest in `signals`."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._store_pool, self._signal, symbols)

    def _signal(self, symbols: list[str]) -> dict[str, Any]:
        model = self.follower.live
        if model is None:
            return _error(503, NO_MODEL)
        wanted = list(dict.fromkeys(symbol.upper() for symbol in symbols))
        # One reference per request: another thread may drop or reopen the reader meanwhile.
        reader = self._reader or self._open_features()
        if reader is None:
            return self._features_unavailable(model, wanted)
        answer = self._read(reader, wanted)
        if answer is None:
            return self._features_unavailable(model, wanted)
        probabilities = model.predict(answer.matrix()) if answer.found else np.empty(0)
        strategy = model.deployment.strategy
        signals = {}
        for (symbol, row), probability in zip(answer.found.items(), probabilities, strict=True):
            p = float(probability)
            signals[symbol] = {
                **strategy.signal_for(p),
                "probability": p,
                "features_as_of": row.as_of.isoformat(),
            }
        return {**_named(model), "signals": signals, "errors": answer.problems}

    @info.get("/model")
    def model_info(self) -> dict[str, Any]:
        """Which deployment, entity and MLflow version is live, since when, by which swap;
        the registry's and the feature store's state."""
        described = self.follower.describe()
        described["feature_store"] = {
            "online_store": self._feature_store.online_kind,
            "ready": self._reader is not None and self._feature_error is None,
            "error": self._feature_error,
            "last_read_ms": self._feature_latency_ms,
            "timeout_s": self.settings.store_timeout_s,
        }
        return described

    # -- helpers -----------------------------------------------------------------------

    def _read(self, reader: OnlineFeatureReader, wanted: list[str]) -> OnlineFeatures | None:
        """The store's answer, or None when the store failed (said in `_feature_error`)."""
        started = time.monotonic()
        try:
            answer = reader.get(wanted)
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
        while True:
            time.sleep(STORE_PROBE_S)
            try:
                reader = self._reader or self._open_features()
                if reader is not None:
                    self._read(reader, [PROBE_SYMBOL])
                failure = None
            except Exception as exc:  # the probe must outlive anything a read raises
                self._feature_error = f"{type(exc).__name__}: {exc}"
                if self._feature_error != failure:
                    logger.exception("online store probe failed")
                failure = self._feature_error

    def _open_features(self) -> OnlineFeatureReader | None:
        """Open the online store; on failure, say why (in /signal's answers and /v1/model)
        and try again on the next /signal."""
        from trade2026_assets.feature_store.resource import FeatureStoreError
        from trade2026_assets.feature_store.retrieval import OnlineFeatureReader

        failures: tuple[type[Exception], ...] = (*self._store_errors, FeatureStoreError, ValueError)
        try:
            # Opening reaches no Redis: only a read that works clears a store error.
            self._reader = OnlineFeatureReader(
                self._feature_store.store(), timeout_s=self.settings.store_timeout_s
            )
        # SQLAlchemyError (in the store errors): Feast's SQL registry (production) may be
        # unreachable, or be creating its tables in another worker at the same moment.
        except failures as exc:
            self._feature_error = f"{type(exc).__name__}: {exc}"
        return self._reader

    def _features_unavailable(self, model: LiveModel, wanted: list[str]) -> dict[str, Any]:
        problem = f"online features unavailable: {self._feature_error}"
        return {**_named(model), "signals": {}, "errors": dict.fromkeys(wanted, problem)}


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


def _named(model: LiveModel) -> dict[str, Any]:
    return {
        "model": MODEL_NAME,
        "version": model.model_version,
        "deployment_id": model.deployment.deployment_id,
    }


def _error(status: int, message: str) -> dict[str, Any]:
    """An error answer with its message. BentoML passes a returned Response through as it
    is (its own 5xx errors hide the message); typed as the endpoints' JSON result because
    BentoML derives the API schema from the annotation, which cannot name a Response."""
    return cast("dict[str, Any]", JSONResponse({"error": message}, status_code=status))


def gate_settings(settings: ServingSettings) -> dict[str, Any]:
    """The request gate's limits and keys from the settings: the largest /predict body
    follows SERVING_MAX_BATCH_ROWS."""
    return {
        "bodies": {
            "/predict": (PredictRequest, settings.max_batch_rows * BYTES_PER_ROW + BODY_SLACK),
            "/signal": (SignalRequest, MAX_SYMBOLS * BYTES_PER_SYMBOL + BODY_SLACK),
        },
        "api_keys": settings.key_scopes() if settings.require_api_key else None,
    }


# The class as BentoML's decorators left it: a bentoml Service.
_SERVICE: Any = StrategyService
# BentoML takes its middleware when the class is defined, and `bentoml serve` imports this
# module before it starts a worker: reading the gate's settings here makes a bad key
# configuration refuse to start, rather than fail in every worker.
_SERVICE.add_asgi_middleware(
    RequestGate,
    **gate_settings(ServingSettings()),
    openapi=lambda: complete(_SERVICE.openapi_spec.asdict()),
)
