"""Questionnaire pages: versions with status, frozen state and response counts; a frozen
version is copied to a draft, the draft's texts edited, then activated for kiosks — each step
one audit event; a frozen version's items never change."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from surveyapp.extensions import db
from surveyapp.models import Item, QuestionnaireVersion
from surveyapp.services import questionnaires
from tests.conftest import KioskInfo, StaffInfo
from tests.web.helpers import VERSION, payload
from tests.web.test_admin_support import changes, events, post, signed_in


def _version(app: Flask, key: str) -> QuestionnaireVersion:
    with app.app_context():
        v = questionnaires.by_key(key)
        assert v is not None
        _ = v.items
        db.session.expunge_all()
        return v


def _answer_once(client: FlaskClient, kiosk: KioskInfo) -> None:
    """Freeze v1 the way production does: a kiosk response that uses it."""
    resp = client.post("/api/v1/responses", json=payload(), headers=kiosk.auth)
    assert resp.status_code == 201, resp.get_data(as_text=True)


def _edit_form(html: str, **overrides: str) -> dict[str, str]:
    """Every item field of the edit page as the browser would send it."""
    data: dict[str, str] = {}
    for name, text in re.findall(r'<textarea[^>]*name="(text_(?:vi|en)_\d+)"[^>]*>([^<]*)'
                                 r"</textarea>", html):
        data[name] = text.replace("&#39;", "'").replace("&amp;", "&").replace("&#34;", '"')
    for name in re.findall(r'name="(na_\d+)" value="1" checked', html):
        data[name] = "1"
    data.update(overrides)
    return data


def test_overview_lists_versions_with_status_and_counts(app: Flask, staff: StaffInfo,
                                                        kiosk: KioskInfo) -> None:
    _answer_once(app.test_client(), kiosk)
    client = signed_in(app, staff.admin)
    page = client.get("/admin/questionnaires").get_data(as_text=True)
    assert VERSION in page
    assert "đang hoạt động" in page
    assert "đã khóa" in page
    assert "C1: 4 · C2: 4 · C3: 5 · C4: 3 · C5: 3" in page
    assert re.search(r'<td class="num">1</td>', page)
    v1 = _version(app, VERSION)
    detail = client.get(f"/admin/questionnaires/versions/{v1.id}").get_data(as_text=True)
    assert "Số phiếu dùng phiên bản này: 1." in detail
    first = v1.items[0]
    assert first.text_vi in detail
    assert first.text_en in detail
    assert "Sửa nội dung câu hỏi" not in detail  # frozen: no edit button


def test_frozen_version_cannot_be_edited(app: Flask, staff: StaffInfo, kiosk: KioskInfo) -> None:
    _answer_once(app.test_client(), kiosk)
    client = signed_in(app, staff.admin)
    v1 = _version(app, VERSION)
    resp = client.get(f"/admin/questionnaires/versions/{v1.id}/edit")
    assert resp.status_code == 303
    assert "không sửa được nữa" in client.get(resp.headers["Location"]).get_data(as_text=True)
    item = v1.items[0]
    before = changes(app)
    post(client, f"/admin/questionnaires/versions/{v1.id}/edit",
         {f"text_vi_{item.id}": "Đã sửa", f"text_en_{item.id}": "Changed"})
    assert changes(app) == before
    with app.app_context():
        stored = db.session.get(Item, item.id)
        assert stored is not None
        assert stored.text_vi == item.text_vi


def test_new_draft_edit_and_activate(app: Flask, staff: StaffInfo, kiosk: KioskInfo) -> None:
    _answer_once(app.test_client(), kiosk)
    client = signed_in(app, staff.admin)
    v1 = _version(app, VERSION)
    # 1. a draft copy of the frozen version; v1 stays active until the draft is activated
    resp = post(client, f"/admin/questionnaires/versions/{v1.id}/copy")
    assert resp.status_code == 303
    v2 = _version(app, "sipas-2023.v2")
    assert v2.status == "draft"
    assert not v2.frozen
    assert [i.code for i in v2.items] == [i.code for i in v1.items]
    assert _version(app, VERSION).status == "active"
    [made] = events(app, "questionnaire.version.create")
    assert made.object_id == "sipas-2023.v2"
    assert made.after == {"key": "sipas-2023.v2", "status": "draft", "frozen": False,
                          "items": 19, "copied_from": VERSION}
    # 2. edit one text and one N/A flag: one event listing only those items
    edit_page = client.get(resp.headers["Location"])
    assert edit_page.status_code == 200
    html = edit_page.get_data(as_text=True)
    first, last = v2.items[0], v2.items[-1]
    new_text = "Nơi đón tiếp  có chỗ ngồi\tthoải mái"  # spacing tidied on save
    form = _edit_form(html, **{f"text_vi_{first.id}": new_text})
    form.pop(f"na_{last.id}")  # untick "N/A allowed" on the last item
    saved = post(client, f"/admin/questionnaires/versions/{v2.id}/edit", form)
    assert saved.status_code == 303
    assert "Số câu hỏi đã sửa: 2." in client.get(saved.headers["Location"]).get_data(
        as_text=True)
    [edited] = events(app, "questionnaire.items")
    assert set(edited.after) == {first.code, last.code}
    assert edited.before[first.code]["text_vi"] == first.text_vi
    assert edited.after[first.code]["text_vi"] == "Nơi đón tiếp có chỗ ngồi thoải mái"
    assert edited.before[last.code]["allow_na"] is True
    assert edited.after[last.code]["allow_na"] is False
    # re-saving the same form changes nothing and records nothing
    before = changes(app)
    again = client.get(f"/admin/questionnaires/versions/{v2.id}/edit").get_data(as_text=True)
    post(client, f"/admin/questionnaires/versions/{v2.id}/edit", _edit_form(again))
    assert changes(app) == before
    # 3. activate: v2 becomes what kiosks show, v1 retires
    assert post(client, f"/admin/questionnaires/versions/{v2.id}/activate").status_code == 303
    assert _version(app, "sipas-2023.v2").status == "active"
    assert _version(app, VERSION).status == "retired"
    [activated] = events(app, "questionnaire.version.activate")
    assert activated.before == {VERSION: "active", "sipas-2023.v2": "draft"}
    assert activated.after == {VERSION: "retired", "sipas-2023.v2": "active"}
    with app.app_context():
        current = questionnaires.current_version("sipas-2023")
        assert current is not None
        assert current.key == "sipas-2023.v2"
    # activating the active version again records nothing
    before = changes(app)
    post(client, f"/admin/questionnaires/versions/{v2.id}/activate")
    assert changes(app) == before


def test_empty_or_overlong_text_is_refused_without_partial_writes(app: Flask,
                                                                  staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    v1 = _version(app, VERSION)  # not answered in this test: still a draft-like version
    html = client.get(f"/admin/questionnaires/versions/{v1.id}/edit").get_data(as_text=True)
    assert "thay đổi sẽ hiển thị ngay" in html  # active and unanswered: a warning
    first, second = v1.items[0], v1.items[1]
    before = changes(app)
    for bad, message in (("   ", "không được để trống"), ("x" * 1001, "tối đa 1000 ký tự")):
        form = _edit_form(html, **{f"text_vi_{first.id}": "Đổi câu đầu",
                                   f"text_vi_{second.id}": bad})
        resp = post(client, f"/admin/questionnaires/versions/{v1.id}/edit", form)
        assert resp.status_code == 422
        assert message in resp.get_data(as_text=True)
        assert "Đổi câu đầu" in resp.get_data(as_text=True)  # what was typed is kept
    assert changes(app) == before
    with app.app_context():
        texts = db.session.scalars(select(Item.text_vi).where(
            Item.id.in_([first.id, second.id])).order_by(Item.position)).all()
        assert texts == [first.text_vi, second.text_vi]


def test_unknown_version_is_404(app: Flask, staff: StaffInfo) -> None:
    client = signed_in(app, staff.admin)
    assert client.get("/admin/questionnaires/versions/999999").status_code == 404
    assert post(client, "/admin/questionnaires/versions/999999/activate").status_code == 404
    assert post(client, "/admin/questionnaires/versions/999999/copy").status_code == 404
