"""The code location's settings: where the MLflow links of asset metadata point."""

from __future__ import annotations

import pytest

from trade2026_assets.defs.resources import build_resources
from trade2026_assets.settings import SettingsError, load_settings
from trade2026_assets.tracking import MlflowResource


def mlflow_of(**overrides: object) -> MlflowResource:
    resource = build_resources(load_settings(**overrides))["mlflow"]
    assert isinstance(resource, MlflowResource)
    return resource


def test_mlflow_links_follow_the_port_the_local_stack_uses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TRADE2026_MLFLOW_UI_URL", raising=False)
    monkeypatch.delenv("MLFLOW_PORT", raising=False)
    # Each link also asks MLflow for its model-training view (`?workflowType=...`).
    assert (
        mlflow_of()
        .run_url("1", "abc")
        .startswith("http://127.0.0.1:5000/#/experiments/1/runs/abc?")
    )
    # `MLFLOW_PORT=5055 make demo`, then `make up` with the same port: links open that UI.
    monkeypatch.setenv("MLFLOW_PORT", "5055")
    assert (
        mlflow_of()
        .model_version_url("m", "3")
        .startswith("http://127.0.0.1:5055/#/models/m/versions/3?")
    )
    # An explicit UI address (a tracking server's) wins over the local port.
    monkeypatch.setenv("TRADE2026_MLFLOW_UI_URL", "https://mlflow.example/")
    assert (
        mlflow_of()
        .run_url("1", "abc")
        .startswith("https://mlflow.example/#/experiments/1/runs/abc?")
    )


def test_a_port_that_is_no_number_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADE2026_MLFLOW_UI_URL", raising=False)
    monkeypatch.setenv("MLFLOW_PORT", "50o0")
    with pytest.raises(SettingsError, match=r"TRADE2026_MLFLOW_UI_URL: .*MLFLOW_PORT.*'50o0'"):
        load_settings()
