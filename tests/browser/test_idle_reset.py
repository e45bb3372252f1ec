"""Idle reset on the kiosk: after the idle time (2-3 s here, 60 s in production) the kiosk is
back on a clean start screen, with nothing of the previous citizen on screen, in the DOM or in
the form state; nor after Back and a form resubmission.  (The thank-you page's return to the
start screen is checked at the end of test_kiosk_flow.)"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import citizen

pytestmark = pytest.mark.browser


def assert_clean_start(page, live_site, contents) -> None:
    expect(page.locator("h1")).to_have_text(citizen.TEXT["vi"]["title"])
    assert page.url == live_site.kiosk_url
    html = page.content()
    assert 'name="state"' not in html
    assert page.locator("input:checked").count() == 0
    assert page.locator("textarea").count() == 0
    for item in contents[0].items:
        assert item.text_vi not in html


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_question_page_resets_after_idle_time(open_page, live_site, contents, server_config, js):
    server_config(KIOSK_IDLE_SECONDS=3)
    page = open_page("kiosk", js=js)
    answers = citizen.plan(contents)
    page.goto(live_site.kiosk_url)
    citizen.start(page)
    citizen.choose_field(page, "Đất đai")
    first = contents[0]
    for item in first.items[:2]:
        citizen.press(page, citizen.option(page, item, answers[item.code]), navigates=False)
    expect(page.locator("input:checked")).to_have_count(2)
    page.wait_for_url(live_site.kiosk_url, timeout=8000)
    assert_clean_start(page, live_site, contents)
    # The next citizen's survey starts empty.
    citizen.start(page)
    citizen.choose_field(page, None)
    expect(page.locator("#progress-label")).to_have_text("Phần 1/5")
    assert page.locator("input:checked").count() == 0


def test_touches_keep_the_page_then_it_resets(open_page, live_site, contents, server_config):
    server_config(KIOSK_IDLE_SECONDS=2)
    page = open_page("kiosk")
    page.goto(live_site.kiosk_url)
    citizen.start(page)
    citizen.choose_field(page, None)
    # A citizen still tapping is never interrupted: 4 taps 0.8 s apart span twice the idle time.
    items = contents[0].items
    for n in range(4):
        citizen.press(page, citizen.option(page, items[n % len(items)], "4"), navigates=False)
        page.wait_for_timeout(800)
    expect(page.locator("#progress-label")).to_have_text("Phần 1/5")
    page.wait_for_url(live_site.kiosk_url, timeout=8000)
    assert_clean_start(page, live_site, contents)


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_resubmitting_after_reset_brings_back_nothing(open_page, live_site, contents,
                                                      server_config, js):
    """The next citizen presses Back, then reloads (Chromium re-sends the form it could not
    show from its cache): they must not get the previous citizen's survey back."""
    server_config(KIOSK_IDLE_SECONDS=2)
    page = open_page("kiosk", js=js)
    page.goto(live_site.kiosk_url)
    citizen.start(page)
    citizen.choose_field(page, None)
    first = contents[0]
    for item in first.items:
        citizen.press(page, citizen.option(page, item, "1"), navigates=False)
    # Two pages on: the history entry before the reset is the POST that carried these answers.
    citizen.press(page, page.get_by_role("button", name="Tiếp tục", exact=True))
    citizen.press(page, page.get_by_role("button", name="Tiếp tục", exact=True))
    page.wait_for_url(live_site.kiosk_url, timeout=8000)
    server_config(KIOSK_IDLE_SECONDS=60)  # the next citizen is slow to look
    html = citizen.go_back_html(page)  # Back alone shows nothing: no-store, no cached copy
    for item in first.items:
        assert item.text_vi not in html
    with page.expect_navigation():
        page.reload()
    # With JS, survey.js sends a page reached by Back or reload to the start screen; without
    # it the server does: the re-sent state was begun before the start screen last showed.
    page.wait_for_url(live_site.kiosk_url)
    assert_clean_start(page, live_site, contents)
