"""The API page's request examples: each is a body its route accepts, naming a symbol the
strategy trades and a row of its features as the pipeline computes them."""

from __future__ import annotations

import numpy as np
import pytest

from serving.examples import request_examples
from serving.schemas import SignalRequest, predict_request
from trade2026_assets.settings import DEMO_SYMBOLS, STRATEGIES_DIR
from trade2026_assets.strategy.declaration import (
    StrategyDeclaration,
    load_strategies,
    strategy_symbols,
)

SHIPPED = list(load_strategies(STRATEGIES_DIR, symbols=list(DEMO_SYMBOLS)))


@pytest.mark.parametrize("declaration", SHIPPED, ids=lambda d: d.name)
def test_each_example_is_a_body_its_route_accepts(declaration: StrategyDeclaration) -> None:
    examples = request_examples(declaration, DEMO_SYMBOLS)
    features = declaration.features
    predict = predict_request(features).model_validate(examples["predict"])
    [row] = predict.features  # type: ignore[attr-defined]
    assert np.isfinite(row).all()
    assert len(set(row)) == len(features), row
    [symbol] = SignalRequest.model_validate(examples["signal"]).symbols
    assert symbol in strategy_symbols(declaration, DEMO_SYMBOLS)


def test_a_strategy_of_the_whole_universe_is_shown_with_its_first_symbol() -> None:
    everywhere = [d for d in SHIPPED if not d.universe.symbols]
    assert everywhere
    for declaration in everywhere:
        assert request_examples(declaration, DEMO_SYMBOLS)["signal"] == {"symbols": ["SYNA"]}
