"""The request bodies of the service's APIs: strict types (a number is a JSON number, not
`"1.5"` or `true`), unknown fields refused."""

from __future__ import annotations

from typing import Annotated

import bentoml
from pydantic import ConfigDict, Field

from trade2026_assets.ml.training_set import FEATURES

# Hard bounds of a request body; SERVING_MAX_BATCH_ROWS lowers the row limit.
MAX_ROWS = 100_000
MAX_SYMBOLS = 1_000
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Row = Annotated[list[FiniteFloat], Field(min_length=1, max_length=len(FEATURES) * 4)]
Symbol = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")]
_STRICT = ConfigDict(extra="forbid", strict=True)


class PredictRequest(bentoml.IODescriptor):  # type: ignore[misc]
    model_config = _STRICT

    features: Annotated[list[Row], Field(min_length=1, max_length=MAX_ROWS)]
    columns: Annotated[list[str], Field(max_length=len(FEATURES) * 4)] | None = None


class SignalRequest(bentoml.IODescriptor):  # type: ignore[misc]
    model_config = _STRICT

    symbols: Annotated[list[Symbol], Field(min_length=1, max_length=MAX_SYMBOLS)]
