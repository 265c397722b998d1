"""Both model families fit, predict in the declared feature order, and round-trip through
their MLflow flavors into a real (file-backed) MLflow store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from trade2026_assets.ml import classifiers
from trade2026_assets.strategy.declaration import (
    LogisticRegressionModel,
    ModelSpec,
    XgboostModel,
)
from trade2026_assets.tracking import MlflowResource

FEATURES = ("a", "b", "noise")


def _rows(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    a, b, noise = rng.normal(size=(3, n))
    label = (a - 0.5 * b + rng.normal(scale=0.5, size=n) > 0).astype(np.int8)
    return pl.DataFrame({"a": a, "b": b, "noise": noise, "label": label})


@pytest.mark.parametrize(
    "spec", [XgboostModel(), LogisticRegressionModel(family="logistic_regression")]
)
def test_each_family_learns_and_round_trips_through_mlflow(tmp_path: Path, spec: ModelSpec) -> None:
    train, validation, test = _rows(2000, 1), _rows(500, 2), _rows(500, 3)
    model = classifiers.fit(spec, FEATURES, train, validation)
    probabilities = classifiers.predict_frame(model, test)
    accuracy = float(np.mean((probabilities > 0.5) == test["label"].to_numpy().astype(bool)))
    assert accuracy > 0.75
    assert set(model.importance()) <= set(FEATURES)
    assert model.importance()["a"] > model.importance().get("noise", 0.0)

    mlflow = MlflowResource(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifact_location=(tmp_path / "artifacts").as_uri(),
    )
    with mlflow.active() as mlflow_module:
        mlflow_module.set_experiment("classifiers")
        with mlflow_module.start_run():
            info = model.log_to(
                mlflow_module, registered_model=f"m_{spec.family}", example=test.head(2)
            )
        uri = f"models:/m_{spec.family}/{info.registered_model_version}"
        # The version page's inputs: every feature by name and type, in the model's order,
        # and the example rows, which the pyfunc flavor predicts from as logged.
        logged = mlflow_module.models.Model.load(uri)
        assert logged.signature is not None
        assert [(c.name, c.type.name) for c in logged.signature.inputs.inputs] == [
            (name, "double") for name in FEATURES
        ]
        example = logged.load_input_example(uri)
        assert list(example.columns) == list(FEATURES)
        assert example.to_numpy() == pytest.approx(test.select(FEATURES).head(2).to_numpy())
        assert len(mlflow_module.pyfunc.load_model(uri).predict(example)) == 2
        loaded = classifiers.load(
            mlflow_module, family=spec.family, model_uri=uri, features=FEATURES
        )
        assert loaded.family == spec.family
        assert classifiers.predict_frame(loaded, test) == pytest.approx(probabilities, abs=1e-6)
        with pytest.raises(classifiers.ModelLoadError, match=r"features|takes"):
            classifiers.load(mlflow_module, family=spec.family, model_uri=uri, features=("a",))
        with pytest.raises(classifiers.ModelLoadError, match="cannot load"):
            classifiers.load(
                mlflow_module,
                family=spec.family,
                model_uri=f"models:/m_{spec.family}/99",
                features=FEATURES,
            )


def test_an_input_example_without_the_features_is_refused(tmp_path: Path) -> None:
    train, validation = _rows(300, 1), _rows(100, 2)
    model = classifiers.fit(
        LogisticRegressionModel(family="logistic_regression"), FEATURES, train, validation
    )
    with pytest.raises(ValueError, match=r"lacks features \['noise'\]"):
        classifiers.signature_and_example(model, train.drop("noise"), output=("integer", "label"))
    with pytest.raises(ValueError, match="at least one feature row"):
        classifiers.signature_and_example(model, train.head(0), output=("integer", "label"))
