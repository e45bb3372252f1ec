"""Kiosk heartbeats and fleet health: what a kiosk reports is stored, a stuck kiosk can be told
to reload (audited, delivered once), and "silent" only counts during opening hours."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from surveyapp.models import Kiosk
from surveyapp.services import fleet
from tests.conftest import KioskInfo, StaffInfo
from tests.web.test_admin_support import events, post, signed_in

VN = ZoneInfo("Asia/Ho_Chi_Minh")
ALWAYS = "mon-sun 00:00-24:00"


def beat(client: Any, kiosk_id: str, body: Any, headers: dict[str, str] | None = None,
         **kw: Any) -> Any:
    return client.post(f"/api/v1/kiosks/{kiosk_id}/heartbeat", data=json.dumps(body),
                       headers=headers or {}, content_type="application/json", **kw)


def stored(app: Flask, kiosk_id: str) -> Kiosk:
    from surveyapp.extensions import db

    with app.app_context():
        row = db.session.get(Kiosk, kiosk_id)
        assert row is not None
        db.session.expunge(row)
        return row


def test_heartbeat_is_stored(app, client, kiosk):
    r = beat(client, kiosk.id, {"app_version": "2026.11-3", "queue_length": 4, "held": 1,
                                "last_submit_at": "2026-11-20T09:15:00+07:00"}, kiosk.auth)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["reload"] is False
    row = stored(app, kiosk.id)
    assert (row.app_version, row.queue_length, row.queue_held) == ("2026.11-3", 4, 1)
    assert row.last_submit_at == dt.datetime(2026, 11, 20, 2, 15)
    assert row.last_heartbeat_at is not None


def test_heartbeat_with_the_device_cookie(app, kiosk_client, kiosk):
    r = beat(kiosk_client, kiosk.id, {"queue_length": 0})
    assert r.status_code == 200
    assert stored(app, kiosk.id).queue_length == 0


@pytest.mark.parametrize(("body", "status", "code", "field"), [
    pytest.param({"queue_length": -1}, 400, "wrong_type", "queue_length", id="negative"),
    pytest.param({"queue_length": "3"}, 400, "wrong_type", "queue_length", id="string"),
    pytest.param({"queue_length": True}, 400, "wrong_type", "queue_length", id="bool"),
    pytest.param({"held": 10**12}, 400, "wrong_type", "held", id="huge"),
    pytest.param({"app_version": "x" * 41}, 400, "wrong_type", "app_version", id="long"),
    pytest.param({"app_version": "1\x00"}, 400, "wrong_type", "app_version", id="nul"),
    pytest.param({"last_submit_at": "yesterday"}, 400, "invalid", "last_submit_at", id="time"),
    pytest.param({"battery": 3}, 400, "unknown_field", "battery", id="unknown"),
    pytest.param([1, 2], 400, "invalid_body", None, id="array"),
])
def test_bad_heartbeats_are_refused_naming_the_field(app, client, kiosk, body, status, code,
                                                     field):
    r = beat(client, kiosk.id, body, kiosk.auth)
    assert r.status_code == status
    assert r.get_json()["error"]["code"] == code
    assert r.get_json()["error"]["field"] == field
    assert stored(app, kiosk.id).last_heartbeat_at is None


def test_heartbeat_credentials_must_match_the_kiosk(app, client, kiosk, phone_link):
    from surveyapp.services import kiosks

    with app.app_context():
        other = kiosks.register(kiosks.find_centre("X00004"), None, "other")
    assert beat(client, other.id, {}, kiosk.auth).status_code == 403
    assert beat(client, kiosk.id, {}).status_code == 401
    assert beat(client, kiosk.id, {}, {"Authorization": f"Kiosk {kiosk.id}:wrong"}
                ).status_code == 401
    link = beat(client, kiosk.id, {"centre": "P01"}, {"Authorization":
                                                      f"Link {phone_link.query}"})
    assert link.status_code in (400, 403)
    r = client.post(f"/api/v1/kiosks/{kiosk.id}/heartbeat", data="{", headers=kiosk.auth,
                    content_type="application/json")
    assert r.get_json()["error"]["code"] == "invalid_json"
    r = client.post(f"/api/v1/kiosks/{kiosk.id}/heartbeat", data="x", headers=kiosk.auth)
    assert r.status_code == 415


def test_reload_is_audited_delivered_once_and_cleared(app, client, kiosk, staff: StaffInfo):
    admin = signed_in(app, staff.admin)
    page = admin.get(f"/admin/kiosks/{kiosk.id}").get_data(as_text=True)
    assert "Tải lại trang kiosk" in page
    done = post(admin, f"/admin/kiosks/{kiosk.id}/reload")
    assert done.status_code == 303
    [event] = events(app, "kiosk.reload")
    assert event.object_id == kiosk.id
    assert stored(app, kiosk.id).reload_requested_at is not None
    assert "đã yêu cầu tải lại" in admin.get("/admin/kiosks").get_data(as_text=True)
    first = beat(client, kiosk.id, {"queue_length": 2}, kiosk.auth)
    assert first.get_json()["reload"] is True
    assert stored(app, kiosk.id).reload_requested_at is None
    assert beat(client, kiosk.id, {}, kiosk.auth).get_json()["reload"] is False


def test_reload_needs_csrf_and_an_admin(app, kiosk, staff: StaffInfo):
    admin = signed_in(app, staff.admin)
    assert admin.post(f"/admin/kiosks/{kiosk.id}/reload").status_code == 400
    province = signed_in(app, staff.province)
    assert province.post(f"/admin/kiosks/{kiosk.id}/reload").status_code in (400, 403)
    assert stored(app, kiosk.id).reload_requested_at is None
    assert events(app, "kiosk.reload") == []


@pytest.mark.parametrize(("spec", "when", "open_minutes"), [
    ("mon-fri 07:30-17:00; sat 07:30-11:30", dt.datetime(2026, 11, 24, 9, 0), 90),  # Tue
    ("mon-fri 07:30-17:00; sat 07:30-11:30", dt.datetime(2026, 11, 24, 17, 0), None),
    ("mon-fri 07:30-17:00; sat 07:30-11:30", dt.datetime(2026, 11, 28, 11, 0), 210),  # Sat
    ("mon-fri 07:30-17:00; sat 07:30-11:30", dt.datetime(2026, 11, 28, 14, 0), None),
    ("mon-fri 07:30-17:00; sat 07:30-11:30", dt.datetime(2026, 11, 29, 9, 0), None),  # Sun
    ("sat-mon 08:00-09:00", dt.datetime(2026, 11, 29, 8, 30), 30),  # wraps over Sunday
    (ALWAYS, dt.datetime(2026, 11, 29, 23, 59), 1439),
])
def test_opening_hours_in_vietnam_time(spec, when, open_minutes):
    utc = when.replace(tzinfo=VN).astimezone(dt.UTC).replace(tzinfo=None)
    since = fleet.open_since(utc, fleet.parse_hours(spec), VN)
    assert (None if since is None else round(since.total_seconds() / 60)) == open_minutes


@pytest.mark.parametrize("spec", ["mon-fri 7h-17h", "mo 07:30-17:00", "mon 17:00-07:30",
                                  "mon 07:30-25:00"])
def test_unreadable_opening_hours_refuse_to_start(app_factory, spec):
    with pytest.raises(fleet.OpeningHoursError):
        app_factory(KIOSK_OPENING_HOURS=spec)


@pytest.mark.parametrize(("spec", "when", "judged"), [
    (ALWAYS, dt.datetime(2026, 11, 27, 0, 3), True),  # open through midnight: no new grace
    ("mon-sun 07:00-17:00", dt.datetime(2026, 11, 27, 7, 3), False),  # just opened
    ("mon-sun 07:00-17:00", dt.datetime(2026, 11, 27, 7, 12), True),
    ("mon-sun 07:00-17:00", dt.datetime(2026, 11, 27, 18, 0), False),  # closed
])
def test_silence_is_judged_only_once_open_for_ten_minutes(app, spec, when, judged):
    utc = when.replace(tzinfo=VN).astimezone(dt.UTC).replace(tzinfo=None)
    app.config["KIOSK_OPENING_HOURS"] = spec
    with app.app_context():
        cutoff = fleet.silent_before(utc)
    assert (cutoff is not None) == judged
    if judged:
        assert cutoff == utc - dt.timedelta(minutes=fleet.SILENT_MINUTES)


def _heard(app: Flask, kiosk_id: str, minutes_ago: float) -> None:
    from surveyapp.extensions import db
    from surveyapp.services.accounts import utcnow

    with app.app_context():
        row = db.session.get(Kiosk, kiosk_id)
        assert row is not None
        row.last_heartbeat_at = utcnow() - dt.timedelta(minutes=minutes_ago)
        db.session.commit()


def _local_window(start_minutes_ago: int, length: int = 120) -> str:
    """Opening hours (Vietnam) that began ``start_minutes_ago`` minutes ago and last
    ``length`` minutes, split at midnight into one part per day (so the test runs at any
    hour, midnight included, instead of skipping near it)."""
    start = dt.datetime.now(VN) - dt.timedelta(minutes=start_minutes_ago)
    start = start.replace(second=0, microsecond=0)
    end = start + dt.timedelta(minutes=length)
    parts = []
    while start < end:
        midnight = (start + dt.timedelta(days=1)).replace(hour=0, minute=0)
        stop = min(end, midnight)
        until = "24:00" if stop == midnight else f"{stop:%H:%M}"
        parts.append(f"{fleet.DAYS[start.weekday()]} {start:%H:%M}-{until}")
        start = stop
    return "; ".join(parts)


def test_silent_only_during_opening_hours(app, kiosk: KioskInfo, staff: StaffInfo):
    _heard(app, kiosk.id, 30)
    admin = signed_in(app, staff.admin)
    app.config["KIOSK_OPENING_HOURS"] = ALWAYS
    assert kiosk.id in admin.get("/admin/kiosks?status=silent").get_data(as_text=True)
    assert "1 kiosk mất liên lạc" in admin.get("/admin/").get_data(as_text=True)
    today = fleet.DAYS[dt.datetime.now(VN).weekday()]
    other_days = "; ".join(f"{d} 00:00-24:00" for d in fleet.DAYS if d != today)
    app.config["KIOSK_OPENING_HOURS"] = other_days  # closed all of today
    listing = admin.get("/admin/kiosks").get_data(as_text=True)
    assert "ngoài giờ mở cửa" in listing
    assert kiosk.id not in admin.get("/admin/kiosks?status=silent").get_data(as_text=True)
    assert "mất liên lạc hơn" not in admin.get("/admin/").get_data(as_text=True)


def test_no_alarm_in_the_first_minutes_after_opening(app, kiosk: KioskInfo, staff: StaffInfo):
    _heard(app, kiosk.id, 600)  # last heard yesterday evening, say
    admin = signed_in(app, staff.admin)
    app.config["KIOSK_OPENING_HOURS"] = _local_window(5)
    assert kiosk.id not in admin.get("/admin/kiosks?status=silent").get_data(as_text=True)
    app.config["KIOSK_OPENING_HOURS"] = _local_window(15)
    assert kiosk.id in admin.get("/admin/kiosks?status=silent").get_data(as_text=True)


def test_fleet_page_shows_queue_and_held_answers(app, client, kiosk, staff: StaffInfo):
    beat(client, kiosk.id, {"queue_length": 7, "held": 2, "app_version": "v9"}, kiosk.auth)
    admin = signed_in(app, staff.admin)
    listing = admin.get("/admin/kiosks").get_data(as_text=True)
    assert "2 bị giữ lại" in listing
    detail = admin.get(f"/admin/kiosks/{kiosk.id}").get_data(as_text=True)
    assert "7 câu trả lời đang chờ trên kiosk" in detail
