"""Strategy declarations: valid files load with every name derived from the strategy's
name; a bad file gets one message per problem naming the file, the field and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from trade2026_assets.feature_catalog import DEFAULT_FEATURES
from trade2026_assets.settings import STRATEGIES_DIR, load_settings
from trade2026_assets.strategy.declaration import (
    DeploymentConfig,
    StrategiesError,
    load_strategies,
    parse_declaration,
    strategy_symbols,
)

UNIVERSE = ["AAA", "BBB", "CCC"]


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def test_the_shipped_strategies_load_and_differ() -> None:
    strategies = load_settings(strategies_dir=STRATEGIES_DIR).strategies()
    assert strategies.names == ["default_ml_strategy", "swing_logit"]
    default, swing = strategies["default_ml_strategy"], strategies["swing_logit"]
    assert default.features == DEFAULT_FEATURES
    assert default.model.family == "xgboost"
    assert swing.model.family == "logistic_regression"
    assert default.indicator_set != swing.indicator_set
    assert default.label.horizon != swing.label.horizon
    assert default.signal != swing.signal
    assert STRATEGIES_DIR.is_dir()


def test_every_name_comes_from_the_declared_name() -> None:
    declaration = parse_declaration("name: carry_one\n", origin="x.yaml")
    assert declaration.asset_key_path("model") == ["carry_one", "model"]
    assert declaration.group == "carry_one"
    assert declaration.registered_model == "carry_one"
    assert declaration.slot == declaration.entity_name == "carry_one"
    assert declaration.sensor_name == "carry_one_auto_swap"
    assert declaration.training_job == "carry_one_training"
    assert declaration.route == "/strategies/carry_one"
    assert declaration.feature_service.startswith("carry_one_")
    # The feature service is versioned by the feature list.
    other = parse_declaration("name: carry_one\nfeatures: [rsi, momentum_5]\n", origin="y.yaml")
    assert other.feature_service != declaration.feature_service


def test_entity_config_carries_the_rule_and_round_trips() -> None:
    declaration = parse_declaration(
        "name: s\nsignal: {buy_threshold: 0.55, sell_threshold: 0.45, position_size: 0.1}\n"
        "model: {family: logistic_regression}\n",
        origin="s.yaml",
    )
    config = declaration.entity_config("7")
    assert config["model_uri"] == "models:/s/7"
    loaded = DeploymentConfig.model_validate(config)
    assert loaded.rule() == declaration.signal
    assert loaded.model_family == "logistic_regression"
    assert loaded.features == declaration.features


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        ("name: s\nfeatures: [rsi, moon_phase]\n", "features", "moon_phase"),
        ("name: s\nlabel: {horizon: 0}\n", "label.horizon", "greater than or equal to 1"),
        (
            "name: s\nsignal: {buy_threshold: 0.4, sell_threshold: 0.6}\n",
            "signal",
            "sell_threshold (0.6) is above buy_threshold (0.4)",
        ),
        ("name: s\nmodel: {family: random_forest}\n", "model", "random_forest"),
        (
            "name: s\nmodel: {family: xgboost, params: {depth: 3}}\n",
            "model.params.depth",
            "unknown field",
        ),
        ("name: Bad-Name\n", "name", "should match pattern"),
        (
            "name: s\nsplit: {validation_fraction: 0.5, test_fraction: 0.45}\n",
            "(declaration)",
            "10%",
        ),
        ("name: s\ncolour: red\n", "colour", "unknown field"),
    ],
)
def test_a_bad_declaration_names_file_field_and_problem(
    tmp_path: Path, text: str, field: str, problem: str
) -> None:
    path = _write(tmp_path, "bad.yaml", text)
    with pytest.raises(StrategiesError) as caught:
        load_strategies(tmp_path, symbols=UNIVERSE)
    [message] = caught.value.problems
    assert message.startswith(f"{path}: {field}: "), message
    assert problem in message


def test_two_strategies_with_one_name_are_refused(tmp_path: Path) -> None:
    first = _write(tmp_path, "a.yaml", "name: twin\n")
    second = _write(tmp_path, "b.yaml", "name: twin\nlabel: {horizon: 2}\n")
    with pytest.raises(StrategiesError, match="already declared") as caught:
        load_strategies(tmp_path, symbols=UNIVERSE)
    [message] = caught.value.problems
    assert message.startswith(f"{second}: name: ")
    assert str(first) in message


def test_a_universe_without_a_source_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "u.yaml", "name: u\nuniverse: {symbols: [AAA, ZZZ]}\n")
    with pytest.raises(StrategiesError) as caught:
        load_strategies(tmp_path, symbols=UNIVERSE)
    assert caught.value.problems == [
        f"{path}: universe.symbols: no source serves ZZZ (not in the platform's universe)"
    ]
    _write(tmp_path, "u.yaml", "name: u\nuniverse: {source: fx}\n")
    with pytest.raises(StrategiesError, match=r"universe\.source: no source named 'fx'"):
        load_strategies(tmp_path, symbols=UNIVERSE, sources={"stocks": UNIVERSE})


def test_every_bad_file_is_reported_and_nothing_loads(tmp_path: Path) -> None:
    _write(tmp_path, "good.yaml", "name: good\n")
    _write(tmp_path, "one.yaml", "name: one\nlabel: {horizon: -1}\n")
    _write(tmp_path, "two.yaml", "name: [not, text]\n")
    _write(tmp_path, "three.yaml", "name: three\nfeatures: {")
    with pytest.raises(StrategiesError) as caught:
        load_strategies(tmp_path, symbols=UNIVERSE)
    files = [problem.split(":", 1)[0] for problem in caught.value.problems]
    assert sorted(Path(f).name for f in files) == ["one.yaml", "three.yaml", "two.yaml"]
    assert "not valid YAML" in " ".join(caught.value.problems)


def test_an_empty_directory_declares_nothing(tmp_path: Path) -> None:
    with pytest.raises(StrategiesError, match="declares no strategy"):
        load_strategies(tmp_path, symbols=UNIVERSE)


def test_universe_symbols_follow_the_platform_order(tmp_path: Path) -> None:
    declaration = parse_declaration("name: u\nuniverse: {symbols: [ccc, AAA]}\n", origin="u")
    assert strategy_symbols(declaration, UNIVERSE) == ["AAA", "CCC"]
    whole = parse_declaration("name: w\n", origin="w")
    assert strategy_symbols(whole, UNIVERSE) == UNIVERSE
    by_source = parse_declaration("name: s\nuniverse: {source: stocks}\n", origin="s")
    assert strategy_symbols(by_source, UNIVERSE, {"stocks": ["BBB"]}) == ["BBB"]


def test_moved_settings_are_refused_with_where_they_went(monkeypatch: pytest.MonkeyPatch) -> None:
    from trade2026_assets.settings import SettingsError

    monkeypatch.setenv("TRADE2026_AUTO_SWAP_MIN_ACKS", "2")
    with pytest.raises(SettingsError, match=r"swap\.min_acks"):
        load_settings()


def test_the_sql_reads_exactly_the_catalog() -> None:
    import re

    from trade2026_assets.defs.ml.reads import MODEL_ROWS_SQL, TEST_ROWS_SQL
    from trade2026_assets.defs.ml.training_set_asset import FEATURES_SQL
    from trade2026_assets.feature_catalog import FEATURE_NAMES, SOURCE_COLUMNS

    def selected(sql: str) -> list[str]:
        columns = sql.split("SELECT", 1)[1].split("FROM", 1)[0].split("AS split_code,")[-1]
        return [c.strip() for c in re.split(r",\s*", columns) if c.strip()]

    assert selected(MODEL_ROWS_SQL)[:-1] == list(FEATURE_NAMES)
    assert selected(TEST_ROWS_SQL)[4:-1] == list(FEATURE_NAMES)
    assert selected(FEATURES_SQL)[2:-1] == list(SOURCE_COLUMNS)
