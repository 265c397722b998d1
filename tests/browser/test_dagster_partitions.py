"""The Dagster UI's partitions view of `market_bars` in headless Chromium after a run in
which one symbol's bars failed a blocking check: that symbol red (failed), the good one
green (materialized). The screenshot is kept as `test-artifacts/dagster-ui-partitions.png`
(TRADE2026_TEST_ARTIFACTS moves it)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from playwright.sync_api import Page, sync_playwright

from scripts.harness.dagster_dev import DagsterDev, new_dagster_home
from scripts.harness.dagster_runs import run_market_data_job
from tests.trade2026_assets.defs.market_data.test_market_bars import clean_rows, write_csv
from tests.trade2026_assets.defs.test_write_audit_publish import bad_file
from trade2026_assets.definitions import build_definitions
from trade2026_assets.settings import AssetsSettings

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("TRADE2026_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("TRADE2026_TEST_ARTIFACTS", REPO / "test-artifacts"))
SYMBOLS = ["GOOD", "VICTIM"]
# A partition's status dot: the element after the one naming it.
DOT_COLOR = """(key) => {
  const name = document.querySelector(`[data-tooltip="${key}"]`);
  const dot = name && name.nextElementSibling;
  return dot ? getComputedStyle(dot).backgroundColor : null;
}"""


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[DagsterDev]:
    """`dagster dev` on an instance where GOOD and VICTIM were published, then a run in
    which VICTIM's new bars failed a blocking check and GOOD's passed."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    home = tmp_path / "home"
    dagster_home = new_dagster_home(home)
    files = tmp_path / "files"
    files.mkdir()
    settings = AssetsSettings(
        home=home, symbols=",".join(SYMBOLS), market_source="files", bars_path=str(files)
    )
    defs = build_definitions(settings)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        for symbol in SYMBOLS:
            write_csv(files, symbol, clean_rows())
        assert run_market_data_job(defs, SYMBOLS, instance=instance).success
        rows, _ = bad_file("negative price")
        write_csv(files, "VICTIM", rows)
        assert not run_market_data_job(defs, SYMBOLS, instance=instance).success
    env = {
        "TRADE2026_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "TRADE2026_SYMBOLS": ",".join(SYMBOLS),
        "TRADE2026_MARKET_SOURCE": "files",
        "TRADE2026_BARS_PATH": str(files),
    }
    with DagsterDev(env, log_file=tmp_path / "dagster-dev.log") as ui:
        yield ui


def rgb(color: str | None) -> tuple[int, int, int]:
    assert color is not None, "no status dot"
    match = re.fullmatch(r"rgba?\((\d+), (\d+), (\d+).*\)", color)
    assert match is not None, color
    red, green, blue = (int(part) for part in match.groups())
    return red, green, blue


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dagster-ui-{name}.png"), full_page=True)


@pytest.mark.timeout(600)
def test_the_failing_symbol_is_red_next_to_the_good_one_green(ui: DagsterDev) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.add_locator_handler(
            page.get_by_role("button", name="Skip", exact=True), lambda skip: skip.click()
        )
        try:
            page.goto(f"{ui.url}/assets/market_bars?view=partitions", wait_until="networkidle")
            # The status filters count one partition of each.
            page.get_by_text("Failed (1)").wait_for(timeout=60_000)
            page.get_by_text("Materialized (1)").wait_for(timeout=60_000)
            for symbol in SYMBOLS:
                page.locator(f'[data-tooltip="{symbol}"]').wait_for(timeout=30_000)
            red, green, _ = rgb(page.evaluate(DOT_COLOR, "VICTIM"))
            assert red > green, "VICTIM's dot is not red"
            red, green, _ = rgb(page.evaluate(DOT_COLOR, "GOOD"))
            assert green > red, "GOOD's dot is not green"
            # VICTIM's own page: the failed run did not materialize it (its last good bars,
            # with their own figures, are what stays published).
            page.locator('[data-tooltip="VICTIM"]').click()
            page.get_by_text("failed, and did not materialize this asset").wait_for(timeout=30_000)
            page.wait_for_load_state("networkidle")
            shot(page, "partitions")
        except Exception:
            shot(page, "partitions-failure")
            raise
        finally:
            browser.close()
