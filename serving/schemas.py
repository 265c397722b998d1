"""The request bodies of the service's APIs: strict types (a number is a JSON number, not
`"1.5"` or `true`), unknown fields refused, each row as wide as the model's features."""

from __future__ import annotations

from typing import Annotated, Any

import bentoml
import numpy as np
from pydantic import ConfigDict, Field, model_validator

from trade2026_assets.ml.training_set import FEATURES

# Hard bounds of a request body; SERVING_MAX_BATCH_ROWS lowers the row limit.
MAX_ROWS = 100_000
MAX_SYMBOLS = 1_000
WIDTH = len(FEATURES)
# Rows are predicted as float32: a larger value cannot be served.
FLOAT32_MAX = float(np.finfo(np.float32).max)
FiniteFloat = Annotated[
    float,
    Field(allow_inf_nan=False, json_schema_extra={"minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX}),
]
# Rows of another width are parsed (up to 4x) so the answer can name the expected columns;
# the published schema says what is accepted: exactly one value per feature.
_EXACTLY_WIDTH: dict[str, Any] = {"minItems": WIDTH, "maxItems": WIDTH}
Row = Annotated[
    list[FiniteFloat], Field(min_length=1, max_length=WIDTH * 4, json_schema_extra=_EXACTLY_WIDTH)
]
Symbol = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")]
_STRICT = ConfigDict(extra="forbid", strict=True)


class PredictRequest(bentoml.IODescriptor):  # type: ignore[misc]
    model_config = _STRICT

    features: Annotated[list[Row], Field(min_length=1, max_length=MAX_ROWS)]
    columns: (
        Annotated[
            list[str],
            Field(
                max_length=WIDTH * 4,
                json_schema_extra={
                    "items": {"type": "string", "enum": list(FEATURES)},
                    **_EXACTLY_WIDTH,
                    "uniqueItems": True,
                },
            ),
        ]
        | None
    ) = None

    @model_validator(mode="after")
    def _fits_the_model(self) -> PredictRequest:
        order = column_order(self.columns)
        widths = sorted({len(row) for row in self.features})
        if widths != [WIDTH]:
            raise ValueError(
                f"each row needs {WIDTH} values ({', '.join(order)}); got rows of {widths} values"
            )
        if np.abs(np.asarray(self.features, dtype=np.float64)).max() > FLOAT32_MAX:
            raise ValueError("values must be finite and fit in float32")
        return self


class SignalRequest(bentoml.IODescriptor):  # type: ignore[misc]
    model_config = _STRICT

    symbols: Annotated[list[Symbol], Field(min_length=1, max_length=MAX_SYMBOLS)]


def column_order(columns: list[str] | None) -> tuple[str, ...]:
    """The columns' order; ValueError says why they cannot be used."""
    if columns is None:
        return FEATURES
    if sorted(columns) != sorted(FEATURES):
        unknown = sorted(set(columns) - set(FEATURES))
        missing = sorted(set(FEATURES) - set(columns))
        repeated = sorted({name for name in columns if columns.count(name) > 1})
        raise ValueError(
            f"columns must name each model feature once: unknown {unknown}, missing "
            f"{missing}, repeated {repeated}"
        )
    return tuple(columns)
