"""The backtest's page in the Dagster UI, in headless Chromium (Debian's `/usr/bin/chromium`,
driven by Playwright): its equity curve and drawdown drawn in place on the Overview tab (not
behind "[Show Markdown]") and its figures as plain numbers, plotted by the Plots tab. The
screenshot is kept in `test-artifacts/dagster-ui-equity.png` (TRADE2026_TEST_ARTIFACTS
moves it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from playwright.sync_api import sync_playwright

from scripts.harness.dagster_dev import DagsterDev, new_dagster_home
from scripts.harness.dagster_runs import run_job, run_market_data_job
from tests.trade2026_assets.declarations import DEFAULT, default_with, write_strategies
from trade2026_assets.definitions import TRAINING_JOB, build_definitions
from trade2026_assets.settings import AssetsSettings

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("TRADE2026_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("TRADE2026_TEST_ARTIFACTS", REPO / "test-artifacts"))
SYMBOLS = ["SYNA", "SYNB"]
FIGURE = "strategy_sharpe"


@dataclass
class Ui:
    dev: DagsterDev
    # The backtest's latest `FIGURE`, as recorded.
    figure: float

    @property
    def url(self) -> str:
        return self.dev.url


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[Ui]:
    """`dagster dev` over an instance where the default strategy was trained and backtested."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    home = tmp_path / "home"
    dagster_home = new_dagster_home(home)
    strategies = write_strategies(tmp_path / "strategies", {DEFAULT: default_with()})
    # Enough bars and signal that the model passes its gates and the backtest runs.
    settings = AssetsSettings(
        home=home,
        symbols=",".join(SYMBOLS),
        synthetic_bars=8000,
        synthetic_predictability=0.2,
        strategies_dir=strategies,
    )
    defs = build_definitions(settings)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert run_market_data_job(defs, SYMBOLS, instance=instance).success
        assert run_job(defs, TRAINING_JOB, instance=instance).success
        event = instance.get_latest_materialization_event(dg.AssetKey([DEFAULT, "backtest"]))
        assert event is not None
        assert event.asset_materialization is not None
        figure = float(event.asset_materialization.metadata[FIGURE].value)  # type: ignore[arg-type]
    env = {
        "TRADE2026_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "TRADE2026_SYMBOLS": ",".join(SYMBOLS),
        "TRADE2026_STRATEGIES_DIR": str(strategies),
    }
    with DagsterDev(env, log_file=tmp_path / "dagster-dev.log") as dev:
        yield Ui(dev, figure)


def as_javascript_prints(value: float) -> str:
    """A float as the UI shows it (`Number.prototype.toString`) in the usual range."""
    text = repr(value)
    return text.removesuffix(".0")


@pytest.mark.timeout(600)
def test_the_equity_curve_is_drawn_in_place_next_to_plain_figures(ui: Ui) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        page.add_locator_handler(
            page.get_by_role("button", name="Skip", exact=True), lambda skip: skip.click()
        )
        try:
            page.goto(f"{ui.url}/assets/{DEFAULT}/backtest", wait_until="networkidle")
            for alt in ("equity curves", "strategy drawdown"):
                chart = page.get_by_role("img", name=alt)
                chart.wait_for(state="visible", timeout=60_000)
                # Decoded and drawn: a broken or refused image has no natural size.
                chart.evaluate("img => img.decode()")
                size = chart.evaluate("img => [img.naturalWidth, img.naturalHeight]")
                assert size == [360, 100], (alt, size)
                box = chart.bounding_box()
                assert box is not None
                assert box["width"] > 100, (alt, box)
            assert page.get_by_text("[Show Markdown]").count() == 0
            row = page.locator("tr").filter(has=page.get_by_text(FIGURE, exact=True))
            assert as_javascript_prints(ui.figure) in row.first.inner_text()
            # The chart in the middle of the picture, the metadata keys still in view.
            page.get_by_role("img", name="equity curves").evaluate(
                """img => {
                    img.scrollIntoView({block: "center", inline: "nearest"});
                    for (let node = img.parentElement; node; node = node.parentElement) {
                        node.scrollLeft = 0;
                    }
                }"""
            )
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dagster-ui-equity.png"))

            # The Plots tab draws every numeric entry over materializations, one a label.
            page.get_by_role("button", name="Plots").click()
            page.get_by_text(FIGURE, exact=True).first.wait_for(timeout=30_000)
            assert page.get_by_text("Asset plots are automatically generated").count() == 0
            for label in ("strategy_deflated_sharpe", "buy_and_hold_total_return"):
                assert page.get_by_text(label, exact=True).count() >= 1, label
        except Exception:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dagster-ui-equity-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
