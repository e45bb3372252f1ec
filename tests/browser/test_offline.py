"""The kiosk keeps collecting with the network down, survives a restart, and delivers each
answer set exactly once when the network returns.

Real Chromium with a persistent profile (a user-data directory, like a kiosk's disk), on
``http://localhost:PORT`` (service workers need a secure context; localhost is one). The
network is cut with Playwright's ``context.set_offline``, which also cuts the service worker.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser import citizen
from tests.browser.live import CHROMIUM_ARGS, KIOSK_CENTRE, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUEUED_IDS = "SipasStore.list().then(rows => rows.map(r => r.id))"


def launch(chromium: Any, profile: Path, offline: bool = False) -> Any:
    """A kiosk browser with its own disk: cookies, service worker and IndexedDB persist."""
    from tests.browser.conftest import KIOSK_VIEWPORT, TIMEOUT_MS
    from tests.browser.live import chromium_path

    context = chromium.browser_type.launch_persistent_context(
        str(profile), executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True,
        viewport=KIOSK_VIEWPORT, has_touch=True, locale="vi-VN", reduced_motion="reduce",
        offline=offline)
    context.set_default_timeout(TIMEOUT_MS * 2)
    return context


def kiosk_rows(live: LiveServer, kiosk_id: str) -> set[str]:
    from sqlalchemy import select

    from surveyapp.extensions import db
    from surveyapp.models import Response

    with live.app.app_context():
        ids = {str(i) for i in db.session.scalars(
            select(Response.id).where(Response.kiosk_id == kiosk_id))}
        db.session.remove()
        return ids


def queued(page: Any) -> list[str]:
    page.wait_for_function("() => window.SipasStore !== undefined")
    return list(page.evaluate(QUEUED_IDS))


def test_three_surveys_offline_survive_a_restart_and_arrive_once(chromium, live_site, contents,
                                                                 tmp_path):
    from surveyapp.services import kiosks

    with live_site.app.app_context():
        cred = kiosks.register(kiosks.find_centre(KIOSK_CENTRE), None, "offline test kiosk")
    base = live_site.url.replace("127.0.0.1", "localhost")
    start_url = f"{base}/k/{cred.id}"
    plans = [citizen.plan(contents, shift=n) for n in range(3)]
    comments = ["Mạng rớt giữa chừng.", None, "Gửi khi mất mạng <b>&</b> \"ngoặc\"."]
    fields = ["Hộ tịch", None, "Xây dựng"]
    profile = tmp_path / "kiosk-profile"

    context = launch(chromium, profile)
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(f"{base}/k/{cred.id}/setup?token={cred.token}")
    page.get_by_role("button", name="Kích hoạt kiosk").click()
    page.wait_for_url(start_url)
    expect(page.locator("html")).to_have_attribute("data-offline-ready", "1", timeout=30_000)

    # 1: begins online (server-rendered pages), the network drops after the first part
    citizen.start(page)
    citizen.choose_field(page, fields[0])
    citizen.rate_content(page, contents[0], 1, len(contents), plans[0])
    context.set_offline(True)
    for n, content in enumerate(contents[1:], start=2):
        citizen.rate_content(page, content, n, len(contents), plans[0])
    citizen.comment_and_send(page, comments[0])
    # 2 and 3: entirely offline, from a start screen the kiosk had to load from its cache
    for n in (1, 2):
        page.goto(start_url)
        citizen.complete(page, contents, plans[n], field=fields[n], comment=comments[n])
    ids = queued(page)
    assert len(ids) == 3
    assert kiosk_rows(live_site, cred.id) == set()  # nothing reached the server
    context.close()

    # The kiosk is switched off and on again, still without network.
    context = launch(chromium, profile, offline=True)
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(start_url)
    expect(page.locator("h1")).to_have_text(citizen.TEXT["vi"]["title"])
    assert queued(page) == ids
    context.set_offline(False)  # the network returns
    deadline = time.monotonic() + 60
    while kiosk_rows(live_site, cred.id) != set(ids) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert kiosk_rows(live_site, cred.id) == set(ids)
    page.wait_for_function("() => SipasStore.list().then(rows => rows.length === 0)")
    time.sleep(2)  # any late duplicate upload would have arrived by now
    assert kiosk_rows(live_site, cred.id) == set(ids)
    for n, rid in enumerate(ids):
        stored = live_site.response(rid)
        assert stored["answers"] == plans[n]
        assert stored["comment"] == comments[n]
        assert stored["kiosk"] == cred.id
        assert stored["field"] == (None if fields[n] is None else
                                   {"Hộ tịch": "ho-tich", "Xây dựng": "xay-dung"}[fields[n]])
    context.close()
