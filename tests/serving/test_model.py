"""Loading a deployment's model from a real MLflow store."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.model import Deployment, ModelLoadError, load_model
from tests.serving.stack import register_models, register_unparsable_model


def deployment_of(uri: str) -> Deployment:
    return Deployment.from_config(
        deployment_id="d-1",
        entity_id="e-1",
        entity_name="default_ml_strategy",
        entity_version="1.0.0",
        config={"model_uri": uri},
        activated_at=None,
        swap_id=None,
    )


def test_an_mlmodel_file_that_is_not_yaml_is_a_model_that_cannot_load(tmp_path: Path) -> None:
    [good] = register_models(tmp_path, 1)
    broken = register_unparsable_model(tmp_path)
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    assert load_model(deployment_of(good), tracking_uri=tracking_uri).model_version == "1"
    with pytest.raises(ModelLoadError, match=f"cannot load {broken}: ParserError"):
        load_model(deployment_of(broken), tracking_uri=tracking_uri)
