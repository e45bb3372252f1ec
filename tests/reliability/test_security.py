"""Security checks in one place, over every route of ``app.url_map`` (SQLite and PostgreSQL).

Here: security headers on every page (strict CSP, no framing, nosniff, Referrer-Policy, HSTS
only over HTTPS, including behind the configured proxy), cookie flags, CSRF refusal on every
HTML form route, lockout across sessions, every staff route either province-isolated or closed
to province users, and no personal data or client address in what a response stores.

Asserted elsewhere and not repeated: province isolation attempt by attempt on every report and
results route (``tests/web/test_isolation.py``, whose route list this suite checks is
complete), lockout timing and backoff (``tests/web/test_auth.py``), no inline script or style
in the survey pages (``tests/web/test_errors_security.py``), hostile input
(``test_hostile_input.py``), the JSON API against its OpenAPI description
(``test_api_schemathesis.py``), and the dependency audit (``scripts/audit-deps``).
"""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from surveyapp.services.accounts import LOCK_AFTER
from tests.conftest import KioskInfo, PhoneLink, StaffInfo
from tests.reliability.route_args import route_args, rules
from tests.web.helpers import STAFF_PASSWORD, csrf_of, payload, sign_in
from tests.web.test_isolation import ATTEMPTS, report_rules

#: Column names that would hold personal data or a client address.
PERSONAL = re.compile(r"(^|_)(ip|ip_address|addr|address|phone|email|name|full_name|cmnd|cccd|"
                      r"id_number|national_id|user_agent|birth|dob)($|_)")
#: Tables holding what citizens send (and its flags).
RESPONSE_TABLES = ("response", "answer", "quality_flag")
CLIENT_IP = "203.0.113.77"  # TEST-NET-3: an address no fixture uses


def _assert_page_headers(resp, url: str) -> None:  # noqa: ANN001
    h = resp.headers
    csp = h.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp, url
    assert "script-src 'self'" in csp, url
    assert "frame-ancestors 'none'" in csp, url
    assert "unsafe-inline" not in csp, url
    assert "unsafe-eval" not in csp, url
    assert "object-src 'none'" in csp, url
    assert h.get("X-Frame-Options") == "DENY", url
    assert h.get("X-Content-Type-Options") == "nosniff", url
    assert h.get("Referrer-Policy") == "same-origin", url
    assert "Strict-Transport-Security" not in h, url  # plain HTTP here


# ------------------------------------------------------------------------- headers
def test_security_headers_on_every_page(app: Flask, client: FlaskClient, staff: StaffInfo,
                                        kiosk: KioskInfo, phone_link: PhoneLink) -> None:
    """Every GET route (an administrator passes every role check), its error pages, the
    kiosk and phone pages with valid credentials, and the JSON API."""
    args = route_args(app, kiosk, staff)
    assert sign_in(client, staff.admin).status_code == 302
    html_pages = 0
    for rule in rules(app, "GET"):
        url = args.url(app, rule)
        if rule.endpoint == "collect.kiosk_setup":
            url += f"?token={kiosk.token}"
        elif rule.endpoint.startswith("collect.phone"):
            url += "?" + phone_link.query
        resp = client.get(url)
        assert resp.status_code < 500, url
        assert resp.headers.get("X-Content-Type-Options") == "nosniff", url
        if resp.mimetype == "text/html":
            html_pages += 1
            _assert_page_headers(resp, url)
        resp.close()
    for url in ["/no/such/page", "/api/v1/nothing", "/reports/run/999999/01/"]:
        _assert_page_headers(client.get(url), url)
    assert html_pages >= 30


@pytest.mark.parametrize(("overrides", "base", "headers", "hsts"), [
    pytest.param({}, "http://sipas.test", {}, False, id="http"),
    pytest.param({}, "https://sipas.test", {}, True, id="https"),
    pytest.param({"PROXY_COUNT": 1}, "http://sipas.test", {"X-Forwarded-Proto": "https"}, True,
                 id="behind-proxy-tls"),
    pytest.param({"PROXY_COUNT": 1}, "http://sipas.test", {"X-Forwarded-Proto": "http"}, False,
                 id="behind-proxy-plain"),
    pytest.param({}, "http://sipas.test", {"X-Forwarded-Proto": "https"}, False,
                 id="untrusted-forwarded-header"),
])
def test_hsts_only_over_https(app_factory, overrides: dict, base: str, headers: dict,
                              hsts: bool) -> None:  # noqa: ANN001
    """HSTS on HTTPS requests only: directly, or behind the proxies ``PROXY_COUNT`` trusts
    (ProxyFix); an X-Forwarded-Proto from an untrusted client changes nothing."""
    client = app_factory(**overrides).test_client()
    for path in ["/", "/login", "/healthz"]:
        resp = client.get(path, base_url=base, headers=headers)
        assert ("Strict-Transport-Security" in resp.headers) is hsts, path
        if hsts:
            assert resp.headers["Strict-Transport-Security"].startswith("max-age=31536000")


# ------------------------------------------------------------------------- cookies
def _set_cookie(resp, name: str) -> str:  # noqa: ANN001
    return next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith(name + "="))


@pytest.mark.parametrize("secure", [False, True], ids=["http", "tls"])
def test_cookie_flags(app_factory, kiosk: KioskInfo, staff: StaffInfo,
                      secure: bool) -> None:  # noqa: ANN001
    """Session (staff sign-in, CSRF) and kiosk device cookies: HttpOnly and SameSite always,
    Secure when ``COOKIE_SECURE`` is set for a deployment behind TLS; no remember-me."""
    app = app_factory(COOKIE_SECURE=secure)
    base = "https://sipas.test" if secure else "http://sipas.test"
    client = app.test_client()
    page = client.get("/login", base_url=base)
    session = _set_cookie(page, "session")
    signed_in = client.post("/login", base_url=base, headers={"Referer": base + "/login"},
                            data={"csrf_token": csrf_of(page.get_data(as_text=True)),
                                  "username": staff.admin, "password": STAFF_PASSWORD})
    assert signed_in.status_code == 302
    cookies = [session, _set_cookie(signed_in, "session")]
    assert not any(c.startswith("remember_token=")
                   for c in signed_in.headers.getlist("Set-Cookie"))
    kiosk_browser = app.test_client()
    setup = kiosk_browser.get(f"/k/{kiosk.id}/setup?token={kiosk.token}", base_url=base)
    done = kiosk_browser.post(f"/k/{kiosk.id}/setup", base_url=base,
                              headers={"Referer": f"{base}/k/{kiosk.id}/setup"},
                              data={"csrf_token": csrf_of(setup.get_data(as_text=True)),
                                    "token": kiosk.token})
    kiosk_cookie = _set_cookie(done, "sipas_kiosk")
    for cookie in [*cookies, kiosk_cookie]:
        assert "HttpOnly" in cookie, cookie
        assert "SameSite=" in cookie, cookie
        assert ("Secure" in cookie) is secure, cookie
    assert all("SameSite=Lax" in c for c in cookies)
    assert "SameSite=Strict" in kiosk_cookie


# ---------------------------------------------------------------------------- CSRF
def test_every_html_form_route_refuses_a_post_without_csrf_token(
        app: Flask, staff: StaffInfo, kiosk: KioskInfo, kiosk_client: FlaskClient,
        phone_link: PhoneLink) -> None:
    """Every POST rule outside the JSON API (which takes no cookie credentials and is
    CSRF-exempt by design), posted by a signed-in administrator or a set-up kiosk browser
    without a token, or with a forged one: 400 "page expired", and nothing changes."""
    from surveyapp.extensions import db
    from surveyapp.models import AuditEvent, Response

    args = route_args(app, kiosk, staff)
    client = app.test_client()
    assert sign_in(client, staff.admin).status_code == 302
    with app.app_context():
        events = db.session.query(AuditEvent).count()
        responses = db.session.query(Response).count()
    posted = 0
    for rule in rules(app, "POST"):
        if rule.rule.startswith("/api/"):
            continue
        url = args.url(app, rule)
        if rule.endpoint.startswith("collect.phone"):
            url += "?" + phone_link.query
        browser = kiosk_client if rule.endpoint.startswith("collect.kiosk") else client
        for data in [{}, {"csrf_token": "forged." + "x" * 40}]:
            data |= {"nav": "start", "username": staff.admin, "token": kiosk.token,
                     "name": "x", "comment": "x"}
            resp = browser.post(url, data=data)
            assert resp.status_code == 400, (url, resp.status_code)
            assert "Trang đã hết hạn" in resp.get_data(as_text=True), url
            posted += 1
    assert posted >= 2 * 25
    with app.app_context():
        assert db.session.query(AuditEvent).count() == events  # no change was made
        assert db.session.query(Response).count() == responses
    assert client.get("/admin/").status_code == 200  # still signed in: logout refused too


def test_api_is_csrf_exempt_only_because_it_ignores_cookies(
        app: Flask, kiosk_client: FlaskClient, kiosk: KioskInfo) -> None:
    """The device cookie alone authenticates an upload only as JSON (which a cross-site form
    cannot send without a CORS preflight the app never grants): a form post is 415."""
    body = json.dumps(payload())
    form = kiosk_client.post("/api/v1/responses", data={"body": body})
    assert form.status_code == 415
    plain = kiosk_client.post("/api/v1/responses", data=body, content_type="text/plain")
    assert plain.status_code == 415
    assert "Access-Control-Allow-Origin" not in plain.headers
    ok = kiosk_client.post("/api/v1/responses", data=body, content_type="application/json")
    assert ok.status_code == 201


# -------------------------------------------------------------------------- lockout
def test_lockout_holds_across_fresh_sessions(app: Flask, staff: StaffInfo) -> None:
    """Guessing from a new browser (new session, new CSRF token) each time still locks the
    account: the counter is on the account, not the session."""
    for _ in range(LOCK_AFTER):
        resp = sign_in(app.test_client(), staff.province, "đoán sai mật khẩu")
        assert resp.status_code == 200
    resp = sign_in(app.test_client(), staff.province)
    assert resp.status_code == 200
    assert "tạm khóa" in resp.get_data(as_text=True)
    assert sign_in(app.test_client(), staff.admin).status_code == 302  # others unaffected


# ------------------------------------------------------------------------ isolation
def test_every_staff_route_is_isolated_or_closed_to_province_users(
        app_factory, app: Flask, staff: StaffInfo, kiosk: KioskInfo) -> None:  # noqa: ANN001
    """Report and results routes are tried attempt by attempt in tests/web/test_isolation.py
    (its ATTEMPTS must name each one); every other staff route refuses a province user
    (CSRF checks off here, so that a POST reaches the role check, not the token check)."""
    assert {r.endpoint for r in report_rules(app)} == set(ATTEMPTS)
    args = route_args(app, kiosk, staff)
    client = app_factory(WTF_CSRF_ENABLED=False).test_client()
    assert client.post("/login", data={"username": staff.province,
                                       "password": STAFF_PASSWORD}).status_code == 302
    closed = 0
    for rule in rules(app, "GET") + rules(app, "POST"):
        if not rule.endpoint.startswith(("admin.", "stats.")) or rule.endpoint == "admin.static":
            continue
        url = args.url(app, rule)
        for method in sorted(rule.methods & {"GET", "POST"}):
            resp = client.open(url, method=method, data={"name": "x"})
            assert resp.status_code == 403, (method, url, resp.status_code)
            closed += 1
    assert closed >= 40


# ---------------------------------------------------------------- no personal data
def test_no_personal_data_columns_on_response_tables() -> None:
    from surveyapp.db import Base

    for name in RESPONSE_TABLES:
        table = Base.metadata.tables[name]
        for column in table.columns:
            assert not PERSONAL.search(column.name), f"{name}.{column.name}"


def test_stored_response_holds_no_client_address(app_factory, app: Flask, kiosk: KioskInfo,
                                                 phone_link: PhoneLink) -> None:  # noqa: ANN001
    """A response sent through a trusted proxy from a known address: no stored value (any
    column of the response, its answers or flags) contains the address; the burst key is a
    day-salted HMAC of it."""
    from surveyapp.db import Base
    from surveyapp.extensions import db

    proxied = app_factory(PROXY_COUNT=1).test_client()
    env = {"REMOTE_ADDR": "10.0.0.2"}
    headers = {"X-Forwarded-For": CLIENT_IP, "User-Agent": "Mozilla/5.0 (Nguyễn Văn A)"}
    for body, auth in [(payload(), kiosk.auth),
                       (payload(centre="P01", channel="phone-qr", counter=None),
                        {"Authorization": f"Link {phone_link.query}"})]:
        r = proxied.post("/api/v1/responses", data=json.dumps(body), environ_base=env,
                         headers=headers | auth, content_type="application/json")
        assert r.status_code == 201, r.get_data(as_text=True)
    with app.app_context():
        values = []
        for name in RESPONSE_TABLES:
            rows = db.session.execute(select(Base.metadata.tables[name])).all()
            values += [str(v) for row in rows for v in row]
        hashes = db.session.execute(select(Base.metadata.tables["response"].c.source_hash)
                                    ).scalars().all()
    assert len(hashes) == 2
    assert all(h and re.fullmatch(r"[0-9a-f]{32}", h) for h in hashes)
    for value in values:
        assert CLIENT_IP not in value
        assert "10.0.0.2" not in value
        assert "Mozilla" not in value
