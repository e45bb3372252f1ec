"""Staff sign-in: hashed passwords, lockout with backoff, CSRF, safe redirects, roles, and the
province scoping of runs and results in the query layer."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from surveyapp.extensions import db
from surveyapp.models import AnalysisRun, AuditEvent, Period, RunResult, User
from surveyapp.services.accounts import LOCK_AFTER, authenticate, utcnow
from tests.conftest import StaffInfo
from tests.web.helpers import STAFF_PASSWORD, csrf_of, sign_in


def test_password_is_stored_as_argon2_hash(app: Flask, staff: StaffInfo) -> None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == staff.admin))
        assert user is not None
        assert user.password_hash.startswith("$argon2id$")
        assert STAFF_PASSWORD not in user.password_hash


@pytest.mark.parametrize(("role", "landing"), [("admin", "/admin/"),
                                               ("statistician", "/analysis/"),
                                               ("province", "/reports/")])
def test_each_role_lands_on_its_home(client: FlaskClient, staff: StaffInfo, role: str,
                                     landing: str) -> None:
    resp = sign_in(client, getattr(staff, role))
    assert resp.status_code == 302
    assert resp.headers["Location"] == landing
    assert client.get(landing).status_code == 200


def test_wrong_password_is_refused_in_vietnamese(client: FlaskClient, staff: StaffInfo) -> None:
    resp = sign_in(client, staff.admin, "sai mật khẩu rồi")
    assert resp.status_code == 200
    assert "Tên đăng nhập hoặc mật khẩu không đúng" in resp.get_data(as_text=True)
    unknown = sign_in(client, "nobody", "sai mật khẩu rồi")
    assert "Tên đăng nhập hoặc mật khẩu không đúng" in unknown.get_data(as_text=True)


def test_lockout_after_repeated_failures_then_backoff(app: Flask, client: FlaskClient,
                                                       staff: StaffInfo) -> None:
    for _ in range(LOCK_AFTER):
        sign_in(client, staff.admin, "sai mật khẩu rồi")
    # even the right password is refused while locked
    resp = sign_in(client, staff.admin)
    text = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "tạm khóa" in text
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == staff.admin))
        assert user is not None
        first_lock = user.locked_until - utcnow()
        assert dt.timedelta(seconds=30) < first_lock <= dt.timedelta(minutes=1)
        # after the lock expires one more failure locks for twice as long
        later = user.locked_until + dt.timedelta(seconds=1)
        assert authenticate(staff.admin, "sai nữa rồi đấy", now=later).user is None
        db.session.refresh(user)
        assert user.locked_until - later == dt.timedelta(minutes=2)
        # and a success after the lock resets the counter
        much_later = user.locked_until + dt.timedelta(seconds=1)
        assert authenticate(staff.admin, STAFF_PASSWORD, now=much_later).user is not None
        db.session.refresh(user)
        assert user.failed_logins == 0
        assert user.locked_until is None


def test_login_without_csrf_token_is_rejected(client: FlaskClient, staff: StaffInfo) -> None:
    resp = client.post("/login", data={"username": staff.admin, "password": STAFF_PASSWORD})
    assert resp.status_code == 400
    assert client.get("/admin/").status_code == 302  # still signed out


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:x"])
def test_next_never_leaves_the_site(client: FlaskClient, staff: StaffInfo, target: str) -> None:
    resp = sign_in(client, staff.admin, next_url=target)
    assert resp.headers["Location"] == "/admin/"


def test_next_returns_to_the_page_asked_for(client: FlaskClient, staff: StaffInfo) -> None:
    first = client.get("/analysis/")
    assert first.status_code == 302
    assert "/login?next=" in first.headers["Location"]
    resp = sign_in(client, staff.statistician, next_url="/analysis/")
    assert resp.headers["Location"] == "/analysis/"


def test_logout_needs_post_with_csrf(client: FlaskClient, staff: StaffInfo) -> None:
    sign_in(client, staff.admin)
    assert client.get("/logout").status_code == 405
    page = client.get("/admin/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    assert client.post("/logout", data={"csrf_token": token.group(1)}).status_code == 302
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize(("who", "path", "status"), [
    ("province", "/admin/", 403), ("province", "/analysis/", 403),
    ("statistician", "/admin/", 403), ("statistician", "/analysis/", 200),
    ("statistician", "/reports/", 200), ("admin", "/analysis/", 200), ("admin", "/reports/", 200),
])
def test_roles(client: FlaskClient, staff: StaffInfo, who: str, path: str, status: int) -> None:
    sign_in(client, getattr(staff, who))
    assert client.get(path).status_code == status


def test_session_cookie_flags(client: FlaskClient, staff: StaffInfo) -> None:
    resp = sign_in(client, staff.admin)
    cookie = next(v for k, v in resp.headers.items() if k == "Set-Cookie"
                  and v.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_password_change_ends_existing_sessions(app: Flask, client: FlaskClient,
                                                staff: StaffInfo) -> None:
    sign_in(client, staff.admin)
    assert client.get("/admin/").status_code == 200
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == staff.admin))
        assert user is not None
        user.session_version += 1
        db.session.commit()
    assert client.get("/admin/").status_code == 302


def test_login_is_audited(app: Flask, client: FlaskClient, staff: StaffInfo) -> None:
    sign_in(client, staff.statistician)
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "login")).all()
        assert [e.username for e in events] == [staff.statistician]


def test_staff_language_switch_is_remembered_only_on_staff_pages(client: FlaskClient,
                                                                  staff: StaffInfo) -> None:
    assert "Đăng nhập" in client.get("/login").get_data(as_text=True)
    client.get("/staff-language/en?next=/login")
    assert "Sign in" in client.get("/login").get_data(as_text=True)
    # the citizen-facing home page never inherits a staff member's choice
    assert '<html lang="vi">' in client.get("/").get_data(as_text=True)


def test_create_user_cli(app: Flask, staff: StaffInfo) -> None:
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["create-user", "danang", "--role", "province", "--province", "48",
                             "--password", "một mật khẩu dài"])
    assert ok.exit_code == 0, ok.output
    for args, message in [
        (["create-user", "x1", "--role", "province", "--password", "một mật khẩu dài"],
         "needs --province"),
        (["create-user", "x2", "--role", "province", "--province", "99", "--password",
          "một mật khẩu dài"], "No current province"),
        (["create-user", "x3", "--role", "admin", "--password", "ngắn"], "at least 10"),
        (["create-user", "danang", "--role", "admin", "--password", "một mật khẩu dài"],
         "already exists"),
        (["create-user", "bad name!", "--role", "admin", "--password", "một mật khẩu dài"],
         "letters, digits"),
    ]:
        result = runner.invoke(args=args)
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "danang"))
        assert user is not None
        assert user.unit is not None
        assert user.unit.code == "48"


def _run_with_results(app: Flask, published: bool) -> int:
    with app.app_context():
        period = Period(code=f"T{published:d}", label_vi="Thử", label_en="Test",
                        start_date=dt.date(2026, 1, 1), end_date=dt.date(2026, 4, 1))
        run = AnalysisRun(period=period, status="done", created_at=utcnow(), design={},
                          published=published)
        db.session.add(run)
        db.session.flush()
        for level, code, province in [("country", "VN", None), ("province", "01", "01"),
                                      ("province", "79", "79"), ("commune", "00004", "01"),
                                      ("commune", "26734", "79")]:
            db.session.add(RunResult(run_id=run.id, level=level, unit_code=code,
                                     province_code=province, statistic="sipas",
                                     variable="SIPAS", estimate=0.8, n=10))
        db.session.commit()
        return run.id


def test_query_layer_scopes_runs_and_results(app: Flask, staff: StaffInfo) -> None:
    from surveyapp import access

    draft = _run_with_results(app, published=False)
    public = _run_with_results(app, published=True)
    with app.app_context():
        hanoi = db.session.scalar(select(User).where(User.username == staff.province))
        stat = db.session.scalar(select(User).where(User.username == staff.statistician))
        visible = {r.id for r in db.session.scalars(access.runs_visible(hanoi))}
        assert visible == {public}
        assert {r.id for r in db.session.scalars(access.runs_visible(stat))} == {draft, public}
        run = db.session.get(AnalysisRun, public)
        rows = db.session.scalars(access.results_visible(run, hanoi)).all()
        assert sorted(r.unit_code for r in rows) == ["00004", "01", "VN"]
        assert len(db.session.scalars(access.results_visible(run, stat)).all()) == 5
        from werkzeug.exceptions import NotFound

        with pytest.raises(NotFound):
            access.require_province("79", hanoi)
        with pytest.raises(NotFound):
            access.get_run_or_404(draft, hanoi)
        assert access.require_province("79", stat) == "79"


def test_login_page_has_csrf_and_labels(client: FlaskClient) -> None:
    html = client.get("/login").get_data(as_text=True)
    assert csrf_of(html)
    assert '<label for="username">' in html
    assert '<label for="password">' in html
