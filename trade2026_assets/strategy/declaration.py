"""A strategy declaration: one YAML file, validated here, that says everything a strategy
is. Its name is its identity everywhere; `StrategyDeclaration` derives every other name
(asset keys, MLflow model, Feast feature service, registry slot, sensor, route) in one
place, so nothing else spells a strategy.

Plain pydantic, not a Dagster component: serving, which imports no Dagster, reads the same
files to know which strategies to follow and which features each model takes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from trade2026_assets.feature_catalog import DEFAULT_FEATURES, unknown_features
from trade2026_assets.ml.training_set import TrainingSetParams
from trade2026_assets.strategy.rule import SignalRule
from trade2026_assets.technical_indicators import IndicatorParams

# Valid as a Dagster asset-key part and group, an MLflow model, a Feast name, a registry
# slot, a URL path segment and a Python identifier.
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
DEFAULT_STRATEGY = "default_ml_strategy"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Universe(_Strict):
    """Which bars: the symbols of one source of the sources file (`source`), or a list of
    the platform's symbols (`symbols`), or both (those symbols of that source). Neither:
    the platform's whole universe."""

    source: str | None = None
    symbols: tuple[str, ...] = ()

    @field_validator("symbols")
    @classmethod
    def _upper(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        symbols = tuple(dict.fromkeys(symbol.strip().upper() for symbol in value))
        if any(not symbol for symbol in symbols):
            raise ValueError("a symbol is empty")
        return symbols


class Label(_Strict):
    horizon: int = Field(default=1, ge=1, le=1000, description="Direction over N bars.")


class Split(_Strict):
    validation_fraction: float = Field(default=0.2, gt=0, lt=1)
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    embargo_bars: int | None = Field(
        default=None, ge=0, description="Bars dropped before each boundary; unset = horizon."
    )


class XgboostParams(_Strict):
    num_boost_round: int = Field(default=100, ge=1, le=10_000)
    max_depth: int = Field(default=5, ge=1, le=20)
    learning_rate: float = Field(default=0.1, gt=0, le=1)
    subsample: float = Field(default=0.8, gt=0, le=1)
    colsample_bytree: float = Field(default=0.8, gt=0, le=1)
    min_child_weight: float = Field(default=1.0, ge=0)
    early_stopping_rounds: int = Field(default=10, ge=1)
    seed: int = 42
    nthread: int = Field(default=2, ge=1)


class LogisticRegressionParams(_Strict):
    c: float = Field(default=1.0, gt=0, description="Inverse regularization strength (C).")
    max_iter: int = Field(default=1000, ge=1, le=100_000)
    seed: int = 42


class XgboostModel(_Strict):
    family: Literal["xgboost"] = "xgboost"
    params: XgboostParams = XgboostParams()


class LogisticRegressionModel(_Strict):
    family: Literal["logistic_regression"]
    params: LogisticRegressionParams = LogisticRegressionParams()


ModelSpec = Annotated[XgboostModel | LogisticRegressionModel, Field(discriminator="family")]


class Costs(_Strict):
    fee_bps: float = Field(default=1.0, ge=0)
    slippage_bps: float = Field(default=1.0, ge=0)
    periods_per_year: float = Field(
        default=0.0, ge=0, description="Bars per year; 0 = inferred from the test split."
    )


class Evaluation(_Strict):
    """How a model is evaluated before any gate looks at it: walk-forward folds over the
    train and validation rows (the test split is the final holdout, reported only)."""

    folds: int = Field(default=5, ge=2, le=50, description="Walk-forward folds.")
    window: Literal["expanding", "rolling"] = Field(
        default="expanding",
        description="expanding: each fold trains on all rows before its test window; "
        "rolling: on as many timestamps as the first fold.",
    )
    embargo_bars: int = Field(
        default=1,
        ge=0,
        description="Bars dropped per symbol before a fold's test window beyond the label's "
        "horizon (which is always purged).",
    )
    early_stopping_fraction: float = Field(
        default=0.2,
        gt=0,
        lt=0.9,
        description="The last share of each fold's training window that early stopping "
        "watches (purged from the rows it fits on).",
    )


class Gates(_Strict):
    """The blocking gates judge the walk-forward folds with their uncertainty; the defaults
    are the ones the null benchmark (bench/null_gates.py) sets."""

    k: float = Field(
        default=3.5,
        ge=0,
        description="Standard errors of the fold mean subtracted before a score is compared "
        "with its threshold.",
    )
    baseline_margin: float = Field(
        default=0.0,
        description="Mean fold accuracy gain over the majority class, less k standard "
        "errors, must exceed this.",
    )
    auc_margin: float = Field(
        default=0.005,
        description="Mean fold AUC less k standard errors must exceed 0.5 by this much.",
    )
    min_test_rows: int = Field(
        default=200, ge=1, description="Fewest rows every fold's test window must have."
    )
    champion_margin: float = Field(
        default=0.005,
        ge=0,
        description="Mean paired fold AUC gain over the champion, less champion_k standard "
        "errors, must exceed this to win (and the reverse to lose); else a tie.",
    )
    champion_k: float = Field(
        default=3.5,
        ge=0,
        description="Standard errors of the paired fold AUC gains in the champion comparison.",
    )
    min_deflated_sharpe: float = Field(
        default=0.95,
        ge=0,
        le=1,
        description="Deflated Sharpe ratio (trials: the registered versions) of the "
        "walk-forward returns needed to be promoted over a champion.",
    )


class SwapPolicy(_Strict):
    """How a better model goes live: `min_acks` serving workers must acknowledge the swap
    within `ack_deadline_s`, else it rolls back. The sensor never waits within a tick; it
    looks at the acknowledgements again on its next ticks."""

    ack_deadline_s: float = Field(default=60.0, gt=0, le=3600)
    min_acks: int = Field(default=1, ge=1, le=64)


class StrategyDeclaration(_Strict):
    """Everything a strategy is. Loaded from `<strategies dir>/<file>.yaml`."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    universe: Universe = Universe()
    indicators: IndicatorParams = IndicatorParams()
    features: tuple[str, ...] = DEFAULT_FEATURES
    label: Label = Label()
    split: Split = Split()
    model: ModelSpec = XgboostModel()
    signal: SignalRule = SignalRule()
    costs: Costs = Costs()
    evaluation: Evaluation = Evaluation()
    gates: Gates = Gates()
    swap: SwapPolicy = SwapPolicy()

    @field_validator("features")
    @classmethod
    def _in_catalog(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("names no feature")
        unknown = unknown_features(value)
        if unknown:
            raise ValueError(f"not in the feature catalog: {', '.join(unknown)}")
        if len(set(value)) != len(value):
            raise ValueError("a feature is listed twice")
        return value

    @model_validator(mode="after")
    def _split_leaves_training(self) -> StrategyDeclaration:
        self.training_set_params()
        return self

    # -- what the declaration derives ---------------------------------------------------

    def training_set_params(self) -> TrainingSetParams:
        return TrainingSetParams(horizon=self.label.horizon, **self.split.model_dump())

    @property
    def indicator_set(self) -> str:
        return self.indicators.indicator_set()

    @property
    def asset_prefix(self) -> list[str]:
        return [self.name]

    def asset_key_path(self, asset: str) -> list[str]:
        """`<name>/<asset>`: training_set, model, backtest, deployed_strategy."""
        return [self.name, asset]

    @property
    def group(self) -> str:
        return self.name

    @property
    def registered_model(self) -> str:
        return self.name

    @property
    def feature_service(self) -> str:
        """Versioned by its feature list: a model trained on another list gets a new
        service, never an edit of the one a live model reads."""
        digest = hashlib.sha256(",".join(self.features).encode()).hexdigest()[:8]
        return f"{self.name}_{digest}"

    @property
    def slot(self) -> str:
        return self.name

    @property
    def entity_name(self) -> str:
        return self.name

    @property
    def sensor_name(self) -> str:
        return f"{self.name}_auto_swap"

    @property
    def training_job(self) -> str:
        return f"{self.name}_training"

    @property
    def route(self) -> str:
        return f"/strategies/{self.name}"

    def model_uri(self, version: str) -> str:
        return f"models:/{self.registered_model}/{version}"

    def entity_config(self, model_version: str) -> dict[str, Any]:
        """The registry entity's config: what serving needs to serve this strategy."""
        return DeploymentConfig(
            model_uri=self.model_uri(model_version),
            model_family=self.model.family,
            features=self.features,
            indicator_set=self.indicator_set,
            feature_service=self.feature_service,
            **self.signal.model_dump(),
        ).model_dump(mode="json")


class DeploymentConfig(BaseModel):
    """A deployed strategy entity's config. The registry stores it as given; serving
    validates it when it loads a deployment. Keys beyond these are kept and ignored."""

    model_config = ConfigDict(frozen=True, extra="allow")

    model_uri: str = Field(min_length=1)
    model_family: Literal["xgboost", "logistic_regression"] = "xgboost"
    features: tuple[str, ...] = DEFAULT_FEATURES
    indicator_set: str | None = None
    feature_service: str | None = None
    buy_threshold: float = Field(default=SignalRule().buy_threshold, ge=0, le=1)
    sell_threshold: float = Field(default=SignalRule().sell_threshold, ge=0, le=1)
    position_size: float = Field(default=SignalRule().position_size, gt=0, le=1)

    @field_validator("features")
    @classmethod
    def _in_catalog(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = unknown_features(value)
        if not value or unknown:
            raise ValueError(f"features not in the catalog: {unknown or 'none named'}")
        return value

    @model_validator(mode="after")
    def _rule_valid(self) -> DeploymentConfig:
        self.rule()
        return self

    def rule(self) -> SignalRule:
        return SignalRule(
            buy_threshold=self.buy_threshold,
            sell_threshold=self.sell_threshold,
            position_size=self.position_size,
        )


def deployment_config_schema() -> dict[str, Any]:
    """The JSON Schema of a strategy entity's config, for the registry to check it against."""
    return DeploymentConfig.model_json_schema()


# -- loading ----------------------------------------------------------------------------


class StrategiesError(ValueError):
    """Declarations that cannot be used: one line per problem, each naming the file, the
    field and the problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class Strategies:
    """The declared strategies, by name, with the files they came from."""

    by_name: Mapping[str, StrategyDeclaration]
    files: Mapping[str, Path]

    def __iter__(self) -> Any:
        return iter(self.by_name.values())

    def __len__(self) -> int:
        return len(self.by_name)

    def __getitem__(self, name: str) -> StrategyDeclaration:
        return self.by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    @property
    def names(self) -> list[str]:
        return list(self.by_name)


def declaration_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_strategies(
    directory: Path,
    *,
    symbols: Sequence[str],
    sources: Mapping[str, Sequence[str]] | None = None,
) -> Strategies:
    """Every declaration in `directory` (`*.yaml`, `*.yml`), checked against the platform's
    universe (`symbols`) and its named sources (source → its symbols). StrategiesError
    names every problem of every file; nothing is returned from a directory with one."""
    if not directory.is_dir():
        raise StrategiesError([f"{directory}: not a directory of strategy declarations"])
    problems: list[str] = []
    by_name: dict[str, StrategyDeclaration] = {}
    files: dict[str, Path] = {}
    for path in declaration_files(directory):
        declaration, found = _read(path)
        problems.extend(found)
        if declaration is None:
            continue
        if declaration.name in by_name:
            problems.append(
                f"{path}: name: {declaration.name!r} is already declared in "
                f"{files[declaration.name]}; a strategy's name is its identity"
            )
            continue
        universe_problems = [
            f"{path}: universe.{problem}"
            for problem in universe_problems_of(declaration, symbols, sources or {})
        ]
        problems.extend(universe_problems)
        if not universe_problems:
            by_name[declaration.name] = declaration
            files[declaration.name] = path
    if problems:
        raise StrategiesError(problems)
    if not by_name:
        raise StrategiesError([f"{directory}: declares no strategy (no *.yaml file)"])
    return Strategies(by_name, files)


def parse_declaration(text: str, *, origin: str) -> StrategyDeclaration:
    """One declaration from YAML text; StrategiesError naming `origin` and the fields."""
    declaration, problems = _parse(text, origin)
    if declaration is None:
        raise StrategiesError(problems)
    return declaration


def _read(path: Path) -> tuple[StrategyDeclaration | None, list[str]]:
    try:
        text = path.read_text()
    except OSError as err:
        return None, [f"{path}: cannot be read: {err.strerror}"]
    return _parse(text, str(path))


def _parse(text: str, origin: str) -> tuple[StrategyDeclaration | None, list[str]]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        return None, [f"{origin}: is not valid YAML{at}: {getattr(err, 'problem', err)}"]
    if not isinstance(document, dict):
        return None, [f"{origin}: must be a mapping of fields (name, universe, features, ...)"]
    try:
        return StrategyDeclaration.model_validate(document), []
    except ValidationError as err:
        return None, [f"{origin}: {problem}" for problem in _problems(err)]


def _problems(err: ValidationError) -> Iterable[str]:
    for error in err.errors():
        # A discriminated union reports its branch ("model.xgboost.params"): name the field.
        location = [str(part) for part in error["loc"] if part not in _BRANCHES]
        field = ".".join(location) or "(declaration)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        yield f"{field}: {message}"


_BRANCHES = {"xgboost", "logistic_regression"}
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9._^=-]{0,31}$")


def universe_problems_of(
    declaration: StrategyDeclaration,
    symbols: Sequence[str],
    sources: Mapping[str, Sequence[str]],
) -> list[str]:
    """Why a declaration's universe cannot be served by the platform's market data."""
    universe = declaration.universe
    available = list(symbols)
    if universe.source is not None:
        if universe.source not in sources:
            known = ", ".join(sorted(sources)) or "none: no sources file is set"
            return [f"source: no source named {universe.source!r} (sources: {known})"]
        available = [symbol for symbol in sources[universe.source] if symbol in symbols]
        if not universe.symbols and not available:
            return [f"source: source {universe.source!r} serves no symbol of the universe"]
    missing = [symbol for symbol in universe.symbols if symbol not in available]
    if missing:
        where = f"source {universe.source!r}" if universe.source else "the platform's universe"
        return [f"symbols: no source serves {', '.join(missing)} (not in {where})"]
    return []


def strategy_symbols(
    declaration: StrategyDeclaration,
    symbols: Sequence[str],
    sources: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """The symbols a (valid) declaration trades, in the platform's order."""
    universe = declaration.universe
    chosen = set(universe.symbols)
    if universe.source is not None:
        of_source = set((sources or {}).get(universe.source, ()))
        return [s for s in symbols if s in of_source and (not chosen or s in chosen)]
    return [s for s in symbols if not chosen or s in chosen]


def config_digest(declaration: StrategyDeclaration) -> str:
    """Changes when anything in the declaration changes."""
    text = json.dumps(declaration.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
