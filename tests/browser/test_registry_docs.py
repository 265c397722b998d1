"""The registry's interactive docs (`/api/v1/docs`) in headless Chromium with every request
off the loopback interface refused, as on an air-gapped machine: Swagger UI renders the
operations from assets the registry serves itself. The screenshot is kept in
`test-artifacts/registry-docs.png` (TRADE2026_TEST_ARTIFACTS moves it)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Route, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from registry_service.main import DOCS_URL
from scripts.harness.registry import registry_process
from scripts.harness.services import free_port

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("TRADE2026_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("TRADE2026_TEST_ARTIFACTS", REPO / "test-artifacts"))
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def test_registry_docs_render_with_no_network(tmp_path: Path) -> None:
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

    with registry_process(tmp_path, free_port()) as (registry, _key):
        document = httpx.get(f"{registry.url}/api/v1/openapi.json", timeout=10).json()
        operations = sum(len(methods) for methods in document["paths"].values())
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox"]
            )
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.route("**/*", loopback_only)
                page.goto(registry.url + DOCS_URL)
                try:
                    page.locator(".opblock").first.wait_for(timeout=30_000)
                except PlaywrightTimeout:
                    pytest.fail(f"Swagger UI rendered no operation; refused requests: {refused}")
                shown = page.locator(".opblock-summary-path").all_inner_texts()
                title = page.locator(".info .title").inner_text()
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "registry-docs.png"), full_page=True)
            finally:
                browser.close()
    assert refused == [], f"the docs page asked outside the machine for {refused}"
    assert "Trade2026 registry" in title
    # Every operation of the OpenAPI document is on the page, e.g. the swap.
    assert len(shown) == operations, shown
    assert any(path.replace("\u200b", "") == "/api/v1/swaps" for path in shown), shown
