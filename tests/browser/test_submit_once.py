"""A double tap, a retried request or Back-and-resubmit after sending stores one response."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import citizen

pytestmark = pytest.mark.browser


def submits(page) -> list[str]:
    """Record the final-submit POSTs that got an answer from the server."""
    seen: list[str] = []
    page.on("response", lambda r: seen.append(r.url)
            if r.request.method == "POST" and "nav=submit" in (r.request.post_data or "")
            else None)
    return seen


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_double_tap_on_send_stores_one_response(open_page, live_site, contents, js):
    page = open_page("kiosk", js=js)
    before = live_site.response_ids()
    page.goto(live_site.kiosk_url)
    answers = citizen.quick_to_comment(page, contents, "Xây dựng")
    sent = submits(page)
    # No expect_navigation here: the second tap may abort the first tap's navigation.
    page.get_by_role("button", name="Gửi đánh giá").dblclick()
    expect(page.locator("h1")).to_have_text("Xin cảm ơn Ông/Bà!")
    assert 1 <= len(sent) <= 2
    added = live_site.response_ids() - before
    assert len(added) == 1
    assert live_site.response(added.pop())["answers"] == answers


def test_request_delivered_twice_stores_one_response(open_page, live_site, contents):
    """A flaky network that delivers the submit twice (a retry by a proxy) still stores one.

    The kiosk's service worker is blocked here: requests it makes itself are not routed through
    ``page.route`` (the offline tests cover the worker)."""
    page = open_page("kiosk", service_workers="block")
    before = live_site.response_ids()
    statuses: list[int] = []

    def deliver_twice(route) -> None:
        if "nav=submit" not in (route.request.post_data or ""):
            route.continue_()
            return
        first = route.fetch(max_redirects=0)
        second = route.fetch(max_redirects=0)
        statuses.extend([first.status, second.status])
        route.fulfill(response=second)

    page.goto(live_site.kiosk_url)
    answers = citizen.quick_to_comment(page, contents)
    page.route("**/survey", deliver_twice)
    citizen.comment_and_send(page, "Gửi hai lần.")
    assert statuses == [303, 303]
    added = live_site.response_ids() - before
    assert len(added) == 1
    stored = live_site.response(added.pop())
    assert stored["answers"] == answers
    assert stored["comment"] == "Gửi hai lần."


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_back_and_resubmit_after_sending_stores_one_response(open_page, live_site, contents,
                                                             js):
    page = open_page("kiosk", js=js)
    before = live_site.response_ids()
    page.goto(live_site.kiosk_url)
    answers = citizen.quick_to_comment(page, contents)
    citizen.comment_and_send(page, None)
    assert len(live_site.response_ids() - before) == 1
    # Back: the browser has no copy of the POSTed page to show (no-store) ...
    html = citizen.go_back_html(page)
    assert "Gửi đánh giá" not in html
    # ... and confirming the resubmission re-sends the last step's form.
    with page.expect_navigation():
        page.reload()
    # a submitted survey is never shown again: survey.js (with JS) or the server (the state's
    # response is stored) takes the kiosk to the start screen
    page.wait_for_url(live_site.kiosk_url)
    expect(page.locator("h1")).to_have_text(citizen.TEXT["vi"]["title"])
    added = live_site.response_ids() - before
    assert len(added) == 1
    assert live_site.response(added.pop())["answers"] == answers
