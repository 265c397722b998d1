"""The Dagster UI in headless Chromium (Debian's `/usr/bin/chromium`, driven by Playwright):
a materialization of the default strategy's model launched from the UI, its checks passing,
the strategy's auto-swap sensor taking the model live, the lineage of
`default_ml_strategy/deployed_strategy` back to the bars, the sensor's tick list saying what
each tick did, deployed_strategy's page naming its sensor, and the whole asset graph.
Screenshots are kept in `test-artifacts/` (TRADE2026_TEST_ARTIFACTS moves them)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from playwright.sync_api import Page, sync_playwright

from scripts.harness.dagster_dev import DagsterDev, new_dagster_home
from scripts.harness.dagster_runs import run_job, run_market_data_job
from scripts.harness.registry import registry_process
from scripts.harness.services import free_port
from tests.trade2026_assets.declarations import DEFAULT, default_with, write_strategies
from trade2026_assets.definitions import TRAINING_JOB, build_definitions
from trade2026_assets.settings import AssetsSettings

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("TRADE2026_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("TRADE2026_TEST_ARTIFACTS", REPO / "test-artifacts"))
SYMBOLS = ["SYNA", "SYNB"]
SENSOR = f"{DEFAULT}_auto_swap"
SENSOR_PAGE = f"/locations/trade2026/sensors/{SENSOR}"
LATEST_RUN = "{ runsOrError(limit: 1) { ... on Runs { results { runId status } } } }"
DEPLOYED = """
query Deployed($key: AssetKeyInput!) { assetOrError(assetKey: $key) {
    ... on Asset { assetMaterializations(limit: 1) { runOrError { __typename }
      metadataEntries { label ... on TextMetadataEntry { text } ... on UrlMetadataEntry { url } }
    } } } }
"""


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[DagsterDev]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    home = tmp_path / "home"
    dagster_home = new_dagster_home(home)
    strategies = write_strategies(tmp_path / "strategies", {DEFAULT: default_with()})
    # Enough bars and signal that the default model passes its walk-forward gates.
    settings = AssetsSettings(
        home=home,
        symbols=",".join(SYMBOLS),
        synthetic_bars=8000,
        synthetic_predictability=0.2,
        strategies_dir=strategies,
    )
    defs = build_definitions(settings)
    # The upstream data exists; the UI then materializes the model.
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert run_market_data_job(defs, SYMBOLS, instance=instance).success
        assert run_job(defs, TRAINING_JOB, instance=instance).success
    with registry_process(home, free_port()) as (registry, key):
        env = {
            "TRADE2026_HOME": str(home),
            "DAGSTER_HOME": str(dagster_home),
            "TRADE2026_SYMBOLS": ",".join(SYMBOLS),
            "TRADE2026_SYNTHETIC_BARS": "3000",
            "TRADE2026_STRATEGIES_DIR": str(strategies),
            "TRADE2026_REGISTRY_URL": registry.url,
            "TRADE2026_REGISTRY_API_KEY": key,
            "TRADE2026_AUTO_SWAP_INTERVAL_S": "3",
        }
        with DagsterDev(env, log_file=tmp_path / "dagster-dev.log") as ui:
            yield ui


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dagster-ui-{name}.png"), full_page=True)


def front_door(page: Page, name: str) -> None:
    """A viewport-sized picture for the README (`docs/images/` holds the copies)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dagster-ui-{name}.png"))


def dismiss_welcome(page: Page) -> None:
    """A fresh Dagster instance greets a new browser with a community dialog. The fixture
    marks it seen on the server; should it still appear, whenever it does, it is skipped
    before the next action (a fixed wait lost that race on a loaded machine)."""
    page.add_locator_handler(
        page.get_by_role("button", name="Skip", exact=True), lambda skip: skip.click()
    )


def deployed(ui: DagsterDev) -> dict[str, Any]:
    """The default strategy's `deployed_strategy` asset, with its latest materialization."""
    node: dict[str, Any] = ui.graphql(DEPLOYED, key={"path": [DEFAULT, "deployed_strategy"]})[
        "assetOrError"
    ]
    return node


def wait_for_run(ui: DagsterDev, previous: str | None, timeout: float = 180) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        runs = ui.graphql(LATEST_RUN)["runsOrError"]["results"]
        if (
            runs
            and runs[0]["runId"] != previous
            and runs[0]["status"] in {"SUCCESS", "FAILURE", "CANCELED"}
        ):
            return dict(runs[0])
        assert time.monotonic() < deadline, runs
        time.sleep(1)


# A whole loop of real services: minutes on two busy cores.
@pytest.mark.timeout(900)
def test_materialize_from_the_ui_checks_pass_and_the_sensor_deploys(ui: DagsterDev) -> None:
    # Its own pictures only: the other browser tests keep theirs under the same prefix.
    for old in [*ARTIFACTS.glob("dagster-ui-[0-9]-*.png"), *ARTIFACTS.glob("dagster-ui-ticks.png")]:
        old.unlink()
    before = ui.graphql(LATEST_RUN)["runsOrError"]["results"][0]["runId"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        try:
            page.goto(f"{ui.url}/assets/{DEFAULT}/model", wait_until="networkidle")
            dismiss_welcome(page)
            page.get_by_role("button").filter(has_text=re.compile(r"^\s*Materialize\s*$")).click()
            run = wait_for_run(ui, before)
            assert run["status"] == "SUCCESS", run
            shot(page, "1-materialize-launched")

            page.goto(f"{ui.url}/assets/{DEFAULT}/model?view=checks", wait_until="networkidle")
            # The release gates, as the UI shows them for the run just launched.
            for check in ("beats_majority_baseline", "auc_above_chance"):
                page.get_by_text(check, exact=True).first.click()
                page.get_by_text("This is a blocking asset check").wait_for(timeout=30_000)
                detail = page.inner_text("body")
                result = re.search(r"Evaluation result\s+(\w+)", detail)
                assert result is not None, detail[:3000]
                assert result.group(1) == "Passed", detail[:3000]
                shot(page, f"2-check-{check}")

            # The sensor (every 3 s here) takes the model live and records deployed_strategy.
            deadline = time.monotonic() + 90
            while not (node := deployed(ui))["assetMaterializations"]:
                assert time.monotonic() < deadline, "the sensor recorded no deployment"
                time.sleep(1)
            page.goto(
                f"{ui.url}/assets/{DEFAULT}/deployed_strategy?"
                "view=lineage&lineageScope=upstream"
                "&lineageDepth=6",
                wait_until="networkidle",
            )
            # The strategy's own group, its nodes named by the last part of their keys.
            for label in (DEFAULT, "deployed_strategy", "model", "training_set", "market_bars"):
                page.get_by_text(label, exact=True).first.wait_for(timeout=30_000)
            # Let the nodes fill in their status before the picture (best effort).
            settle = time.monotonic() + 15
            while page.get_by_text("Loading...").count() and time.monotonic() < settle:
                time.sleep(0.5)
            shot(page, "3-lineage")

            # The sensor's tick list says what each tick did, without opening one.
            page.goto(f"{ui.url}{SENSOR_PAGE}", wait_until="networkidle")
            deployed_tick = page.get_by_text(re.compile(r"outcome=v\d+ deployed \(first model\)"))
            deployed_tick.first.wait_for(timeout=30_000)
            page.get_by_text(re.compile(r"^outcome=nothing new")).first.wait_for(timeout=30_000)
            shot(page, "ticks")

            # deployed_strategy names the sensor that records it, in its own group.
            page.goto(f"{ui.url}/assets/{DEFAULT}/deployed_strategy", wait_until="networkidle")
            page.get_by_role("link", name=SENSOR).first.wait_for(timeout=30_000)
            page.get_by_text("deployment", exact=True).first.wait_for(timeout=30_000)
            front_door(page, "deployed-strategy")
            # The whole graph, every group open (the UI opens groups named in the URL only).
            groups = ",".join(f"global@global:{g}" for g in ("market_data", DEFAULT, "deployment"))
            page.goto(f"{ui.url}/asset-groups?expanded={groups}", wait_until="networkidle")
            for label in ("market_bars", "online_features", "model", "deployed_strategy"):
                page.get_by_text(label, exact=True).first.wait_for(timeout=30_000)
            settle = time.monotonic() + 15
            while page.get_by_text("Loading...").count() and time.monotonic() < settle:
                time.sleep(0.5)
            front_door(page, "asset-graph")
        except Exception:
            shot(page, "failure")
            raise
        finally:
            browser.close()
    metadata = {
        entry["label"]: entry.get("text")
        for entry in node["assetMaterializations"][0]["metadataEntries"]
    }
    assert metadata["status"] == "live"
    # The recorded deployment links back to the sensor page whose tick recorded it.
    urls = {
        entry["label"]: entry.get("url")
        for entry in node["assetMaterializations"][0]["metadataEntries"]
    }
    assert urls["recorded_by"] == SENSOR_PAGE
