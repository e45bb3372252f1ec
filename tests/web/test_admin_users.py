"""User pages: create, change role/province, deactivate/reactivate (sessions end), reset a
password, unlock; an admin can neither deactivate nor demote themselves. Each change one audit
event without password hashes; refused input is a Vietnamese message and nothing written."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from surveyapp.extensions import db
from surveyapp.models import User
from surveyapp.services.accounts import LOCK_AFTER
from tests.conftest import StaffInfo
from tests.web.helpers import STAFF_PASSWORD, sign_in
from tests.web.test_admin_support import changes, events, post, signed_in

NEW_PASSWORD = "một mật khẩu mới dài"  # noqa: S105 - test value


def _user(app: Flask, username: str) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        assert user is not None
        _ = user.unit
        db.session.expunge_all()
        return user


NEW = {"username": "Danang.Stats", "display_name": "Sở Nội vụ Đà Nẵng", "role": "province",
       "province": "48", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}


def test_create_province_user_who_can_then_sign_in(app: Flask, staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    page = client.get("/admin/users/new").get_data(as_text=True)
    assert "48 – Đà Nẵng" in page
    resp = post(client, "/admin/users/new", NEW)
    assert resp.status_code == 303
    user = _user(app, "danang.stats")  # user names are stored lower-case
    assert user.role == "province"
    assert user.unit is not None
    assert user.unit.code == "48"
    assert user.password_hash.startswith("$argon2id$")
    [event] = events(app, "user.create")
    assert event.after == {"username": "danang.stats", "display_name": "Sở Nội vụ Đà Nẵng",
                           "role": "province", "active": True, "province": "48"}
    assert NEW_PASSWORD not in str(event.after)
    assert user.password_hash not in str(event.after)
    other = app.test_client()
    assert sign_in(other, "danang.stats", NEW_PASSWORD).headers["Location"] == "/reports/"


@pytest.mark.parametrize(("change", "message"), [
    ({"password": "ngắn quá", "confirm": "ngắn quá"}, "Mật khẩu phải có ít nhất 10 ký tự"),
    ({"confirm": NEW_PASSWORD + "!"}, "Hai mật khẩu không giống nhau"),
    ({"username": "admin"}, "Tên đăng nhập admin đã có người dùng"),
    ({"username": "HANOI"}, "Tên đăng nhập hanoi đã có người dùng"),
    ({"username": "người dùng"}, "Tên đăng nhập chỉ gồm chữ thường không dấu"),
    ({"username": ""}, "Vui lòng điền thông tin này"),
    ({"province": ""}, "Tài khoản cấp tỉnh phải gắn với một tỉnh"),
    ({"province": "02"}, "Không có tỉnh, thành phố nào mang mã 02"),  # merged in 2025
    ({"province": "\x00"}, "Tài khoản cấp tỉnh phải gắn với một tỉnh"),
    ({"province": "0\x001"}, "Không có tỉnh, thành phố nào"),
    ({"province": "１"}, "Không có tỉnh, thành phố nào"),
    ({"role": "superuser"}, "Lựa chọn không hợp lệ"),
])
def test_bad_new_user_is_refused(app: Flask, staff: StaffInfo, change: dict[str, str],
                                 message: str) -> None:
    client = signed_in(app, staff.admin)
    with app.app_context():
        n = db.session.scalar(select(func.count()).select_from(User))
    before = changes(app)
    resp = post(client, "/admin/users/new", NEW | change)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert message in html
    assert NEW_PASSWORD not in html  # passwords are never echoed back
    assert changes(app) == before
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == n


def test_national_roles_ignore_the_province_field(app: Flask, staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    assert post(client, "/admin/users/new", NEW | {
        "username": "tk2", "role": "statistician", "province": "48"}).status_code == 303
    assert _user(app, "tk2").unit_id is None


def test_deactivate_ends_sessions_and_reactivate(app: Flask, staff: StaffInfo) -> None:
    admin = signed_in(app, staff.admin)
    hanoi = signed_in(app, staff.province)
    assert hanoi.get("/reports/").status_code == 200
    uid = _user(app, staff.province).id
    resp = post(admin, f"/admin/users/{uid}/active", {"active": "0"})
    assert resp.status_code == 303
    assert "các phiên đăng nhập của tài khoản đã kết thúc" in admin.get(
        resp.headers["Location"]).get_data(as_text=True)
    assert hanoi.get("/reports/").status_code == 302  # signed out at once
    assert sign_in(app.test_client(), staff.province).status_code == 200  # and cannot sign in
    [event] = events(app, "user.deactivate")
    assert event.object_id == str(uid)
    assert (event.before["active"], event.after["active"]) == (True, False)
    assert post(admin, f"/admin/users/{uid}/active", {"active": "1"}).status_code == 303
    assert len(events(app, "user.reactivate")) == 1
    assert sign_in(app.test_client(), staff.province).status_code == 302


def test_admin_cannot_deactivate_or_demote_themselves(app: Flask, staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    me = _user(app, staff.admin)
    page = client.get(f"/admin/users/{me.id}").get_data(as_text=True)
    assert "Khóa tài khoản" not in page  # no button for it
    assert "tài khoản của chính bạn" in page
    before = changes(app)
    resp = post(client, f"/admin/users/{me.id}/active", {"active": "0"})
    assert "Bạn không thể tự khóa tài khoản của mình" in client.get(
        resp.headers["Location"]).get_data(as_text=True)
    demote = post(client, f"/admin/users/{me.id}", {"display_name": "Admin", "role":
                                                    "statistician", "province": ""})
    assert demote.status_code == 422
    assert "Bạn không thể tự bỏ vai trò quản trị viên" in demote.get_data(as_text=True)
    assert changes(app) == before
    after = _user(app, staff.admin)
    assert after.active
    assert after.role == "admin"
    assert client.get("/admin/").status_code == 200  # still signed in


def test_change_role_and_province(app: Flask, staff: StaffInfo) -> None:
    admin = signed_in(app, staff.admin)
    hanoi = signed_in(app, staff.province)
    uid = _user(app, staff.province).id
    form = {"display_name": "Sở Nội vụ TP. Hồ Chí Minh", "role": "province", "province": "79"}
    assert post(admin, f"/admin/users/{uid}", form).status_code == 303
    [event] = events(app, "user.update")
    assert event.before["province"] == "01"
    assert event.after["province"] == "79"
    assert event.after["display_name"] == "Sở Nội vụ TP. Hồ Chí Minh"
    assert hanoi.get("/reports/").status_code == 302  # new rights: sign in again
    assert _user(app, staff.province).unit.code == "79"  # type: ignore[union-attr]
    # to statistician: the province is dropped
    post(admin, f"/admin/users/{uid}", form | {"role": "statistician"})
    user = _user(app, staff.province)
    assert (user.role, user.unit_id) == ("statistician", None)
    # a display-name-only change keeps sessions
    other = signed_in(app, staff.statistician)
    sid = _user(app, staff.statistician).id
    post(admin, f"/admin/users/{sid}", {"display_name": "Cục Thống kê", "role": "statistician",
                                        "province": ""})
    assert other.get("/analysis/").status_code == 200
    bad = post(admin, f"/admin/users/{uid}", form | {"role": "province", "province": ""})
    assert bad.status_code == 422
    assert "Tài khoản cấp tỉnh phải gắn với một tỉnh" in bad.get_data(as_text=True)


def test_reset_password(app: Flask, staff: StaffInfo) -> None:
    admin = signed_in(app, staff.admin)
    hanoi = signed_in(app, staff.province)
    uid = _user(app, staff.province).id
    assert admin.get(f"/admin/users/{uid}/password").status_code == 200
    short = post(admin, f"/admin/users/{uid}/password", {"password": "ngắn", "confirm": "ngắn"})
    assert short.status_code == 422
    assert "Mật khẩu phải có ít nhất 10 ký tự" in short.get_data(as_text=True)
    old_hash = _user(app, staff.province).password_hash
    resp = post(admin, f"/admin/users/{uid}/password",
                {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert resp.status_code == 303
    assert hanoi.get("/reports/").status_code == 302
    assert sign_in(app.test_client(), staff.province).status_code == 200  # old one refused
    assert sign_in(app.test_client(), staff.province, NEW_PASSWORD).status_code == 302
    [event] = events(app, "user.password_reset")
    text = str(event.before) + str(event.after)
    assert old_hash not in text
    assert "argon2" not in text
    assert NEW_PASSWORD not in text


def test_admin_resetting_own_password_stays_signed_in(app: Flask, staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    me = _user(app, staff.admin).id
    post(client, f"/admin/users/{me}/password", {"password": NEW_PASSWORD,
                                                 "confirm": NEW_PASSWORD})
    assert client.get("/admin/").status_code == 200


def test_unlock_a_locked_account(app: Flask, staff: StaffInfo) -> None:
    for _ in range(LOCK_AFTER):
        sign_in(app.test_client(), staff.province, "sai mật khẩu rồi")
    admin = signed_in(app, staff.admin)
    uid = _user(app, staff.province).id
    listing = admin.get("/admin/users").get_data(as_text=True)
    assert "tạm khóa" in listing
    assert post(admin, f"/admin/users/{uid}/unlock").status_code == 303
    [event] = events(app, "user.unlock")
    assert event.before["failed_logins"] == LOCK_AFTER
    assert event.after == {"locked_until": None, "failed_logins": 0}
    assert sign_in(app.test_client(), staff.province, STAFF_PASSWORD).status_code == 302
    before = changes(app)
    post(admin, f"/admin/users/{uid}/unlock")  # not locked any more: nothing recorded
    assert changes(app) == before


def test_user_list_filters(app: Flask, staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    provinces = client.get("/admin/users?role=province").get_data(as_text=True)
    assert "hanoi" in provinces
    assert "thongke" not in provinces
    assert client.get("/admin/users?role=x&status=y&page=z").status_code == 200
    assert client.get("/admin/users/999999").status_code == 404
