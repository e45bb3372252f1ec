"""Who may use the admin pages: every ``/admin/`` route, enumerated from ``app.url_map`` so a
new route is covered without editing this file, is 403 for statisticians and province users,
a sign-in redirect for anonymous visitors, rejects a POST without CSRF token, and renders for
an admin in Vietnamese and English."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from tests.conftest import KioskInfo, StaffInfo
from tests.web.test_admin_support import (
    admin_rules,
    changes,
    post,
    sample_args,
    signed_in,
    url_for_rule,
)


def test_every_admin_page_renders_for_an_admin(app: Flask, staff: StaffInfo,
                                               kiosk: KioskInfo) -> None:
    client = signed_in(app, staff.admin)
    args = sample_args(app, kiosk.id)
    seen = 0
    for rule in admin_rules(app):
        if "GET" not in rule.methods:
            continue
        url = url_for_rule(app, rule, args)
        resp = client.get(url)
        assert resp.status_code == 200, (url, resp.status_code)
        if rule.endpoint != "admin.static" and resp.mimetype == "text/html":
            html = resp.get_data(as_text=True)
            assert 'lang="vi"' in html
            assert "Quản trị" in html, url  # the admin menu, in Vietnamese
        resp.close()  # file responses (CSS, CSV) hold an open file until closed
        seen += 1
    assert seen >= 20


def test_admin_pages_switch_to_english(app: Flask, staff: StaffInfo, kiosk: KioskInfo) -> None:
    client = signed_in(app, staff.admin)
    client.get("/staff-language/en")
    args = sample_args(app, kiosk.id)
    for rule in admin_rules(app):
        if "GET" not in rule.methods:
            continue
        resp = client.get(url_for_rule(app, rule, args))
        if resp.mimetype != "text/html":  # CSS, CSV, PDF
            resp.close()
            continue
        html = resp.get_data(as_text=True)
        assert 'lang="en"' in html
        assert "Audit trail" in html
        assert "Nhật ký" not in html


@pytest.mark.parametrize("who", ["statistician", "province", "other_province"])
def test_other_roles_get_403_on_every_admin_route(app: Flask, staff: StaffInfo,
                                                  kiosk: KioskInfo, who: str) -> None:
    client = signed_in(app, getattr(staff, who))
    args = sample_args(app, kiosk.id)
    # a valid CSRF token of this session (the sign-out form), so POSTs reach the role check
    home = client.get("/reports/" if who != "statistician" else "/analysis/")
    assert home.status_code == 200
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', home.get_data(as_text=True))
    assert csrf is not None
    token = csrf.group(1)
    before = changes(app)
    for rule in admin_rules(app):
        url = url_for_rule(app, rule, args)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = client.open(url, method=method, data={"csrf_token": token})
            assert resp.status_code == 403, (method, url, resp.status_code)
            assert "Quản trị" not in resp.get_data(as_text=True)
    assert changes(app) == before


def test_anonymous_visitors_are_sent_to_sign_in(app: Flask, staff: StaffInfo,
                                                kiosk: KioskInfo) -> None:
    client = app.test_client()
    args = sample_args(app, kiosk.id)
    for rule in admin_rules(app):
        if "GET" not in rule.methods:
            continue
        resp = client.get(url_for_rule(app, rule, args))
        assert resp.status_code == 302
        assert resp.headers["Location"].startswith("/login")


def test_every_admin_form_rejects_a_post_without_csrf_token(app: Flask, staff: StaffInfo,
                                                            kiosk: KioskInfo) -> None:
    client = signed_in(app, staff.admin)
    args = sample_args(app, kiosk.id)
    before = changes(app)
    posts = [r for r in admin_rules(app) if "POST" in r.methods]
    assert len(posts) >= 14
    for rule in posts:
        url = url_for_rule(app, rule, args)
        resp = client.post(url, data={"active": "0", "code": "99999", "name_vi": "x"})
        assert resp.status_code == 400, (url, resp.status_code)
        assert "hết hạn" in resp.get_data(as_text=True)  # the page says what happened
        bad = client.post(url, data={"csrf_token": "forged", "active": "0"})
        assert bad.status_code == 400, url
    assert changes(app) == before


def test_admin_css_is_served_with_the_admin_pages(app: Flask, staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    html = client.get("/admin/").get_data(as_text=True)
    assert "/admin/static/admin.css" in html
    css = client.get("/admin/static/admin.css")
    assert css.status_code == 200
    css.close()
    # the valid CSRF token helper works (sanity check for the other modules' tests)
    assert post(client, "/admin/kiosks/new", {"centre": ""}).status_code == 422
