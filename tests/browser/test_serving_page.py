"""Serving's API page (`/`, BentoML's Swagger UI over `/docs.json`) in headless Chromium with
every request off the loopback interface refused, and none made: it names the service and
the project's version, and "Try it out" on `/signal` starts from a body that works
(`{"symbols": ["SYNA"]}`). The screenshot is kept in `test-artifacts/serving-page.png`."""

from __future__ import annotations

import importlib.metadata
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Route, sync_playwright

from scripts.harness.registry import registry_process
from scripts.harness.services import free_port
from scripts.harness.serving import serving_process
from trade2026_assets.settings import STRATEGIES_DIR

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("TRADE2026_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("TRADE2026_TEST_ARTIFACTS", REPO / "test-artifacts"))
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def test_serving_page_names_the_service_and_starts_from_a_working_example(
    tmp_path: Path,
) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
    refused: list[str] = []

    def loopback_only(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOOPBACK or not url.startswith(("http:", "https:")):
            route.continue_()
        else:
            refused.append(url)
            route.abort("internetdisconnected")

    # The page needs no live model: serving follows a registry with nothing deployed.
    with (
        registry_process(tmp_path, free_port()) as (registry, key),
        serving_process(
            tmp_path,
            port=free_port(),
            registry_url=registry.url,
            api_key=key,
            extra_env={"TRADE2026_STRATEGIES_DIR": str(STRATEGIES_DIR)},
        ) as serving,
    ):
        serving.wait_up()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox"]
            )
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.route("**/*", loopback_only)
                page.goto(serving.url + "/")
                # BentoML's stylesheet hides the title's text and shows its version badge.
                rendered = page.locator(".info .title span, .errors-wrapper").first
                rendered.wait_for(timeout=30_000)
                errors = page.locator(".errors-wrapper")
                assert errors.count() == 0, errors.first.inner_text()
                version = page.locator(".info .title .version").first.inner_text().strip()
                description = page.locator(".info .description").inner_text()
                signal = page.locator('.opblock-summary-path[data-path="/signal"]')
                signal.click()
                operation = page.locator(".opblock.is-open")
                operation.locator(".try-out__btn").click()
                body = operation.locator("textarea.body-param__text").input_value()
                title = page.title()
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "serving-page.png"), full_page=False)
            finally:
                browser.close()
    # Nothing leaves the machine (BentoML's page template asks Google Tag Manager for its
    # analytics: the service serves the page without it).
    assert refused == [], f"the page asked outside the machine for {refused}"
    assert title == "Trade2026 serving", title
    assert version == importlib.metadata.version("trade2026"), version
    assert description.startswith("Trade2026 serving: "), description
    assert "created with BentoML" not in description, description
    assert json.loads(body) == {"symbols": ["SYNA"]}, body
