"""The request bodies of the service's APIs: strict types (a number is a JSON number, not
`"1.5"` or `true`), unknown fields refused, each row as wide as its strategy's features.

A strategy's predict body is a model made for its feature list (`predict_request`);
`PredictRequest` is the default feature list's, the body of the unprefixed `POST /predict`."""

from __future__ import annotations

import functools
from typing import Annotated, Any

import bentoml
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from trade2026_assets.feature_catalog import DEFAULT_FEATURES

# Hard bounds of a request body; SERVING_MAX_BATCH_ROWS lowers the row limit.
MAX_ROWS = 100_000
MAX_SYMBOLS = 1_000
# Rows are predicted as float32: a larger value cannot be served.
FLOAT32_MAX = float(np.finfo(np.float32).max)
FiniteFloat = Annotated[
    float,
    Field(allow_inf_nan=False, json_schema_extra={"minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX}),
]
Symbol = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")]
_STRICT = ConfigDict(extra="forbid", strict=True)


@functools.cache
def predict_request(
    features: tuple[str, ...], base: type[BaseModel] = BaseModel
) -> type[BaseModel]:
    """The predict body of a strategy whose model takes `features`, in that order."""
    width = len(features)
    # Rows of another width are parsed (up to 4x) so the answer can name the expected
    # columns; the published schema says what is accepted: exactly one value per feature.
    exactly: dict[str, Any] = {"minItems": width, "maxItems": width}
    row = Annotated[
        list[FiniteFloat], Field(min_length=1, max_length=width * 4, json_schema_extra=exactly)
    ]
    names = {"items": {"type": "string", "enum": list(features)}, **exactly, "uniqueItems": True}

    class Request(base):  # type: ignore[misc,valid-type]
        model_config = _STRICT

        features: Annotated[list[row], Field(min_length=1, max_length=MAX_ROWS)]
        columns: (
            Annotated[list[str], Field(max_length=width * 4, json_schema_extra=names)] | None
        ) = None

        @model_validator(mode="after")
        def _fits_the_model(self) -> Any:
            order = column_order(self.columns, features)
            widths = sorted({len(r) for r in self.features})
            if widths != [width]:
                raise ValueError(
                    f"each row needs {width} values ({', '.join(order)}); "
                    f"got rows of {widths} values"
                )
            if np.abs(np.asarray(self.features, dtype=np.float64)).max() > FLOAT32_MAX:
                raise ValueError("values must be finite and fit in float32")
            return self

    Request.__name__ = Request.__qualname__ = "PredictRequest"
    return Request


PredictRequest = predict_request(DEFAULT_FEATURES, bentoml.IODescriptor)


class SignalRequest(bentoml.IODescriptor):  # type: ignore[misc]
    model_config = _STRICT

    symbols: Annotated[list[Symbol], Field(min_length=1, max_length=MAX_SYMBOLS)]


def column_order(columns: list[str] | None, features: tuple[str, ...]) -> tuple[str, ...]:
    """The columns' order; ValueError says why they cannot be used for `features`."""
    if columns is None:
        return features
    if sorted(columns) != sorted(features):
        unknown = sorted(set(columns) - set(features))
        missing = sorted(set(features) - set(columns))
        repeated = sorted({name for name in columns if columns.count(name) > 1})
        raise ValueError(
            f"columns must name each model feature once: unknown {unknown}, missing "
            f"{missing}, repeated {repeated}"
        )
    return tuple(columns)
