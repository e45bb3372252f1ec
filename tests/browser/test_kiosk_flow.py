"""A citizen rates the service on the kiosk by tapping; exactly that response is stored."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import citizen

pytestmark = pytest.mark.browser


def new_response(live_site, before: set[str]) -> dict:
    added = live_site.response_ids() - before
    assert len(added) == 1, f"expected exactly one new response, got {len(added)}"
    return live_site.response(added.pop())


def test_kiosk_survey_in_vietnamese_by_tapping(open_page, live_site, contents, server_config):
    server_config(THANKS_SECONDS=2)
    page = open_page("kiosk", reduced_motion="no-preference")
    answers = citizen.plan(contents)
    before = live_site.response_ids()
    page.goto(live_site.kiosk_url)
    expect(page.locator(".brand")).to_have_text(
        "Trung tâm Phục vụ hành chính công phường Ba Đình")
    expect(page.get_by_role("link", name="English")).to_be_visible()
    assert citizen.small_targets(page) == []
    citizen.start(page)
    citizen.choose_field(page, "Hộ tịch")
    for n, content in enumerate(contents, start=1):
        if n == 1:
            assert citizen.small_targets(page) == []
        citizen.rate_content(page, content, n, len(contents), answers)
    citizen.comment_and_send(page, comment=None)
    expect(page.get_by_role("link", name="Về màn hình đầu")).to_be_visible()

    stored = new_response(live_site, before)
    assert stored["answers"] == answers
    assert "na" in stored["answers"].values()
    assert stored == stored | {"channel": "kiosk", "centre": "X00004", "kiosk": live_site.kiosk.id,
                               "field": "ho-tich", "comment": None}

    # The thank-you page goes back to a clean start screen by itself.
    page.wait_for_url(live_site.kiosk_url, timeout=8000)
    expect(page.locator("h1")).to_have_text(citizen.TEXT["vi"]["title"])


def test_kiosk_survey_works_without_javascript(open_page, live_site, contents):
    page = open_page("kiosk", js=False)
    answers = citizen.plan(contents, shift=2)
    before = live_site.response_ids()
    page.goto(live_site.kiosk_url)
    # Without JS the idle reset is the <noscript> refresh, which is then a live element.
    expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(1)
    citizen.complete(page, contents, answers, field=None,
                     comment="Không có JavaScript vẫn gửi được.")
    stored = new_response(live_site, before)
    assert stored["answers"] == answers
    assert stored["field"] is None
    assert stored["comment"] == "Không có JavaScript vẫn gửi được."


def test_english_through_the_visible_switch(open_page, live_site, contents):
    page = open_page("kiosk")
    answers = citizen.plan(contents, shift=4)
    before = live_site.response_ids()
    page.goto(live_site.kiosk_url)
    citizen.press(page, page.get_by_role("link", name="English"))
    citizen.start(page, "en")
    citizen.choose_field(page, "Land", "en")
    first = contents[0]
    citizen.rate_content(page, first, 1, len(contents), answers, "en", go_next=False)
    # Switching language mid-page keeps what was already tapped on this page.
    citizen.press(page, page.get_by_role("button", name="Tiếng Việt"))
    citizen.rate_content(page, first, 1, len(contents), answers, "vi", go_next=False)
    citizen.press(page, page.get_by_role("button", name="English"))
    for item in first.items:
        expect(page.locator(f"#i{item.id}-{answers[item.code]}")).to_be_checked()
    citizen.press(page, page.get_by_role("button", name="Next", exact=True))
    for n, content in enumerate(contents[1:], start=2):
        citizen.rate_content(page, content, n, len(contents), answers, "en")
    citizen.comment_and_send(page, "Good service.", "en")
    stored = new_response(live_site, before)
    assert stored["answers"] == answers
    assert stored["field"] == "dat-dai"
    # The next citizen starts in Vietnamese again.
    citizen.press(page, page.get_by_role("link", name="Back to the start"))
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.locator("h1")).to_have_text(citizen.TEXT["vi"]["title"])
