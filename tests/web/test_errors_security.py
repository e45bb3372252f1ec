"""Error pages in one place, page hygiene (no external or inline code), rate limits, health
check. Security headers, cookie flags and the no-personal-data columns are asserted in
``tests/reliability/test_security.py``."""

from __future__ import annotations

import json

import pytest
from flask import Flask

from surveyapp.models import Response
from tests.web.helpers import count, payload


@pytest.mark.parametrize(("path", "lang", "text"), [
    pytest.param("/no/such/page", "", "Không tìm thấy trang", id="vi"),
    pytest.param("/no/such/page?lang=en", "en", "Page not found", id="en"),
])
def test_404_page_in_language(client, path, lang, text):
    r = client.get(path)
    assert r.status_code == 404
    html = r.get_data(as_text=True)
    assert text in html
    assert "Traceback" not in html


def test_api_404_is_json(client):
    r = client.get("/api/v1/nothing")
    assert r.status_code == 404
    assert r.get_json()["error"]["code"] == "not_found"


def test_405_page(client):
    r = client.post("/")
    assert r.status_code == 405
    assert "Thao tác không được phép" in r.get_data(as_text=True)
    assert "GET" in r.headers["Allow"]


def test_413_html_page(client, phone_link):
    r = client.post(f"/s/P01/survey?{phone_link.query}", data={"comment": "x" * 100_000})
    assert r.status_code == 413
    assert "Dữ liệu quá lớn" in r.get_data(as_text=True)


def test_500_handler_rolls_back_and_shows_vietnamese_page(app_factory, backend):
    from tests.conftest import prepare_database

    app: Flask = app_factory(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    prepare_database(app)
    from surveyapp.extensions import db

    @app.get("/boom")
    def boom() -> str:
        db.session.add(Response())  # a half-built row that must not survive
        raise RuntimeError("boom")

    r = app.test_client().get("/boom")
    assert r.status_code == 500
    html = r.get_data(as_text=True)
    assert "Đã xảy ra sự cố" in html
    assert "boom" not in html
    assert "Traceback" not in html
    with app.app_context():
        assert not db.session.new


def test_api_500_is_json(app_factory):
    from tests.conftest import prepare_database

    app = app_factory(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    prepare_database(app)

    @app.get("/api/v1/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    r = app.test_client().get("/api/v1/boom")
    assert r.status_code == 500
    assert r.get_json()["error"]["code"] == "server_error"


def test_pages_make_no_external_requests_and_no_inline_code(kiosk_client, kiosk, client,
                                                              phone_link):
    import re

    from tests.web.helpers import csrf_of

    pages = [kiosk_client.get(f"/k/{kiosk.id}").get_data(as_text=True),
             client.get(phone_link.path).get_data(as_text=True)]
    html = pages[0]
    pages.append(kiosk_client.post(f"/k/{kiosk.id}/survey",
                                   data={"csrf_token": csrf_of(html), "nav": "start"})
                 .get_data(as_text=True))
    for page in pages:
        assert not re.search(r'(src|href)="(https?:)?//', page)
        assert "<style" not in page
        assert " style=" not in page
        assert not re.search(r"<script(?![^>]*\bsrc=)", page)
        assert not re.search(r"\son[a-z]+=", page)


def test_kiosk_question_page_weight_under_60kb(kiosk_client, kiosk):
    """HTML + CSS + JS of a question page, as transferred (no compression assumed)."""
    from tests.web.helpers import csrf_of, radio_names, state_of

    html = kiosk_client.get(f"/k/{kiosk.id}").get_data(as_text=True)
    html = kiosk_client.post(f"/k/{kiosk.id}/survey", data={"csrf_token": csrf_of(html),
                                                            "nav": "start"}).get_data(as_text=True)
    page = kiosk_client.post(f"/k/{kiosk.id}/survey", data={
        "csrf_token": csrf_of(html), "state": state_of(html), "field": ""})
    body = page.get_data()
    assert radio_names(body.decode())
    total = len(body)
    for asset in ("/static/css/survey.css", "/static/js/survey.js"):
        with kiosk_client.get(asset) as resp:
            total += len(resp.get_data())
    assert total < 60 * 1024, total


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok"}


def test_index_page(client):
    html = client.get("/").get_data(as_text=True)
    assert "Chỉ số hài lòng về sự phục vụ hành chính (SIPAS)" in html


def test_rate_limit_on_api_returns_429_json_with_retry_after(app_factory, app, kiosk):
    limited = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_API="3 per minute",
                          RATELIMIT_STORAGE_URI="memory://")
    client = limited.test_client()
    codes = [client.post("/api/v1/responses", data=json.dumps(payload()), headers=kiosk.auth,
                         content_type="application/json").status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    r = client.post("/api/v1/responses", data=json.dumps(payload()), headers=kiosk.auth,
                    content_type="application/json")
    assert r.get_json()["error"]["code"] == "rate_limited"
    assert int(r.headers["Retry-After"]) > 0
    assert count(app, Response) == 3


def test_rate_limit_on_pages_shows_vietnamese_page(app_factory, app, phone_link):
    limited = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_PAGES="2 per minute",
                          RATELIMIT_STORAGE_URI="memory://")
    client = limited.test_client()
    codes = [client.get(phone_link.path).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    r = client.get(phone_link.path)
    assert "Quá nhiều yêu cầu" in r.get_data(as_text=True)
    assert "Retry-After" in r.headers


def test_redis_storage_is_used_when_configured(app_factory):
    app = app_factory(REDIS_URL="redis://127.0.0.1:6379/15", RATELIMIT_STORAGE_URI=None)
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/15"
