"""Hostile input, on SQLite and PostgreSQL: malformed UTF-8, bodies over the limit, deeply
nested JSON, SQL and script injection in comments, path traversal in uploads and download
URLs, and hostile values in every route's path, query string and form fields. Never a 500 or a
traceback, nothing stored from a refused request, and what is stored is plain text shown
escaped. (The JSON API is also fuzzed by ``test_api_schemathesis.py`` and
``tests/web/test_fuzz.py``; spreadsheet formula escaping is unit-tested in
``tests/web/test_export.py``.)"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from surveyapp.models import Response
from tests.conftest import KioskInfo, PhoneLink, StaffInfo
from tests.reliability.route_args import SKIP_POST, route_args, rules
from tests.web.helpers import (
    count,
    csrf_of,
    payload,
    radio_names,
    sign_in,
    state_of,
    walk_survey,
    walk_to_comment,
)

LIMIT = 64 * 1024  # MAX_CONTENT_LENGTH (config.DefaultConfig)
#: Comments an attacker would try; each must come back exactly as sent.
INJECTIONS = [
    "'); DROP TABLE response; --",
    "1' OR '1'='1",
    "\"; DELETE FROM answer WHERE 1=1; --",
    "<script>alert('xss')</script>",
    "<img src=x onerror=alert(1)>",
    "{{ config.SECRET_KEY }} {% raw %}",
    "=HYPERLINK(\"http://evil.example\",\"bấm vào đây\")",
]
#: Values put in every path argument, query field and form field of every route.
HOSTILE = ["\x00", "'; DROP TABLE response;--", "<script>alert(1)</script>",
           "../../../../etc/passwd", "..\\..\\x.csv", "9" * 30, "-1", "%ff", "é" * 300,
           "{{7*7}}", " "]
#: Query fields read by some view (request.args / admin filters / the phone link).
QUERY_FIELDS = ["centre", "counter", "lang", "next", "page", "province", "q", "sig", "token",
                "unit", "run", "c", "ch", "exp", "status", "role", "kind", "action", "active",
                "sort", "from", "to", "level"]


def _json(client: FlaskClient, url: str, body: bytes, headers: dict[str, str]):  # noqa: ANN202
    return client.post(url, data=body, headers=headers, content_type="application/json")


def _assert_clean_error(resp, status: int) -> None:  # noqa: ANN001
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    text = resp.get_data(as_text=True)
    assert "Traceback" not in text
    assert "sqlalchemy" not in text.lower()


def _api_urls(kiosk: KioskInfo) -> list[str]:
    return ["/api/v1/responses", f"/api/v1/kiosks/{kiosk.id}/heartbeat"]


# --------------------------------------------------------------------- malformed UTF-8
@pytest.mark.parametrize("body", [
    b'{"comment": "\xff\xfe"}', b"\xc3\x28", b'{"id": "\xed\xa0\x80"}', b"\xef\xbb\xbf{",
    b"\x00\x00\x00{", b'{"answers": {"C1.1": 5}, "comment": "caf\xe9"}'])
def test_malformed_utf8_json_is_400(app: Flask, client: FlaskClient, kiosk: KioskInfo,
                                    body: bytes) -> None:
    for url in _api_urls(kiosk):
        r = _json(client, url, body, kiosk.auth)
        _assert_clean_error(r, 400)
        assert r.get_json()["error"]["code"] == "invalid_json"
    assert count(app, Response) == 0


@pytest.mark.parametrize("body", [
    payload(comment="a\ud800b"), payload(field="\udcff"), payload(counter="\ud800"),
    payload(answers={"C1.1\ud800": 4}), payload(client_time="2026-11-20T09:15:00\udfff"),
    {"app_version": "\ud83d"}])
def test_lone_surrogate_escapes_are_400_not_500(app: Flask, client: FlaskClient,
                                                kiosk: KioskInfo, body: dict) -> None:
    """Valid JSON, but "\\ud800" is half a character: no database can store it (this was a
    500 on both backends before surveyapp/api/body.py refused it)."""
    raw = json.dumps(body).encode()  # ASCII with \\uXXXX escapes: well-formed JSON
    for url in _api_urls(kiosk):
        r = _json(client, url, raw, kiosk.auth)
        _assert_clean_error(r, 400)
        assert r.get_json()["error"]["code"] == "invalid_json"
    ok = json.dumps(payload(comment="\ud83d\ude00 \u0111\u00fang")).encode()  # a real pair
    assert _json(client, "/api/v1/responses", ok, kiosk.auth).status_code == 201
    assert count(app, Response) == 1


def test_malformed_utf8_form_posts(app: Flask, client: FlaskClient, kiosk_client: FlaskClient,
                                   kiosk: KioskInfo, phone_link: PhoneLink,
                                   staff: StaffInfo) -> None:
    """A form body with raw invalid bytes cannot be read at all (Werkzeug drops the whole
    form): the "page expired" page, nothing stored. Percent-encoded invalid bytes are read,
    kept as visible %XX text: a wrong password, a stored comment that is valid UTF-8."""
    form = "application/x-www-form-urlencoded"
    page = client.get("/login").get_data(as_text=True)
    token = csrf_of(page).encode()
    r = client.post("/login", data=b"csrf_token=" + token + b"&username=\xff\xfeadmin"
                    b"&password=\xc3\x28", content_type=form)
    _assert_clean_error(r, 400)
    assert "Trang đã hết hạn" in r.get_data(as_text=True)
    r = client.post("/login", data=b"csrf_token=" + token + b"&username=%ff%fe"
                    + staff.admin.encode() + b"&password=%c3%28", content_type=form)
    assert r.status_code == 200
    assert "Tên đăng nhập hoặc mật khẩu không đúng" in r.get_data(as_text=True)
    r = client.post(f"/k/{kiosk.id}/setup", data=b"token=\xff\xfe%ff%fe", content_type=form)
    _assert_clean_error(r, 400)
    for survey, start, post in [
            (kiosk_client, f"/k/{kiosk.id}", f"/k/{kiosk.id}/survey"),
            (client, phone_link.path, f"/s/P01/survey?{phone_link.query}")]:
        stored = count(app, Response)
        html = walk_to_comment(survey, start, post)[-1]
        head = f"csrf_token={csrf_of(html)}&state={quote(state_of(html))}&nav=submit&comment="
        r = survey.post(post, data=head.encode() + b"t\xff\xfet", content_type=form)
        _assert_clean_error(r, 400)
        assert count(app, Response) == stored
        r = survey.post(post, data=head.encode() + b"ng%C6%B0%E1%BB%9Di+t%FF%FEt",
                        content_type=form)
        assert r.status_code in (200, 303), r.get_data(as_text=True)[:300]
    with app.app_context():
        from surveyapp.extensions import db

        comments = db.session.scalars(select(Response.comment)).all()
    assert comments == ["người t%FF%FEt"] * 2
    for comment in comments:
        comment.encode("utf-8")  # no lone surrogates: valid text on both backends


def test_malformed_utf8_in_urls(client: FlaskClient, kiosk: KioskInfo,
                                phone_link: PhoneLink) -> None:
    for url in [f"/k/{kiosk.id}%ff", "/s/P01%c3%28", f"/s/P01?{phone_link.query}%ff%fe",
                "/s/P01?c=%ff&ch=%fe&exp=%c3%28&sig=%ed%a0%80", "/reports/?unit=%ff",
                "/login?next=%ff%fe", "/api/v1/results/runs/%ff"]:
        r = client.get(url)
        assert r.status_code < 500, url
        assert "Traceback" not in r.get_data(as_text=True)


# ------------------------------------------------------------------------ huge bodies
def test_huge_json_bodies_are_413_and_store_nothing(app: Flask, client: FlaskClient,
                                                    kiosk: KioskInfo) -> None:
    body = json.dumps(payload(comment="x" * (LIMIT + 1))).encode()
    for url in _api_urls(kiosk):
        r = _json(client, url, body, kiosk.auth)
        _assert_clean_error(r, 413)
        assert r.get_json()["error"]["code"] == "too_large"
    r = _json(client, "/api/v1/responses", b"[" * (10 * LIMIT), kiosk.auth)
    _assert_clean_error(r, 413)
    assert count(app, Response) == 0


def test_huge_form_posts_are_413_pages_and_store_nothing(
        app: Flask, client: FlaskClient, kiosk_client: FlaskClient, kiosk: KioskInfo,
        phone_link: PhoneLink) -> None:
    for survey, start, post in [
            (kiosk_client, f"/k/{kiosk.id}", f"/k/{kiosk.id}/survey"),
            (client, phone_link.path, f"/s/P01/survey?{phone_link.query}")]:
        html = walk_to_comment(survey, start, post)[-1]
        r = survey.post(post, data={"csrf_token": csrf_of(html), "state": state_of(html),
                                    "nav": "submit", "comment": "x" * (LIMIT + 1)})
        _assert_clean_error(r, 413)
        assert "Dữ liệu quá lớn" in r.get_data(as_text=True)
    r = client.post("/login", data={"username": "a" * (LIMIT + 1), "password": "x"})
    _assert_clean_error(r, 413)
    assert count(app, Response) == 0


# ---------------------------------------------------------------- deeply nested JSON
@pytest.mark.parametrize("opening", [b"[", b'{"a":'])
def test_deeply_nested_json_is_400_not_recursion_500(app: Flask, client: FlaskClient,
                                                     kiosk: KioskInfo, opening: bytes) -> None:
    depth = (LIMIT - 100) // len(opening)  # as deep as fits under the body limit
    body = opening * depth
    assert len(body) < LIMIT
    for url in _api_urls(kiosk):
        r = _json(client, url, body, kiosk.auth)
        _assert_clean_error(r, 400)
        assert r.get_json()["error"]["code"] == "invalid_json"
    r = _json(client, "/api/v1/responses", b"[" * 100_000 + b"]" * 100_000, kiosk.auth)
    _assert_clean_error(r, 413)  # 100,000 levels do not fit in 64 KB: refused unread
    nested = json.dumps(payload(answers={"C1.1": [[[[[[[[[[5]]]]]]]]]]})).encode()
    _assert_clean_error(_json(client, "/api/v1/responses", nested, kiosk.auth), 400)
    assert count(app, Response) == 0


# ---------------------------------------------------------------- injection in comments
def test_injection_in_comments_is_stored_verbatim_and_shown_escaped(
        app: Flask, client: FlaskClient, kiosk: KioskInfo, phone_link: PhoneLink,
        runner, tmp_path: Path) -> None:  # noqa: ANN001
    for text in INJECTIONS:  # through the JSON API ...
        r = _json(client, "/api/v1/responses", json.dumps(payload(comment=text)).encode(),
                  kiosk.auth)
        assert r.status_code == 201, r.get_data(as_text=True)
    for text in INJECTIONS[:4]:  # ... and through the phone survey's form
        final, _seen = walk_survey(app.test_client(), phone_link.path,
                                   f"/s/P01/survey?{phone_link.query}", comment=text)
        assert final.status_code in (200, 303)
    with app.app_context():
        from surveyapp.extensions import db

        stored = sorted(db.session.scalars(select(Response.comment)).all())
    assert stored == sorted(INJECTIONS + INJECTIONS[:4])  # verbatim, tables intact
    assert count(app, Response) == len(INJECTIONS) + 4

    out = tmp_path / "export.csv"
    result = runner.invoke(args=["export-responses", "--format", "csv", "-o", str(out),
                                 "--comments"])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8-sig", newline="") as fh:
        exported = sorted(row["comment"] for row in csv.DictReader(fh))
    expected = sorted(("'" + t if t.startswith("=") else t) for t in INJECTIONS + INJECTIONS[:4])
    assert exported == expected  # verbatim, except that a formula is neutralised


def test_comment_is_rendered_escaped_when_shown_again(kiosk_client: FlaskClient,
                                                     kiosk: KioskInfo) -> None:
    """The only page that shows a comment is the citizen's own comment box (after Back)."""
    post = f"/k/{kiosk.id}/survey"
    html = walk_to_comment(kiosk_client, f"/k/{kiosk.id}", post)[-1]
    script = "</textarea><script>alert('xss')</script>"
    back = kiosk_client.post(post, data={"csrf_token": csrf_of(html), "state": state_of(html),
                                         "nav": "back", "comment": script})
    html = back.get_data(as_text=True)
    data = {"csrf_token": csrf_of(html), "state": state_of(html), "nav": "next"}
    data.update({name: "4" for name in radio_names(html)})
    html = kiosk_client.post(post, data=data).get_data(as_text=True)
    assert "&lt;/textarea&gt;&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in html
    assert "<script>alert" not in html


# ------------------------------------------------------------------- path traversal
@pytest.mark.parametrize("name", ["../../etc/passwd", "..\\..\\x.csv", "/etc/passwd",
                                  "....//....//x.csv", "x.csv\x00.xlsx", "ổ/../../y.xlsx"])
def test_frame_upload_with_traversal_filename_writes_no_file(
        app: Flask, client: FlaskClient, staff: StaffInfo, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    from surveyapp.extensions import db
    from surveyapp.models import FrameCount
    from surveyapp.services import frames

    with app.app_context():
        frames.create_period("2026-Q1", "Quý 1/2026", "Q1 2026", __import__("datetime").date(
            2026, 1, 1), __import__("datetime").date(2026, 4, 1))
        db.session.commit()
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)  # a relative write would land in or above this directory
    before = _tree(tmp_path) | _tree(Path(app.instance_path))
    sign_in(client, staff.statistician)
    page = client.get("/analysis/periods/2026-Q1").get_data(as_text=True)
    content = b"centre_code,field_code,dossiers\nX00004,ho-tich,120\n"
    r = client.post("/analysis/periods/2026-Q1/frame",
                    data={"csrf_token": csrf_of(page), "file": (io.BytesIO(content), name)},
                    content_type="multipart/form-data")
    assert r.status_code in (303, 422), r.get_data(as_text=True)[:300]
    assert "Traceback" not in r.get_data(as_text=True)
    assert _tree(tmp_path) | _tree(Path(app.instance_path)) == before
    assert not Path("/etc/x.csv").exists()
    if r.status_code == 303:  # read from memory, never saved under its name
        assert count(app, FrameCount) == 1


def _tree(root: Path) -> set[str]:
    return {os.path.join(d, f) for d, _dirs, files in os.walk(root) for f in files}


TRAVERSALS = [
    "/reports/run/{run}/..%2F..%2Fetc%2Fpasswd/download.csv",
    "/reports/run/{run}/01/download.csv%2F..%2F..%2Fetc%2Fpasswd",
    "/reports/run/{run}/..%5C..%5Cwin.ini/download.pdf",
    "/reports/run/{run}/01/chart/..%2F..%2Fsecret.png",
    "/admin/centres/{centre}/poster.pdf?counter=..%2F..%2Fetc%2Fpasswd",
    "/static/..%2F..%2Fconfig.py", "/static/../../surveyapp/config.py",
    "/static/%2e%2e/%2e%2e/surveyapp/config.py", "/admin/static/..%2F..%2F__init__.py",
    "/k/..%2F..%2Fetc/offline.json", "/s/..%2F..%2Fetc%2Fpasswd",
]


def test_download_urls_with_traversal_are_404(app: Flask, client: FlaskClient,
                                              staff: StaffInfo, kiosk: KioskInfo) -> None:
    args = route_args(app, kiosk, staff)
    sign_in(client, staff.admin)
    for url in TRAVERSALS:
        r = client.get(url.format(run=args.values["run_id"], centre=args.values["centre_id"]))
        _assert_clean_error(r, 404)
        assert b"root:" not in r.data, url
        assert b"SECRET_KEY" not in r.data, url


# ------------------------------------------------- every route, every hostile value
def test_hostile_path_and_query_values_on_every_get_route(
        app: Flask, client: FlaskClient, staff: StaffInfo, kiosk: KioskInfo) -> None:
    args = route_args(app, kiosk, staff)
    assert sign_in(client, staff.admin).status_code == 302
    tried = 0
    for rule in rules(app, "GET"):
        for value in HOSTILE:
            query = "&".join(f"{f}={quote(value, safe='')}" for f in QUERY_FIELDS)
            bad_path = {n: (value if n not in ("run_id", "centre_id", "counter_id", "user_id",
                                               "version_id", "province_id", "unit_id",
                                               "event_id") else 2**31)
                        for n in rule.arguments}
            urls = [args.url(app, rule) + "?" + query]
            if bad_path:
                urls.append(args.url(app, rule, **bad_path))
            for url in urls:
                r = client.get(url)
                tried += 1
                assert r.status_code < 500, (url, r.status_code)
                assert b"Traceback" not in r.data
                r.close()
    assert tried > 300


def test_hostile_form_values_on_every_post_route(
        app: Flask, staff: StaffInfo, kiosk: KioskInfo) -> None:
    """Signed in as an administrator (who passes every role check), post each form with a
    valid CSRF token and every field set to each hostile value."""
    import re

    args = route_args(app, kiosk, staff)
    tried = 0
    for rule in rules(app, "POST"):
        if rule.endpoint in SKIP_POST or rule.rule.startswith("/api/"):
            continue  # the JSON API: schemathesis and the tests above
        url = args.url(app, rule)
        client = app.test_client()  # a fresh sign-in per route: a post may end the session
        assert sign_in(client, staff.admin).status_code == 302
        page = client.get(url if "GET" in rule.methods else "/admin/centres/new")
        html = page.get_data(as_text=True)
        fields = set(re.findall(r'name="([a-z_]+)"', html)) - {"csrf_token"}
        for value in HOSTILE:
            html = client.get("/admin/centres/new").get_data(as_text=True)
            assert 'name="csrf_token"' in html, (url, value, html[:500])
            data = {name: value for name in fields | {"state", "nav", "comment", "token"}}
            data["csrf_token"] = csrf_of(html)
            r = client.post(url, data=data)
            tried += 1
            assert r.status_code < 500, (url, value, r.status_code)
            assert b"Traceback" not in r.data
    assert tried > 100
