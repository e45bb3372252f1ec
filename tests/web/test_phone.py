"""Phone pages through a signed link: valid, tampered, unknown, expired."""

from __future__ import annotations

import datetime as dt

import pytest

from surveyapp.models import Response
from tests.web.helpers import count, walk_survey


def test_phone_link_start_page(client, phone_link):
    r = client.get(phone_link.path)
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "phone" in html.split("<body", 1)[1].split(">", 1)[0]
    assert "Trung tâm Phục vụ hành chính công thành phố Hà Nội" in html
    assert 'name="viewport"' in html
    assert "data-idle" not in html


def test_citizen_completes_survey_on_phone(app, client, phone_link):
    post = f"/s/{phone_link.centre}/survey?{phone_link.query}"
    final, pages = walk_survey(client, phone_link.path, post, value="na")
    assert final.status_code == 303
    assert final.headers["Location"].startswith("/s/P01/thanks?")
    thanks = client.get(final.headers["Location"])
    assert thanks.status_code == 200
    assert "Ông/Bà có thể đóng trang này." in thanks.get_data(as_text=True)
    from surveyapp.extensions import db

    with app.app_context():
        stored = db.session.scalars(db.select(Response)).one()
        assert (stored.channel, stored.counter.code, stored.kiosk_id) == ("phone-qr", "1", None)
        assert stored.unit.code == "01"
        assert stored.unit.level == "province"


def test_receipt_link_channel(app, client):
    from surveyapp.services import links

    with app.test_request_context():
        query = links.make("X00004", None, "r").query()
    final, _ = walk_survey(client, f"/s/X00004?{query}", f"/s/X00004/survey?{query}")
    assert final.status_code == 303
    from surveyapp.extensions import db

    with app.app_context():
        assert db.session.scalars(db.select(Response)).one().channel == "receipt-link"


def tamper(query: str, key: str, value: str) -> str:
    parts = dict(p.split("=", 1) for p in query.split("&"))
    parts[key] = value
    return "&".join(f"{k}={v}" for k, v in parts.items())


@pytest.mark.parametrize(("change", "status", "text"), [
    pytest.param(("sig", "AAAAAAAAAAAAAAAAAAAAAAAA"), 403, "Đường dẫn khảo sát không hợp lệ",
                 id="forged-signature"),
    pytest.param(("c", "2"), 403, "Đường dẫn khảo sát không hợp lệ", id="other-counter"),
    pytest.param(("exp", "29991231"), 403, "Đường dẫn khảo sát không hợp lệ",
                 id="extended-expiry"),
    pytest.param(("ch", "r"), 403, "Đường dẫn khảo sát không hợp lệ", id="other-channel"),
    pytest.param(("ch", "x"), 403, "Đường dẫn khảo sát không hợp lệ", id="bad-channel"),
    pytest.param(("exp", "tomorrow"), 403, "Đường dẫn khảo sát không hợp lệ", id="bad-expiry"),
    pytest.param(("sig", "%ff%fe"), 403, "Đường dẫn khảo sát không hợp lệ", id="bad-utf8"),
])
def test_tampered_link_gets_clear_page(client, phone_link, change, status, text):
    r = client.get(f"/s/P01?{tamper(phone_link.query, *change)}")
    assert r.status_code == status
    assert text in r.get_data(as_text=True)


def test_link_without_parameters(client):
    r = client.get("/s/P01")
    assert r.status_code == 403
    assert "Đường dẫn khảo sát không hợp lệ" in r.get_data(as_text=True)


@pytest.mark.parametrize("centre", ["X99999", "p01", "x" * 300, "%00", "P01.."])
def test_unknown_centre_is_404(client, phone_link, centre):
    r = client.get(f"/s/{centre}?{phone_link.query}")
    assert r.status_code == 404
    assert "Không tìm thấy điểm khảo sát" in r.get_data(as_text=True)


def test_expired_link_is_403_with_its_own_message(app, client):
    from surveyapp.services import links

    with app.test_request_context():
        query = links.make("P01", None, "q", valid_days=30, today=dt.date(2024, 1, 1)).query()
    r = client.get(f"/s/P01?{query}")
    assert r.status_code == 403
    assert "Đường dẫn khảo sát đã hết hạn" in r.get_data(as_text=True)


def test_link_for_removed_counter_is_404(app, client):
    from surveyapp.services import links

    with app.test_request_context():
        query = links.make("P01", "77").query()
    r = client.get(f"/s/P01?{query}")
    assert r.status_code == 404


def test_tampered_link_on_post_and_thanks(client, phone_link):
    bad = tamper(phone_link.query, "sig", "x")
    assert client.post(f"/s/P01/survey?{bad}", data={"nav": "start"}).status_code in (400, 403)
    assert client.get(f"/s/P01/thanks?{bad}").status_code == 403


def test_english_on_phone(client, phone_link):
    html = client.get(phone_link.path + "&lang=en").get_data(as_text=True)
    assert "Please rate how satisfied you are" in html


def test_phone_response_count_unchanged_by_refusals(app, client, phone_link):
    client.get(f"/s/P01?{tamper(phone_link.query, 'sig', 'x')}")
    assert count(app, Response) == 0


def test_phone_post_without_csrf_is_rejected(app, client, phone_link):
    client.get(phone_link.path)
    r = client.post(f"/s/P01/survey?{phone_link.query}", data={"nav": "start"})
    assert r.status_code == 400
    assert "Trang đã hết hạn" in r.get_data(as_text=True)
    assert count(app, Response) == 0
