"""Centres and counters pages: filter by province, create/edit/deactivate, counters; each
change one audit event, each refused input a Vietnamese message and nothing written."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from surveyapp.extensions import db
from surveyapp.models import Counter, ServiceCentre
from surveyapp.services import kiosks
from tests.conftest import KioskInfo, StaffInfo
from tests.web.test_admin_support import centre_id, changes, events, post, signed_in

NEW = {"code": "X00091", "name_vi": "Trung tâm Phục vụ hành chính công phường Ngọc Hà",
       "name_en": "", "kind": "commune-centre", "unit_code": "00004"}


def _centre(app: Flask, code: str) -> ServiceCentre | None:
    with app.app_context():
        found = db.session.scalar(select(ServiceCentre).where(ServiceCentre.code == code))
        if found is not None:
            _ = found.unit, found.counters
        db.session.expunge_all()
        return found


def test_list_filters_by_province_and_search(app: Flask, staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    hanoi = client.get("/admin/centres?province=01").get_data(as_text=True)
    assert "X00004" in hanoi
    assert "P01" in hanoi
    assert "X20194" not in hanoi  # Đà Nẵng
    found = client.get("/admin/centres", query_string={"q": "hai chau"}).get_data(as_text=True)
    assert "X20194" in found
    assert "X00004" not in found
    for junk in ("?province=\x00", "?status=%00", "?page=-1", "?page=99999999999",
                 "?page=%EF%BC%91"):
        assert client.get("/admin/centres" + junk).status_code == 200


def test_create_centre_with_one_audit_event(app: Flask, staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    assert client.get("/admin/centres/new").status_code == 200
    resp = post(client, "/admin/centres/new", NEW)
    assert resp.status_code == 303
    centre = _centre(app, "X00091")
    assert centre is not None
    assert centre.name_en == NEW["name_vi"]  # empty English name: the Vietnamese one
    assert centre.unit.code == "00004"
    assert centre.active
    [event] = events(app, "centre.create")
    assert event.object_id == str(centre.id)
    assert event.after == {"code": "X00091", "name_vi": NEW["name_vi"],
                           "name_en": NEW["name_vi"], "kind": "commune-centre",
                           "active": True, "unit": "commune:00004"}
    assert "X00091" in client.get(resp.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize(("change", "message"), [
    ({"code": "X00004"}, "đã được dùng cho"),
    ({"code": "P01 "}, None),  # trailing space is stripped, then a duplicate
    ({"code": "X 91"}, "Mã chỉ gồm chữ cái không dấu"),
    ({"code": "Xã01"}, "Mã chỉ gồm chữ cái không dấu"),
    ({"code": "x" * 33}, "tối đa 32 ký tự"),
    ({"unit_code": "99999"}, "Không có xã, phường nào mang mã 99999"),
    ({"unit_code": "01"}, "Không có xã, phường nào mang mã 01"),  # a province, not a commune
    ({"kind": "provincial-centre", "unit_code": "00004"}, "Không có tỉnh, thành phố nào"),
    ({"kind": "provincial-centre", "unit_code": "02"}, "Không có tỉnh, thành phố nào"),  # gone
    ({"kind": "district-centre"}, "Lựa chọn không hợp lệ"),
    ({"name_vi": ""}, "Vui lòng điền thông tin này"),
])
def test_bad_centre_input_is_refused(app: Flask, staff: StaffInfo, change: dict[str, str],
                                     message: str | None) -> None:
    client = signed_in(app, staff.admin)
    with app.app_context():
        n = db.session.scalar(select(func.count()).select_from(ServiceCentre))
    before = changes(app)
    resp = post(client, "/admin/centres/new", NEW | change)
    assert resp.status_code == 422
    if message:
        assert message in resp.get_data(as_text=True)
    assert changes(app) == before
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ServiceCentre)) == n


def test_edit_centre_records_before_and_after(app: Flask, staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    cid = centre_id(app, "P01")
    page = client.get(f"/admin/centres/{cid}/edit").get_data(as_text=True)
    assert 'value="01"' in page  # the unit code is filled in
    centre = _centre(app, "P01")
    assert centre is not None
    form = {"code": "P01", "name_vi": centre.name_vi, "name_en": "Ha Noi PASC",
            "kind": "provincial-centre", "unit_code": "01"}
    assert post(client, f"/admin/centres/{cid}/edit", form).status_code == 303
    [event] = events(app, "centre.update")
    assert event.before["name_en"] == centre.name_en
    assert event.after["name_en"] == "Ha Noi PASC"
    assert event.before["unit"] == event.after["unit"] == "province:01"
    before = changes(app)
    assert post(client, f"/admin/centres/{cid}/edit", form).status_code == 303
    assert changes(app) == before


def test_deactivate_centre_stops_its_kiosks_and_reactivate(app: Flask, staff: StaffInfo,
                                                           kiosk: KioskInfo) -> None:
    client = signed_in(app, staff.admin)
    cid = centre_id(app, "X00004")
    page = client.get(f"/admin/centres/{cid}").get_data(as_text=True)
    assert "Ngừng hoạt động trung tâm" in page
    resp = post(client, f"/admin/centres/{cid}/active", {"active": "0"})
    assert resp.status_code == 303
    assert "không nhận phiếu nữa" in client.get(resp.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        assert kiosks.get_active(kiosk.id) is None
    [event] = events(app, "centre.deactivate")
    assert (event.before["active"], event.after["active"]) == (True, False)
    # a second deactivation changes nothing and records nothing
    post(client, f"/admin/centres/{cid}/active", {"active": "0"})
    assert len(events(app, "centre.deactivate")) == 1
    post(client, f"/admin/centres/{cid}/active", {"active": "1"})
    assert len(events(app, "centre.reactivate")) == 1
    with app.app_context():
        assert kiosks.get_active(kiosk.id) is not None


def test_counters_add_edit_deactivate(app: Flask, staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    cid = centre_id(app, "X00004")
    page = client.get(f"/admin/centres/{cid}/counters/new").get_data(as_text=True)
    assert 'value="3"' in page  # next free number suggested
    resp = post(client, f"/admin/centres/{cid}/counters/new",
                {"code": "3", "name_vi": "Quầy 3 – Đất đai", "name_en": "Counter 3 – Land"})
    assert resp.status_code == 303
    [created] = events(app, "counter.create")
    assert created.after == {"code": "3", "name_vi": "Quầy 3 – Đất đai",
                             "name_en": "Counter 3 – Land", "active": True,
                             "centre": "X00004"}
    dup = post(client, f"/admin/centres/{cid}/counters/new", {"code": "1", "name_vi": "Trùng"})
    assert dup.status_code == 422
    assert "Trung tâm này đã có quầy mang mã 1" in dup.get_data(as_text=True)
    counter_id = int(created.object_id)
    edit = post(client, f"/admin/counters/{counter_id}/edit",
                {"code": "3", "name_vi": "Quầy 3 – Đất đai, xây dựng", "name_en": ""})
    assert edit.status_code == 303
    [updated] = events(app, "counter.update")
    assert updated.before["name_vi"] == "Quầy 3 – Đất đai"
    assert updated.after["name_en"] == "Quầy 3 – Đất đai, xây dựng"
    taken = post(client, f"/admin/counters/{counter_id}/edit", {"code": "2", "name_vi": "x"})
    assert taken.status_code == 422
    assert post(client, f"/admin/counters/{counter_id}/active", {"active": "0"}).status_code == 303
    [off] = events(app, "counter.deactivate")
    assert off.after["active"] is False
    with app.app_context():
        counter = db.session.get(Counter, counter_id)
        assert counter is not None
        assert not counter.active
        assert counter.code == "3"


def test_unknown_centre_and_counter_are_404(app: Flask, staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    for url in ("/admin/centres/999999", "/admin/centres/999999/edit",
                "/admin/counters/999999/edit", "/admin/centres/999999/counters/new"):
        assert client.get(url).status_code == 404
    assert post(client, "/admin/centres/999999/active", {"active": "0"}).status_code == 404


def test_qr_poster_of_a_centre_and_a_counter(app: Flask, staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    cid = centre_id(app, "X00004")
    page = client.get(f"/admin/centres/{cid}").get_data(as_text=True)
    assert "http://sipas.test/s/X00004?" in page
    assert f"/admin/centres/{cid}/poster.pdf?counter=1" in page
    for query in ("", "?counter=1"):
        resp = client.get(f"/admin/centres/{cid}/poster.pdf{query}")
        assert resp.status_code == 200
        assert resp.mimetype == "application/pdf"
        assert resp.get_data().startswith(b"%PDF")
    assert client.get(f"/admin/centres/{cid}/poster.pdf?counter=99").status_code == 404
    post(client, f"/admin/centres/{cid}/active", {"active": "0"})
    assert client.get(f"/admin/centres/{cid}/poster.pdf").status_code == 303
