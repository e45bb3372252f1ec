"""Kiosks may sit on poor networks: a question page weighs at most 60 KB on the wire with an
empty cache, and no page asks any host but the app's own."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from tests.browser import citizen
from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

BUDGET = 60 * 1024


def test_question_page_weight_and_no_other_hosts(open_page, live_site, contents):
    page = open_page("kiosk")
    own = urlsplit(live_site.url).netloc
    requests: list = []
    page.on("request", lambda r: requests.append(r))
    page.goto(live_site.kiosk_url)
    citizen.start(page)
    citizen.choose_field(page, None)

    # Measure a question page as a kiosk with an empty cache loads it: document + every asset.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    measured: list = []
    page.on("requestfinished", lambda r: measured.append(r))
    citizen.press(page, page.get_by_role("button", name="Tiếp tục", exact=True))
    page.wait_for_load_state("networkidle")
    sizes = {r.url: r.sizes() for r in measured}
    wire = {url: s["responseBodySize"] + s["responseHeadersSize"] for url, s in sizes.items()}
    total = sum(wire.values())
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "page-weight.json").write_text(
        json.dumps({"total_bytes": total, "requests": wire}, indent=1), encoding="utf-8")
    assert any(url.endswith("/survey") for url in wire)  # the page itself was measured
    assert any(url.endswith(".css") for url in wire)
    assert any(url.endswith(".js") for url in wire)
    assert total <= BUDGET, f"question page is {total} bytes on the wire: {wire}"
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": False})

    for _ in contents[1:]:
        citizen.press(page, page.get_by_role("button", name="Tiếp tục", exact=True))
    citizen.comment_and_send(page, "Nhẹ và nhanh.")
    hosts = {urlsplit(r.url).netloc for r in requests if not r.url.startswith("data:")}
    assert hosts == {own}, hosts
