"""Audit trail pages: filters (user, action, object, dates in Vietnam time), pagination, the
before/after view, and the CSV export (UTF-8 BOM, spreadsheet formulas neutralised)."""

from __future__ import annotations

import csv
import datetime as dt
import io

from flask import Flask
from sqlalchemy import select

from surveyapp.extensions import db
from surveyapp.models import AuditEvent, User
from tests.conftest import StaffInfo
from tests.web.test_admin_support import signed_in


def _event(app: Flask, action: str, at: dt.datetime, username: str = "admin",
           object_type: str = "centre", object_id: str = "1", **extra: object) -> int:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        ev = AuditEvent(at=at, user_id=user.id if user else None, username=username,
                        action=action, object_type=object_type, object_id=object_id,
                        before=extra.get("before"), after=extra.get("after"),
                        note=str(extra.get("note", "")))
        db.session.add(ev)
        db.session.commit()
        return ev.id


def test_list_filters_by_user_action_object_and_local_dates(app: Flask,
                                                            staff: StaffInfo) -> None:
    # 2026-03-01 23:30 UTC is 2026-03-02 06:30 in Vietnam
    late = _event(app, "centre.update", dt.datetime(2026, 3, 1, 23, 30), object_id="7")
    early = _event(app, "kiosk.revoke", dt.datetime(2026, 3, 1, 10, 0), username="thongke",
                   object_type="kiosk", object_id="k-aaaaaaaa")
    client = signed_in(app, staff.admin)

    def ids(**args: str) -> set[int]:
        html = client.get("/admin/audit", query_string=args).get_data(as_text=True)
        return {i for i in (late, early) if f"/admin/audit/{i}\"" in html}

    assert ids() == {late, early}
    assert ids(user="thongke") == {early}
    assert ids(action="centre.update") == {late}
    assert ids(object_type="kiosk", object_id="k-aaaaaaaa") == {early}
    assert ids(**{"from": "2026-03-02"}) == {late}
    assert ids(**{"from": "2026-03-01", "to": "2026-03-01"}) == {early}
    assert ids(**{"to": "2026-02-28"}) == set()
    for junk in ("user=%00", "action=%00x", "object_type=%00&object_id=%00", "page=%00"):
        assert client.get(f"/admin/audit?{junk}").status_code == 200
        csv_resp = client.get(f"/admin/audit.csv?{junk}")
        assert csv_resp.status_code == 200
        csv_resp.close()
    page = client.get("/admin/audit?from=31/12/2026&to=x").get_data(as_text=True)
    assert "Có ngày không đọc được nên đã bị bỏ qua" in page
    options = client.get("/admin/audit").get_data(as_text=True)
    assert '<option value="kiosk.revoke">Thu hồi kiosk</option>' in options  # from the data
    assert '<option value="thongke">thongke</option>' in options
    listed = client.get("/admin/audit?action=kiosk.revoke").get_data(as_text=True)
    assert "Thu hồi kiosk" in listed  # actions shown as words, objects linked
    assert 'href="/admin/kiosks/k-aaaaaaaa"' in listed


def test_list_is_paginated_newest_first(app: Flask, staff: StaffInfo) -> None:
    start = dt.datetime(2026, 1, 1, 3, 0)
    made = [_event(app, "test.bulk", start + dt.timedelta(minutes=i), object_id=str(i))
            for i in range(60)]
    client = signed_in(app, staff.admin)
    first = client.get("/admin/audit?action=test.bulk").get_data(as_text=True)
    assert "Trang 1/2" in first
    assert f'/admin/audit/{made[-1]}"' in first
    assert f'/admin/audit/{made[0]}"' not in first
    assert "action=test.bulk" in first  # the pager keeps the filter
    second = client.get("/admin/audit?action=test.bulk&page=2").get_data(as_text=True)
    assert f'/admin/audit/{made[0]}"' in second
    assert client.get("/admin/audit?page=999").status_code == 200


def test_detail_shows_before_and_after_side_by_side(app: Flask, staff: StaffInfo) -> None:
    eid = _event(app, "user.update", dt.datetime(2026, 5, 4, 2, 0), object_type="user",
                 object_id="3",
                 before={"role": "province", "province": "01", "active": True},
                 after={"role": "province", "province": "79", "active": True})
    client = signed_in(app, staff.admin)
    html = client.get(f"/admin/audit/{eid}").get_data(as_text=True)
    assert "2026-05-04 09:00" in html  # Vietnam time
    assert "Trước khi thay đổi" in html
    assert "Sau khi thay đổi" in html
    changed = html.split('<tr class="changed">')
    assert len(changed) == 2  # only the province row is highlighted
    assert "<code>province</code>" in changed[1]
    assert "<pre>01</pre>" in changed[1]
    assert "<pre>79</pre>" in changed[1]
    assert client.get("/admin/audit/999999").status_code == 404


def test_detail_escapes_stored_text(app: Flask, staff: StaffInfo) -> None:
    eid = _event(app, "unit.update", dt.datetime(2026, 5, 4, 2, 0),
                 after={"name_vi": "<script>alert(1)</script>"})
    html = signed_in(app, staff.admin).get(f"/admin/audit/{eid}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_csv_export_has_bom_filters_and_escaped_formulas(app: Flask, staff: StaffInfo) -> None:
    _event(app, "centre.update", dt.datetime(2026, 3, 1, 23, 30), object_id="=cmd|'/c calc'!A1",
           after={"name_vi": "Trung tâm Hà Nội"}, note="+SUM(A1)")
    _event(app, "kiosk.revoke", dt.datetime(2026, 3, 1, 10, 0), object_type="kiosk")
    client = signed_in(app, staff.admin)
    resp = client.get("/admin/audit.csv?action=centre.update")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    assert resp.headers["Cache-Control"] == "no-store"
    raw = resp.get_data()
    resp.close()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["id", "at_local", "username", "action", "object_type", "object_id",
                       "before", "after", "note"]
    assert len(rows) == 2  # the filter applies
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["at_local"] == "2026-03-02T06:30:00+07:00"
    assert row["object_id"] == "'=cmd|'/c calc'!A1"
    assert row["note"] == "'+SUM(A1)"
    assert "Trung tâm Hà Nội" in row["after"]
