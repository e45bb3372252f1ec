"""Units pages: both geographies with successors, folded search, adding and editing communes
(each change one audit event; every refused input a Vietnamese message and no write)."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from surveyapp.extensions import db
from surveyapp.models import AdminUnit
from surveyapp.services.admin_units import fold
from tests.conftest import StaffInfo
from tests.web.test_admin_support import changes, events, post, province_id, signed_in


def _communes(app: Flask, code: str) -> list[AdminUnit]:
    with app.app_context():
        rows = db.session.scalars(select(AdminUnit).where(AdminUnit.level == "commune",
                                                          AdminUnit.code == code)).all()
        db.session.expunge_all()
        return list(rows)


def test_fold_ignores_tone_mark_placement_and_diacritics() -> None:
    assert fold("Thanh Hoá") == fold("Thanh Hóa") == fold("thanh hoa") == "thanh hoa"
    assert fold("Hòa Bình") == fold("Hoà Bình") == "hoa binh"
    assert fold("Đà Nẵng") == "da nang"
    assert fold("  Bà   Rịa ") == "ba ria"
    decomposed = "Ha\u0300 No\u0302\u0323i"  # NFD input, as some keyboards send it
    assert fold(decomposed) == fold("Hà Nội")


def test_province_list_shows_both_geographies_with_successors(app: Flask,
                                                              staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    current = client.get("/admin/units").get_data(as_text=True)
    assert "Số dòng: 34" in current
    tuyen_quang = current.split("<code>08</code>")[1].split("</tr>")[0]
    assert "<code>02</code> Hà Giang" in tuyen_quang  # formed from Hà Giang and Tuyên Quang
    old = client.get("/admin/units?geo=before-2025").get_data(as_text=True)
    assert "Hà Giang" in old
    assert "2008-08-01 – 2025-07-01" in old
    assert "Tuyên Quang" in old  # as Hà Giang's successor
    both = client.get("/admin/units?geo=all&page=1").get_data(as_text=True)
    assert "Số dòng: 97" in both  # 63 + 34 province versions


@pytest.mark.parametrize(("query", "expected"), [
    ("thanh hoa", "Thanh Hóa"), ("Thanh Hoá", "Thanh Hóa"), ("ba dinh", "Phường Ba Đình"),
    ("00004", "Phường Ba Đình"), ("79", "Hồ Chí Minh"), ("ho chi minh", "Hồ Chí Minh")])
def test_search_by_code_or_folded_name(app: Flask, staff: StaffInfo, query: str,
                                       expected: str) -> None:
    client = signed_in(app, staff.admin)
    resp = client.get("/admin/units", query_string={"q": query, "geo": "all"})
    assert resp.status_code == 200
    assert expected in resp.get_data(as_text=True)


def test_search_honours_the_geography(app: Flask, staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)

    def found(geo: str) -> str:
        return client.get("/admin/units", query_string={"q": "ha giang", "geo": geo}).get_data(
            as_text=True)

    assert "Hà Giang" not in found("current")  # merged into Tuyên Quang
    assert "Hà Giang" in found("before-2025")
    assert "Hà Giang" in found("all")


def test_search_without_match_and_hostile_input_is_a_page(app: Flask, staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    for q in ("zzzz-not-a-place", "\x00", "%", "' OR 1=1 --", "x" * 5000):
        resp = client.get("/admin/units", query_string={"q": q})
        assert resp.status_code == 200
    assert "Không có đơn vị nào phù hợp" in client.get("/admin/units?q=qqqq").get_data(
        as_text=True)


def test_add_commune_keeps_leading_zeros_and_writes_one_audit_event(app: Flask,
                                                                    staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    pid = province_id(app, "01")
    resp = post(client, f"/admin/units/{pid}/communes/new", {
        "code": "00091", "name_vi": "Phường Ngọc Hà", "name_en": "Ngoc Ha Ward",
        "kind": "phuong", "valid_from": "2025-07-01", "valid_to": ""})
    assert resp.status_code == 303
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Phường Ngọc Hà" in page
    [unit] = _communes(app, "00091")
    assert unit.code == "00091"
    assert unit.valid_to is None
    [event] = events(app, "unit.create")
    assert event.username == staff.admin
    assert event.object_id == str(unit.id)
    assert event.before is None
    assert event.after == {"code": "00091", "level": "commune", "name_vi": "Phường Ngọc Hà",
                           "name_en": "Ngoc Ha Ward", "kind": "phuong",
                           "valid_from": "2025-07-01", "valid_to": None, "province": "01"}


def test_edit_commune_records_before_and_after(app: Flask, staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    [unit] = _communes(app, "00070")
    url = f"/admin/units/{unit.id}/edit"
    assert "Phường Hoàn Kiếm" in client.get(url).get_data(as_text=True)
    form = {"code": "00070", "name_vi": "Phường Hoàn Kiếm", "name_en": "Hoan Kiem Ward",
            "kind": "phuong", "valid_from": "2025-07-01", "valid_to": ""}
    before = changes(app)
    assert post(client, url, form).status_code == 303
    assert changes(app) == before  # nothing changed: nothing recorded
    assert post(client, url, form | {"name_en": "Hoan Kiem"}).status_code == 303
    [event] = events(app, "unit.update")
    assert event.before["name_en"] == "Hoan Kiem Ward"
    assert event.after["name_en"] == "Hoan Kiem"
    assert {k for k in event.after if event.after[k] != event.before[k]} == {"name_en"}


VALID = {"code": "00092", "name_vi": "Xã Mới", "name_en": "", "kind": "xa",
         "valid_from": "2025-07-01", "valid_to": ""}


@pytest.mark.parametrize(("change", "message"), [
    ({"code": "1234"}, "Mã xã phải gồm đúng 5 chữ số"),
    ({"code": "123456"}, "Mã xã phải gồm đúng 5 chữ số"),
    ({"code": "12a45"}, "Mã xã phải gồm đúng 5 chữ số"),
    ({"code": "１２３４５"}, "Mã xã phải gồm đúng 5 chữ số"),  # full-width digits
    ({"code": ""}, "Vui lòng điền thông tin này"),
    ({"code": "00004"}, "đã được dùng cho Phường Ba Đình"),
    ({"name_vi": "  "}, "Vui lòng điền thông tin này"),
    ({"kind": "huyen"}, "Lựa chọn không hợp lệ"),
    ({"valid_from": "01/07/2025"}, "Ngày không hợp lệ"),
    ({"valid_from": ""}, "Vui lòng điền thông tin này"),
    ({"valid_to": "2025-06-01"}, "Ngày kết thúc phải sau ngày bắt đầu"),
    ({"valid_from": "2020-01-01"}, "trong thời gian tỉnh của nó có hiệu lực"),
    ({"name_vi": "x" * 201}, "tối đa 200 ký tự"),
])
def test_bad_commune_input_is_refused_in_vietnamese(app: Flask, staff: StaffInfo,
                                                     change: dict[str, str],
                                                     message: str) -> None:
    client = signed_in(app, staff.admin)
    pid = province_id(app, "01")
    with app.app_context():
        n_units = db.session.scalar(select(func.count()).select_from(AdminUnit))
    before = changes(app)
    resp = post(client, f"/admin/units/{pid}/communes/new", VALID | change)
    assert resp.status_code == 422
    assert message in resp.get_data(as_text=True)
    assert changes(app) == before
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AdminUnit)) == n_units


def test_commune_code_may_be_reused_in_a_later_period(app: Flask, staff: StaffInfo) -> None:
    """Codes are reused across the reform: a non-overlapping validity is accepted."""
    client = signed_in(app, staff.admin)
    with app.app_context():
        import datetime as dt

        from surveyapp.services.reference import province

        old_hanoi = province("01", dt.date(2024, 1, 1))
        assert old_hanoi is not None
        old_id = old_hanoi.id
    resp = post(client, f"/admin/units/{old_id}/communes/new", VALID | {
        "code": "00004", "name_vi": "Phường Trúc Bạch", "valid_from": "2008-08-01",
        "valid_to": "2025-07-01"})
    assert resp.status_code == 303
    assert len(_communes(app, "00004")) == 2
    # but the old commune cannot outlive its province
    resp = post(client, f"/admin/units/{old_id}/communes/new", VALID | {
        "code": "00093", "valid_from": "2008-08-01", "valid_to": ""})
    assert resp.status_code == 422


def test_edit_to_a_duplicate_code_is_refused(app: Flask, staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    [unit] = _communes(app, "00070")
    resp = post(client, f"/admin/units/{unit.id}/edit", VALID | {"code": "00004"})
    assert resp.status_code == 422
    assert "đã được dùng cho Phường Ba Đình" in resp.get_data(as_text=True)
    assert _communes(app, "00070")[0].name_vi == "Phường Hoàn Kiếm"


def test_wrong_kind_of_unit_is_404(app: Flask, staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    [commune] = _communes(app, "00004")
    pid = province_id(app)
    assert client.get(f"/admin/units/{pid}/edit").status_code == 404  # province: not here
    assert client.get(f"/admin/units/{commune.id}/communes/new").status_code == 404
    assert client.get("/admin/units/999999").status_code == 404
    assert client.get(f"/admin/units/{commune.id}").status_code == 302  # to its edit page


def test_control_characters_are_cleaned_not_stored(app: Flask, staff: StaffInfo) -> None:
    """NUL (which PostgreSQL refuses), tabs and line breaks in a name become single spaces."""
    client = signed_in(app, staff.admin)
    resp = post(client, f"/admin/units/{province_id(app)}/communes/new",
                VALID | {"name_vi": " Xã\x00Mới\t\r\nA  ", "name_en": "New\x00"})
    assert resp.status_code == 303
    [unit] = _communes(app, "00092")
    assert (unit.name_vi, unit.name_en) == ("Xã Mới A", "New")
