"""The BentoML service: predictions and strategy signals from the live model.

`bentoml serve` from this directory (see bentofile.yaml). Each worker process follows the
registry on its own (serving.follower): the live model is whatever the registry's live
deployment of the slot names, switched without a gap.

Routes: POST /predict, POST /signal; GET /v1/model (live model, registry status);
/readyz (503 until a model is loaded), /livez, /metrics (BentoML's).
"""

from __future__ import annotations

import gc
import logging
import os
import sqlite3
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, cast

import bentoml
import numpy as np
from fastapi import FastAPI
from pydantic import Field
from starlette.responses import JSONResponse

from registry_service.client import RegistryClient
from serving.follower import RegistryFollower
from serving.model import MODEL_NAME, LiveModel, load_model
from serving.settings import ServingSettings
from trade2026_assets.feature_store.resource import feature_store_resource
from trade2026_assets.ml.training_set import FEATURES
from trade2026_assets.settings import AssetsSettings

if TYPE_CHECKING:
    from trade2026_assets.feature_store.retrieval import OnlineFeatureReader

logger = logging.getLogger(__name__)

# Hard bounds of a request body, checked while it is parsed; SERVING_MAX_BATCH_ROWS
# lowers the row limit.
MAX_ROWS = 100_000
MAX_SYMBOLS = 1_000
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Row = Annotated[list[FiniteFloat], Field(min_length=1, max_length=len(FEATURES) * 4)]
Symbol = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")]

info = FastAPI(title="default_ml_strategy: model info")
NO_MODEL = "no model loaded yet: GET /v1/model says why"


@bentoml.asgi_app(info, path="/v1")
@bentoml.service(
    name=MODEL_NAME,
    workers=2,
    traffic={"timeout": 30},
    # A log line per request costs more than a prediction; errors are still logged.
    logging={"access": {"enabled": False}},
)
class StrategyService:
    def __init__(self) -> None:
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
        self._store_errors = _feature_store_errors()
        self._open_features()
        # Start-up objects (Feast, MLflow, XGBoost) never die: keep them out of the
        # collector's way, which shortens the pauses requests see.
        gc.freeze()

    def __is_ready__(self) -> bool:
        return self.follower.live is not None

    # -- endpoints ---------------------------------------------------------------------

    @bentoml.api  # type: ignore[untyped-decorator]
    def predict(
        self,
        features: Annotated[list[Row], Field(min_length=1, max_length=MAX_ROWS)],
        columns: Annotated[list[str], Field(max_length=len(FEATURES) * 4)] | None = None,
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
        order = _column_order(columns)
        if isinstance(order, str):
            return _error(400, order)
        widths = sorted({len(row) for row in features})
        if widths != [len(FEATURES)]:
            return _error(
                400,
                f"each row needs {len(FEATURES)} values ({', '.join(order)}); got rows of "
                f"{widths} values",
            )
        rows = np.asarray(features, dtype=np.float32)
        if not np.isfinite(rows).all():
            return _error(400, "values must be finite and fit in float32")
        if order != FEATURES:
            rows = rows[:, [order.index(name) for name in FEATURES]]
        probabilities = model.predict(rows)
        return {"predictions": probabilities.tolist(), **_named(model)}

    @bentoml.api  # type: ignore[untyped-decorator]
    def signal(
        self, symbols: Annotated[list[Symbol], Field(min_length=1, max_length=MAX_SYMBOLS)]
    ) -> dict[str, Any]:
        """The default strategy's signal per symbol, from its online features and the live
        model. Unknown or stale symbols are answered in `errors`, the rest in `signals`."""
        model = self.follower.live
        if model is None:
            return _error(503, NO_MODEL)
        wanted = list(dict.fromkeys(symbol.upper() for symbol in symbols))
        # One reference per request: another thread may drop or reopen the reader meanwhile.
        reader = self._reader or self._open_features()
        if reader is None:
            return self._features_unavailable(model, wanted)
        try:
            answer = reader.get(wanted)
        except self._store_errors as exc:
            # The store failed, not the request (definitions gone, Redis down): every
            # symbol says so, and the store is opened afresh on the next call.
            logger.warning("online feature read failed: %s: %s", type(exc).__name__, exc)
            self._reader = None
            self._feature_error = f"{type(exc).__name__}: {exc}"
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
            "ready": self._reader is not None,
            "error": self._feature_error,
        }
        return described

    # -- helpers -----------------------------------------------------------------------

    def _open_features(self) -> OnlineFeatureReader | None:
        """Open the online store; on failure, say why (in /signal's answers and /v1/model)
        and try again on the next /signal."""
        from trade2026_assets.feature_store.resource import FeatureStoreError
        from trade2026_assets.feature_store.retrieval import OnlineFeatureReader

        failures: tuple[type[Exception], ...] = (*self._store_errors, FeatureStoreError, ValueError)
        try:
            self._reader = OnlineFeatureReader(self._feature_store.store())
            self._feature_error = None
        # SQLAlchemyError (in the store errors): Feast's SQL registry (production) may be
        # unreachable, or be creating its tables in another worker at the same moment.
        except failures as exc:
            self._feature_error = f"{type(exc).__name__}: {exc}"
        return self._reader

    def _features_unavailable(self, model: LiveModel, wanted: list[str]) -> dict[str, Any]:
        problem = f"online features unavailable: {self._feature_error}"
        return {**_named(model), "signals": {}, "errors": dict.fromkeys(wanted, problem)}


def _feature_store_errors() -> tuple[type[Exception], ...]:
    """What the online store may raise when it, not the request, is at fault: Feast
    (definitions missing), the online store (Redis; SQLite embedded), SQLAlchemy (Feast's
    SQL registry), sockets. Imported here, not at module level: importing Feast takes
    seconds, and `bentoml build` / the serve arbiter import this module without it."""
    from feast.errors import FeastError
    from redis.exceptions import RedisError
    from sqlalchemy.exc import SQLAlchemyError

    return (FeastError, RedisError, sqlite3.Error, SQLAlchemyError, OSError)


def _column_order(columns: list[str] | None) -> tuple[str, ...] | str:
    """The columns' order, or why they cannot be used."""
    if columns is None:
        return FEATURES
    if sorted(columns) != sorted(FEATURES):
        unknown = sorted(set(columns) - set(FEATURES))
        missing = sorted(set(FEATURES) - set(columns))
        repeated = sorted({name for name in columns if columns.count(name) > 1})
        return (
            f"columns must name each model feature once: unknown {unknown}, missing "
            f"{missing}, repeated {repeated}"
        )
    return tuple(columns)


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
