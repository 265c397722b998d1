"""The MLflow UI in headless Chromium (Debian's `/usr/bin/chromium`, driven by Playwright)
over a store a real training run produced, served by `mlflow server` as `make up` starts
it: the platform's link to the experiment lands on its training runs (not MLflow's GenAI
overview), a run carries its strategy, version and Dagster run in its name, and the
registered version's page shows the signature's inputs by feature name. Screenshots are
kept in `test-artifacts/` (TRADE2026_TEST_ARTIFACTS moves them)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from mlflow import MlflowClient
from playwright.sync_api import Page, expect, sync_playwright

from scripts.harness.dagster_runs import run_job, run_market_data_job
from scripts.harness.production import MlflowServer
from scripts.harness.services import free_port
from tests.trade2026_assets.declarations import DEFAULT, default_with, write_strategies
from trade2026_assets.definitions import TRAINING_JOB, build_definitions
from trade2026_assets.settings import AssetsSettings
from trade2026_assets.strategy.declaration import StrategyDeclaration
from trade2026_assets.tracking import MlflowResource

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("TRADE2026_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("TRADE2026_TEST_ARTIFACTS", REPO / "test-artifacts"))
SYMBOLS = ["SYNA", "SYNB"]
# Every wait in the browser is bounded: a page that never renders fails, it does not hang.
WAIT_MS = 60_000


@dataclass
class Trained:
    mlflow: MlflowResource  # its ui_url is the server's
    experiment_id: str
    version: str
    run_id: str
    run_name: str
    features: tuple[str, ...]


@pytest.fixture
def trained(tmp_path: Path) -> Iterator[Trained]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    home = tmp_path / "home"
    strategies = write_strategies(tmp_path / "strategies", {DEFAULT: default_with()})
    settings = AssetsSettings(
        home=home,
        symbols=",".join(SYMBOLS),
        synthetic_bars=3000,
        synthetic_predictability=0.2,
        strategies_dir=strategies,
    )
    defs = build_definitions(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        assert run_market_data_job(defs, SYMBOLS, instance=instance).success
        training = run_job(defs, TRAINING_JOB, instance=instance)
    model = training.metadata_of[f"{DEFAULT}/model"]
    store = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    version = MlflowClient(tracking_uri=store, registry_uri=store).get_model_version(
        DEFAULT, str(model["model_version"])
    )
    with MlflowServer(
        port=free_port(),
        backend_uri=store,
        artifacts=home / "mlflow" / "artifacts",
        log_file=tmp_path / "mlflow-server.log",
    ) as server:
        resource = MlflowResource(tracking_uri=store, ui_url=server.url)
        run = resource.client().get_run(str(version.run_id))
        yield Trained(
            mlflow=resource,
            experiment_id=run.info.experiment_id,
            version=str(version.version),
            run_id=run.info.run_id,
            run_name=str(run.info.run_name),
            features=StrategyDeclaration.model_validate(
                {"name": DEFAULT, **default_with()}
            ).features,
        )


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"mlflow-{name}.png"), full_page=True)


@pytest.mark.timeout(600)
def test_the_experiment_lands_on_named_runs_and_the_version_shows_its_inputs(
    trained: Trained,
) -> None:
    for old in ARTIFACTS.glob("mlflow-*.png"):
        old.unlink()
    # Named after the strategy, the version it registered and the Dagster run.
    assert trained.run_name.startswith(f"{DEFAULT} · v{trained.version} · run ")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(WAIT_MS)
        expect.set_options(timeout=WAIT_MS)
        try:
            # The link the platform writes lands on the runs of the "Model training" view.
            page.goto(trained.mlflow.experiment_url(trained.experiment_id))
            page.get_by_role("link", name=trained.run_name).wait_for()
            expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
            assert f"/experiments/{trained.experiment_id}/runs" in page.url, page.url
            expect(page.get_by_text("Token Usage")).to_have_count(0)
            shot(page, "1-experiment-runs")

            page.goto(trained.mlflow.run_url(trained.experiment_id, trained.run_id))
            expect(page.get_by_role("heading", name=trained.run_name)).to_be_visible()
            shot(page, "2-run")

            page.goto(trained.mlflow.model_version_url(DEFAULT, trained.version))
            inputs = page.get_by_text(f"Inputs ({len(trained.features)})", exact=True)
            inputs.click()
            for feature in trained.features:
                row = page.get_by_role("row", name=f"{feature} (required) double", exact=True)
                expect(row).to_be_visible()
            # The description tells the version's story.
            expect(page.get_by_text("Walk-forward", exact=True)).to_be_visible()
            shot(page, "3-version-inputs")
        finally:
            browser.close()
