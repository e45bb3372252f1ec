"""A citizen rates the service on a phone (390x844, touch) through the centre's signed link."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser import citizen

pytestmark = pytest.mark.browser


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_phone_survey_through_signed_link(open_page, live_site, contents):
    page = open_page("phone", reduced_motion="no-preference")
    answers = citizen.plan(contents, shift=1)
    before = live_site.response_ids()
    page.goto(live_site.phone_url)
    expect(page.locator(".brand")).to_have_text(
        "Trung tâm Phục vụ hành chính công thành phố Hà Nội")
    assert no_sideways_scroll(page)
    citizen.start(page)
    citizen.choose_field(page, "Chứng thực")
    for n, content in enumerate(contents, start=1):
        if n == 1:
            assert no_sideways_scroll(page)
            assert citizen.small_targets(page) == []
        citizen.rate_content(page, content, n, len(contents), answers)
    citizen.comment_and_send(page, "Nhân viên quầy 1 hướng dẫn rất tận tình.")
    expect(page.get_by_text("Ông/Bà có thể đóng trang này.")).to_be_visible()
    assert no_sideways_scroll(page)

    added = live_site.response_ids() - before
    assert len(added) == 1
    stored = live_site.response(added.pop())
    assert stored["answers"] == answers
    assert stored == stored | {"channel": "phone-qr", "centre": "P01", "counter": "1",
                               "kiosk": None, "field": "chung-thuc",
                               "comment": "Nhân viên quầy 1 hướng dẫn rất tận tình."}


def test_tampered_phone_link_gets_a_vietnamese_page(open_page, live_site):
    page = open_page("phone")
    response = page.goto(live_site.phone_url.replace("c=1", "c=2"))
    assert response is not None
    assert response.status == 403
    expect(page.locator("h1")).to_have_text("Đường dẫn khảo sát không hợp lệ")
