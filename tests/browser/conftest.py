"""Browser-test fixtures: one live server and one headless Chromium per test session, a fresh
browser context per page (own cookies, cache, storage), screenshots on failure.

Chromium is Debian's ``/usr/bin/chromium`` (``scripts/install-system-deps`` installs it); when it
is missing these tests skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.live import LiveServer, chromium_path, launch_chromium

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
KIOSK_VIEWPORT = {"width": 1280, "height": 800}
PHONE_VIEWPORT = {"width": 390, "height": 844}
#: Playwright waits this long for an element or a navigation before failing a test.
TIMEOUT_MS = 10_000

_reports = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item so fixtures can tell whether the test failed."""
    report = yield
    item.stash.setdefault(_reports, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def live_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("live")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if chromium_path() is None:
        message = "Debian chromium is not installed (scripts/install-system-deps installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def kiosk_storage(chromium: Any, live_site: LiveServer) -> dict[str, Any]:
    """The cookies of a browser that staff set up once as the test kiosk (the real set-up page)."""
    context = chromium.new_context()
    page = context.new_page()
    page.goto(live_site.kiosk_setup_url)
    page.get_by_role("button", name="Kích hoạt kiosk").click()
    page.wait_for_url(live_site.kiosk_url)
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture
def open_page(request: pytest.FixtureRequest, chromium: Any,
              kiosk_storage: dict[str, Any]) -> Iterator[Callable[..., Any]]:
    """``open_page(kind="kiosk"|"phone", js=True, **context_options)`` -> a new page.

    Kiosk: a 1280x800 touch screen set up as the test kiosk.  Phone: 390x844, mobile, touch,
    no kiosk cookie.  Every page is screenshotted into ``test-artifacts/`` if the test fails.
    """
    contexts: list[Any] = []
    pages: list[Any] = []

    def make(kind: str = "kiosk", js: bool = True, **options: Any) -> Any:
        # Reduced motion (no smooth auto-scroll) saves seconds per survey; the main kiosk and
        # phone tests pass reduced_motion="no-preference" to keep the default path covered.
        settings: dict[str, Any] = {"java_script_enabled": js, "has_touch": True,
                                    "locale": "vi-VN", "reduced_motion": "reduce"}
        if kind == "kiosk":
            settings.update(viewport=KIOSK_VIEWPORT, storage_state=kiosk_storage)
        elif kind == "phone":
            settings.update(viewport=PHONE_VIEWPORT, is_mobile=True, device_scale_factor=2)
        else:
            raise ValueError(kind)
        settings.update(options)
        context = chromium.new_context(**settings)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        pages.append(page)
        return page

    yield make
    reports = request.node.stash.get(_reports, {})
    if any(r.failed for r in reports.values()):
        ARTIFACTS.mkdir(exist_ok=True)
        stem = re.sub(r"[^\w.-]+", "_", request.node.nodeid)[-120:]
        for n, page in enumerate(pages):
            try:
                page.screenshot(path=str(ARTIFACTS / f"{stem}-{n}.png"), full_page=True)
            except Exception:  # noqa: BLE001, S110 - a closed page has nothing to show
                pass
    for context in contexts:
        context.close()


@pytest.fixture
def server_config(live_site: LiveServer) -> Iterator[Callable[..., None]]:
    """``server_config(KIOSK_IDLE_SECONDS=2)``: change the live app's settings for one test.

    Templates read ``config`` per request, so the next page served uses the new value.
    """
    saved: dict[str, Any] = {}

    def change(**values: Any) -> None:
        for key, value in values.items():
            saved.setdefault(key, live_site.app.config[key])
            live_site.app.config[key] = value

    yield change
    live_site.app.config.update(saved)


@pytest.fixture(scope="session")
def contents(live_site: LiveServer) -> list[Any]:
    return live_site.contents()
