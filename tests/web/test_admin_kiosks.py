"""Kiosk pages: registration shows the token exactly once, revocation asks first, the fleet
list shows health (silent after 10 minutes), and each change writes one audit event."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask
from sqlalchemy import func, select

from surveyapp.extensions import db
from surveyapp.models import AuditEvent, Kiosk
from surveyapp.services import kiosks
from surveyapp.services.accounts import utcnow
from tests.conftest import KioskInfo, StaffInfo
from tests.web.test_admin_support import changes, events, post, signed_in


def _register(client, **form: str):  # noqa: ANN001, ANN202 - test helper
    return post(client, "/admin/kiosks/new", {"centre": "X00004", "counter": "",
                                              "label": "Sảnh chờ"} | form)


def test_registration_shows_token_once_and_only_its_hash_is_stored(app: Flask,
                                                                   staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    assert 'value="X00004"' in client.get("/admin/kiosks/new?centre=X00004").get_data(
        as_text=True)
    resp = _register(client, counter="1")
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    html = resp.get_data(as_text=True)
    kiosk_id = re.search(r"<code>(k-[a-z2-7]{8})</code>", html).group(1)  # type: ignore[union-attr]
    token = re.search(r'<p class="secret" id="token">([^<]+)</p>', html).group(1)  # type: ignore[union-attr]
    assert f"http://sipas.test/k/{kiosk_id}/setup?token={token}" in html
    assert "Đây là lần duy nhất mã bí mật được hiển thị" in html
    with app.app_context():
        stored = db.session.get(Kiosk, kiosk_id)
        assert stored is not None
        assert stored.counter is not None
        assert stored.counter.code == "1"
        assert token not in stored.token_hash
        assert kiosks.check_token(kiosk_id, token) is not None
    # never shown again: not on the list, the detail page, the audit trail or its export
    for url in ("/admin/kiosks", f"/admin/kiosks/{kiosk_id}", "/admin/audit",
                "/admin/audit.csv", f"/admin/centres/{stored.centre_id}"):
        page = client.get(url)
        assert token not in page.get_data(as_text=True), url
        page.close()
    [event] = events(app, "kiosk.register")
    assert event.object_id == kiosk_id
    assert event.after is not None
    assert event.after["centre"] == "X00004"
    assert event.after["counter"] == "1"
    assert token not in str(event.after)
    # the printed address really sets the kiosk up
    device = app.test_client()
    assert device.get(f"/k/{kiosk_id}/setup?token={token}").status_code == 200


@pytest.mark.parametrize(("form", "message"), [
    ({"centre": "X99999"}, "Không có trung tâm nào mang mã X99999"),
    ({"centre": ""}, "Vui lòng điền thông tin này"),
    ({"centre": "X00\x0004"}, "Không có trung tâm nào mang mã X00 04"),
    ({"counter": "1\x00"}, None),  # a trailing NUL is dropped: counter 1 exists
    ({"counter": "1 2"}, "không có quầy đang hoạt động với mã 1 2"),
    ({"counter": "9"}, "không có quầy đang hoạt động với mã 9"),
    ({"label": "x" * 201}, "tối đa 200 ký tự"),
])
def test_bad_registration_is_refused(app: Flask, staff: StaffInfo, form: dict[str, str],
                                     message: str | None) -> None:
    client = signed_in(app, staff.admin)
    with app.app_context():
        n = db.session.scalar(select(func.count()).select_from(Kiosk))
    resp = _register(client, **form)
    if message is None:
        assert resp.status_code == 200
        return
    assert resp.status_code == 422
    assert message in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Kiosk)) == n
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "kiosk.register")) == 0


def test_no_kiosk_for_a_deactivated_centre(app: Flask, staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    from tests.web.test_admin_support import centre_id

    post(client, f"/admin/centres/{centre_id(app, 'X00070')}/active", {"active": "0"})
    resp = _register(client, centre="X00070")
    assert resp.status_code == 422
    assert "đang ngừng hoạt động" in resp.get_data(as_text=True)


def test_revoke_asks_for_confirmation_then_revokes(app: Flask, staff: StaffInfo,
                                                   kiosk: KioskInfo,
                                                   kiosk_client) -> None:  # noqa: ANN001
    client = signed_in(app, staff.admin)
    detail = client.get(f"/admin/kiosks/{kiosk.id}").get_data(as_text=True)
    assert f"/admin/kiosks/{kiosk.id}/revoke" in detail
    confirm = client.get(f"/admin/kiosks/{kiosk.id}/revoke")
    assert confirm.status_code == 200
    assert "Đồng ý thu hồi kiosk này" in confirm.get_data(as_text=True)
    with app.app_context():
        assert kiosks.get_active(kiosk.id) is not None  # GET changed nothing
    resp = post(client, f"/admin/kiosks/{kiosk.id}/revoke")
    assert resp.status_code == 303
    with app.app_context():
        assert kiosks.get_active(kiosk.id) is None
    assert kiosk_client.get(f"/k/{kiosk.id}").status_code != 200  # the device is cut off
    [event] = events(app, "kiosk.revoke")
    assert event.before["revoked_at"] is None
    assert event.after["revoked_at"] is not None
    before = changes(app)
    post(client, f"/admin/kiosks/{kiosk.id}/revoke")  # twice: nothing more recorded
    assert changes(app) == before
    assert "đã bị thu hồi" in client.get(f"/admin/kiosks/{kiosk.id}/revoke").get_data(
        as_text=True)


def _heartbeat(app: Flask, kiosk_id: str, minutes_ago: float | None,
               version: str = "1.4.2") -> None:
    with app.app_context():
        k = db.session.get(Kiosk, kiosk_id)
        assert k is not None
        k.last_heartbeat_at = None if minutes_ago is None else (
            utcnow() - dt.timedelta(minutes=minutes_ago))
        k.app_version = version
        db.session.commit()


def test_fleet_list_shows_health_and_filters(app: Flask, staff: StaffInfo,
                                             kiosk: KioskInfo) -> None:
    app.config["KIOSK_OPENING_HOURS"] = "mon-sun 00:00-24:00"  # silent is judged when open
    client = signed_in(app, staff.admin)
    with app.app_context():
        other = kiosks.register(kiosks.find_centre("X20194"), None, "Đà Nẵng")
        never = kiosks.register(kiosks.find_centre("P01"), None, "Mới lắp")
    _heartbeat(app, kiosk.id, 11)
    _heartbeat(app, other.id, 2, "1.5.0")
    page = client.get("/admin/kiosks").get_data(as_text=True)
    assert page.count("mất liên lạc</span>") == 1
    assert "đang liên lạc" in page
    assert "chưa có tín hiệu" in page
    assert "1.5.0" in page
    silent = client.get("/admin/kiosks?status=silent").get_data(as_text=True)
    assert kiosk.id in silent
    assert other.id not in silent
    assert never.id not in silent
    hanoi = client.get("/admin/kiosks?province=01").get_data(as_text=True)
    assert kiosk.id in hanoi
    assert never.id in hanoi
    assert other.id not in hanoi
    by_centre = client.get("/admin/kiosks?centre=X20194").get_data(as_text=True)
    assert other.id in by_centre
    assert kiosk.id not in by_centre
    unknown = client.get("/admin/kiosks?centre=NOPE").get_data(as_text=True)
    assert "Không có trung tâm nào mang mã NOPE" in unknown
    detail = client.get(f"/admin/kiosks/{kiosk.id}").get_data(as_text=True)
    assert "mất liên lạc hơn 10 phút" in detail
    home = client.get("/admin/").get_data(as_text=True)
    assert "1 kiosk mất liên lạc hơn 10 phút" in home
    # revoked kiosks are never "silent"
    done = post(client, f"/admin/kiosks/{kiosk.id}/revoke")
    client.get(done.headers["Location"])  # shows (and consumes) the confirmation message
    assert kiosk.id not in client.get("/admin/kiosks?status=silent").get_data(as_text=True)
    assert kiosk.id in client.get("/admin/kiosks?status=revoked").get_data(as_text=True)


@pytest.mark.parametrize("kiosk_id", ["nope", "k-00000000", "a" * 300, "%00", "k-!!"])
def test_unknown_or_malformed_kiosk_ids_are_404(app: Flask, staff: StaffInfo,
                                                 kiosk_id: str) -> None:
    client = signed_in(app, staff.admin)
    assert client.get(f"/admin/kiosks/{kiosk_id}").status_code == 404
    assert client.get(f"/admin/kiosks/{kiosk_id}/revoke").status_code == 404


def test_opening_hours_are_shown_in_the_pages_language(app: Flask, staff: StaffInfo,
                                                       kiosk: KioskInfo) -> None:
    """The fleet pages show the configured hours with day names, not the config notation."""
    app.config["KIOSK_OPENING_HOURS"] = "mon-fri 07:30-17:00; sat 07:30-11:30"
    client = signed_in(app, staff.admin)
    page = client.get("/admin/kiosks").get_data(as_text=True)
    assert "Thứ Hai–Thứ Sáu 07:30–17:00; Thứ Bảy 07:30–11:30" in page
    assert "mon-fri" not in page
    detail = client.get(f"/admin/kiosks/{kiosk.id}").get_data(as_text=True)
    assert "Thứ Hai–Thứ Sáu 07:30–17:00" in detail


@pytest.mark.parametrize(("spec", "locale", "shown"), [
    ("mon-fri 07:30-17:00; sat 07:30-11:30", "en",
     "Monday–Friday 07:30–17:00; Saturday 07:30–11:30"),
    ("mon-sun 00:00-24:00", "vi", "Thứ Hai–Chủ Nhật 00:00–24:00"),
    ("mon 08:00-12:00; mon 13:00-17:00; wed 08:00-12:00; wed 13:00-17:00", "vi",
     "Thứ Hai 08:00–12:00, 13:00–17:00; Thứ Tư 08:00–12:00, 13:00–17:00"),
    ("sat-mon 08:00-11:00", "en", "Monday 08:00–11:00; Saturday–Sunday 08:00–11:00"),
    ("", "vi", "–"),
])
def test_describe_hours(spec: str, locale: str, shown: str) -> None:
    from surveyapp.services import fleet

    assert fleet.describe_hours(fleet.parse_hours(spec), locale) == shown
