"""The model families a strategy may declare, behind one interface: fit on a training
set's rows, predict up-probabilities from a matrix of the strategy's features, log to and
load from MLflow through the family's own flavor (so any MLflow user can load it).

XGBoost (`mlflow.xgboost`) and scikit-learn's logistic regression on standardized
features (`mlflow.sklearn`): the lifecycle does not depend on the family.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl

from trade2026_assets.strategy.declaration import (
    LogisticRegressionModel,
    LogisticRegressionParams,
    ModelSpec,
    XgboostModel,
    XgboostParams,
)

FloatArray = npt.NDArray[np.float64]
Family = str


class ModelLoadError(RuntimeError):
    """A model cannot be loaded or does not take the features it is said to take."""


class Classifier(Protocol):
    family: str
    features: tuple[str, ...]

    def predict(self, rows: npt.NDArray[np.float32]) -> FloatArray:
        """Up-probability per row; columns are `features`, in that order."""
        ...

    def importance(self) -> dict[str, float]:
        """A per-feature importance the family defines (gain; |coefficient|)."""
        ...

    def log_to(self, mlflow_module: Any, *, registered_model: str, example: pl.DataFrame) -> Any:
        """Log with the family's MLflow flavor, registered as a new version, with a
        signature naming the features and `example` (feature rows) as its input example."""
        ...

    def summary(self) -> dict[str, float]:
        """Numbers about the fit worth recording (best iteration, ...)."""
        ...


def feature_matrix(rows: pl.DataFrame, features: tuple[str, ...]) -> npt.NDArray[np.float32]:
    return rows.select(features).to_numpy().astype(np.float32, copy=False)


def predict_frame(model: Classifier, rows: pl.DataFrame) -> FloatArray:
    return model.predict(feature_matrix(rows, model.features))


def signature_and_example(
    model: Classifier, example: pl.DataFrame, *, output: tuple[str, str]
) -> tuple[Any, Any]:
    """The MLflow signature (one double column per feature, in the model's order; `output`
    is the pyfunc prediction's type and name) and `example`'s feature columns as a pandas
    frame: what the model version page shows as its inputs and what a pyfunc user sends."""
    import pandas as pd
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    if example.height == 0:
        raise ValueError("an input example needs at least one feature row")
    missing = [name for name in model.features if name not in example.columns]
    if missing:
        raise ValueError(f"the input example lacks features {missing}")
    rows = example.select(model.features).cast(pl.Float64)
    signature = ModelSignature(
        inputs=Schema([ColSpec("double", name) for name in model.features]),
        outputs=Schema([ColSpec(*output)]),
    )
    # Built column by column: polars' to_pandas would need pyarrow's conversion layer.
    frame = pd.DataFrame({name: rows.get_column(name).to_numpy() for name in model.features})
    return signature, frame


# -- XGBoost -----------------------------------------------------------------------------


def booster_params(params: XgboostParams) -> dict[str, Any]:
    return {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "tree_method": "hist",
        "max_depth": params.max_depth,
        "eta": params.learning_rate,
        "subsample": params.subsample,
        "colsample_bytree": params.colsample_bytree,
        "min_child_weight": params.min_child_weight,
        "seed": params.seed,
        "nthread": params.nthread,
    }


@dataclass
class XgboostClassifier:
    booster: Any
    features: tuple[str, ...]
    family: str = "xgboost"
    # Trees up to the early-stopping best, as training scored them.
    iteration_range: tuple[int, int] = field(default=(0, 0))

    @classmethod
    def wrap(cls, booster: Any, features: tuple[str, ...]) -> XgboostClassifier:
        best = getattr(booster, "best_iteration", None)
        return cls(
            booster, features, iteration_range=(0, int(best) + 1) if best is not None else (0, 0)
        )

    def predict(self, rows: npt.NDArray[np.float32]) -> FloatArray:
        return np.asarray(
            self.booster.inplace_predict(rows, iteration_range=self.iteration_range),
            dtype=np.float64,
        )

    def importance(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.booster.get_score(importance_type="gain").items()}

    def summary(self) -> dict[str, float]:
        return {"best_iteration": float(self.iteration_range[1] - 1)}

    def log_to(self, mlflow_module: Any, *, registered_model: str, example: pl.DataFrame) -> Any:
        import xgboost as xgb

        signature, input_example = signature_and_example(
            self, example, output=("double", "up_probability")
        )
        return mlflow_module.xgboost.log_model(
            self.booster,
            name="model",
            # Without explicit requirements MLflow spends ~10 s inferring them.
            pip_requirements=[f"xgboost=={xgb.__version__}"],
            registered_model_name=registered_model,
            signature=signature,
            input_example=input_example,
        )


def _fit_xgboost(
    params: XgboostParams, features: tuple[str, ...], train: pl.DataFrame, validation: pl.DataFrame
) -> XgboostClassifier:
    import xgboost as xgb

    def matrix(rows: pl.DataFrame) -> Any:
        return xgb.DMatrix(
            rows.select(features).to_numpy(),
            label=rows.get_column("label").to_numpy(),
            feature_names=list(features),
        )

    booster = xgb.train(
        booster_params(params),
        matrix(train),
        num_boost_round=params.num_boost_round,
        evals=[(matrix(validation), "validation")],
        early_stopping_rounds=params.early_stopping_rounds,
        verbose_eval=False,
    )
    return XgboostClassifier.wrap(booster, features)


# -- logistic regression -----------------------------------------------------------------


@dataclass
class LogisticRegressionClassifier:
    pipeline: Any
    features: tuple[str, ...]
    family: str = "logistic_regression"

    def predict(self, rows: npt.NDArray[np.float32]) -> FloatArray:
        return np.asarray(self.pipeline.predict_proba(rows)[:, 1], dtype=np.float64)

    def importance(self) -> dict[str, float]:
        # On standardized inputs, |coefficient| compares features.
        coefficients = self.pipeline[-1].coef_[0]
        return {name: float(abs(c)) for name, c in zip(self.features, coefficients, strict=True)}

    def summary(self) -> dict[str, float]:
        return {"iterations": float(self.pipeline[-1].n_iter_[0])}

    def log_to(self, mlflow_module: Any, *, registered_model: str, example: pl.DataFrame) -> Any:
        import sklearn

        # The pipeline's pyfunc predicts the class; the flavor's predict_proba the odds.
        signature, input_example = signature_and_example(self, example, output=("integer", "label"))
        with warnings.catch_warnings():
            # MLflow checks the example by predicting from it as a named frame; the pipeline
            # was fitted on a matrix in the same column order, so the names carry nothing.
            warnings.filterwarnings("ignore", message="X has feature names", category=UserWarning)
            return mlflow_module.sklearn.log_model(
                self.pipeline,
                name="model",
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                registered_model_name=registered_model,
                signature=signature,
                input_example=input_example,
            )


def _fit_logistic(
    params: LogisticRegressionParams, features: tuple[str, ...], train: pl.DataFrame
) -> LogisticRegressionClassifier:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = make_pipeline(
        StandardScaler(),
        LogisticRegression(C=params.c, max_iter=params.max_iter, random_state=params.seed),
    )
    pipeline.fit(feature_matrix(train, features), train.get_column("label").to_numpy())
    return LogisticRegressionClassifier(pipeline, features)


# -- the family's entry points -----------------------------------------------------------


def fit(
    spec: ModelSpec, features: tuple[str, ...], train: pl.DataFrame, validation: pl.DataFrame
) -> Classifier:
    """A model of the declared family, fitted on `train` (XGBoost stops early on
    `validation`'s log loss; the logistic regression does not need it)."""
    if isinstance(spec, XgboostModel):
        return _fit_xgboost(spec.params, features, train, validation)
    if isinstance(spec, LogisticRegressionModel):
        return _fit_logistic(spec.params, features, train)
    raise ValueError(f"unknown model family {spec!r}")


def load(
    mlflow_module: Any, *, family: str, model_uri: str, features: tuple[str, ...]
) -> Classifier:
    """The model at `model_uri` through its family's flavor, checked to take `features`;
    ModelLoadError otherwise. One thread per prediction: a service predicts concurrently."""
    from mlflow.exceptions import MlflowException

    try:
        if family == "xgboost":
            booster = mlflow_module.xgboost.load_model(model_uri)
            names = tuple(getattr(booster, "feature_names", None) or ())
            if names != features:
                raise ModelLoadError(
                    f"{model_uri} takes features {list(names)}, its deployment names "
                    f"{list(features)}"
                )
            booster.set_param({"nthread": 1})
            return XgboostClassifier.wrap(booster, features)
        if family == "logistic_regression":
            pipeline = mlflow_module.sklearn.load_model(model_uri)
            width = int(getattr(pipeline, "n_features_in_", -1))
            if width != len(features):
                raise ModelLoadError(
                    f"{model_uri} takes {width} features, its deployment names {len(features)}"
                )
            return LogisticRegressionClassifier(pipeline, features)
    except ModelLoadError:
        raise
    except (MlflowException, OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load {model_uri}: {exc}") from exc
    except Exception as exc:
        # MLflow lets its parsers' errors through (an MLmodel file that is not YAML, a
        # model of another flavor): as much a model that cannot load as a missing one.
        raise ModelLoadError(f"cannot load {model_uri}: {type(exc).__name__}: {exc}") from exc
    raise ModelLoadError(f"unknown model family {family!r}")
