"""Loading a deployment's model from a real MLflow store, either family."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scripts.harness.strategy_models import (
    register_models,
    register_strategy_model,
    register_unparsable_model,
)
from serving.live_model import Deployment, ModelLoadError, load_model
from trade2026_assets.feature_catalog import DEFAULT_FEATURES
from trade2026_assets.strategy.declaration import parse_declaration

LOGIT = """
name: swing
model: {family: logistic_regression}
features: [momentum_5, volume_z, rsi]
signal: {buy_threshold: 0.7, sell_threshold: 0.2}
"""


def deployment_of(uri: str, **config: Any) -> Deployment:
    return Deployment.from_config(
        deployment_id="d-1",
        entity_id="e-1",
        entity_name="default_ml_strategy",
        entity_version="1.0.0",
        config={"model_uri": uri, **config},
        activated_at=None,
        swap_id=None,
    )


def tracking(home: Path) -> str:
    return f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"


def test_an_mlmodel_file_that_is_not_yaml_is_a_model_that_cannot_load(tmp_path: Path) -> None:
    [good] = register_models(tmp_path, 1)
    broken = register_unparsable_model(tmp_path)
    uri = tracking(tmp_path)
    loaded = load_model(deployment_of(good), tracking_uri=uri, features=DEFAULT_FEATURES)
    assert (loaded.model_version, loaded.family) == ("1", "xgboost")
    with pytest.raises(ModelLoadError, match=f"cannot load {broken}: ParserError"):
        load_model(deployment_of(broken), tracking_uri=uri, features=DEFAULT_FEATURES)


def test_a_logistic_regression_loads_with_its_rule_and_features(tmp_path: Path) -> None:
    declaration = parse_declaration(LOGIT, origin="swing.yaml")
    model_uri = register_strategy_model(tmp_path, declaration, seed=4)
    config = declaration.entity_config("1")
    deployment = deployment_of(model_uri, **config)
    live = load_model(deployment, tracking_uri=tracking(tmp_path), features=declaration.features)
    assert (live.family, live.model_version, live.features) == (
        "logistic_regression",
        "1",
        ("momentum_5", "volume_z", "rsi"),
    )
    assert (live.rule.buy_threshold, live.rule.sell_threshold) == (0.7, 0.2)
    probabilities = live.predict(np.zeros((3, 3), dtype=np.float32))
    assert probabilities.shape == (3,)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()


def test_a_deployment_of_other_features_than_declared_is_refused(tmp_path: Path) -> None:
    declaration = parse_declaration(LOGIT, origin="swing.yaml")
    model_uri = register_strategy_model(tmp_path, declaration, seed=4)
    deployment = deployment_of(model_uri, **declaration.entity_config("1"))
    with pytest.raises(ModelLoadError, match=r"names features \['momentum_5'.*declares \['rsi'\]"):
        load_model(deployment, tracking_uri=tracking(tmp_path), features=("rsi",))
    # A model of the declared features but another width than its deployment says.
    narrow = deployment_of(model_uri, **{**declaration.entity_config("1"), "features": ["rsi"]})
    with pytest.raises(ModelLoadError, match="takes 3 features, its deployment names 1"):
        load_model(narrow, tracking_uri=tracking(tmp_path), features=("rsi",))


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"model_uri": ""}, "model_uri: String should have at least 1 character"),
        ({"model_family": "forest"}, "model_family: Input should be 'xgboost'"),
        ({"features": ["nope"]}, "features: features not in the catalog: ['nope']"),
        ({"buy_threshold": 0.3, "sell_threshold": 0.5}, "sell_threshold (0.5) is above"),
    ],
)
def test_a_bad_deployment_config_is_a_model_that_cannot_load(
    config: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ModelLoadError, match="deployment d-1: bad config: ") as raised:
        deployment_of("models:/x/1", **config)
    assert problem in str(raised.value)
