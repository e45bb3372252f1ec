"""Frame import: every bad file is refused as a whole with row-numbered Vietnamese problems,
nothing is stored and the previous frame stays; a good file replaces the frame atomically
with an audit event (page and CLI, SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from tests.web.helpers import csrf_of, sign_in

GOOD = "centre_code,field_code,dossiers\nX00004,ho-tich,120\nX00004,dat-dai,80\nP01,,900\n"


@pytest.fixture
def period(app: Flask) -> str:
    from surveyapp.extensions import db
    from surveyapp.services import frames

    with app.app_context():
        frames.create_period("2026-Q1", "Quý 1/2026", "Q1 2026", dt.date(2026, 1, 1),
                             dt.date(2026, 4, 1))
        db.session.commit()
    return "2026-Q1"


def _frame(app: Flask, code: str) -> list[tuple]:
    from surveyapp.extensions import db
    from surveyapp.models import FrameCount, Period

    with app.app_context():
        rows = db.session.execute(
            select(FrameCount.centre_id, FrameCount.field_id, FrameCount.dossiers)
            .join(Period).where(Period.code == code).order_by(FrameCount.id)).all()
        return [tuple(r) for r in rows]


def _upload(client: FlaskClient, code: str, content: bytes, name: str = "frame.csv",
            lang: str | None = None):  # noqa: ANN202
    page = client.get(f"/analysis/periods/{code}" + (f"?lang={lang}" if lang else ""))
    return client.post(f"/analysis/periods/{code}/frame" + (f"?lang={lang}" if lang else ""),
                       data={"csrf_token": csrf_of(page.get_data(as_text=True)),
                             "file": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


@pytest.fixture
def stat_client(client: FlaskClient, staff) -> FlaskClient:  # noqa: ANN001
    sign_in(client, staff.statistician)
    return client


def _xlsx(rows: list[list]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_good_csv_is_stored_and_audited(app: Flask, stat_client: FlaskClient,
                                        period: str) -> None:
    from surveyapp.extensions import db
    from surveyapp.models import AuditEvent

    resp = _upload(stat_client, period, ("\ufeff" + GOOD).encode())
    assert resp.status_code == 303
    assert len(_frame(app, period)) == 3
    page = stat_client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Đã nhập khung mẫu" in page
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "frame.import")).one()
        assert event.username == "thongke"
        assert event.before == {"cells": 0, "centres": 0, "dossiers": 0}
        assert event.after == {"cells": 3, "centres": 2, "dossiers": 1100}


def test_xlsx_with_vietnamese_headers_replaces_the_frame(app: Flask, stat_client: FlaskClient,
                                                         period: str) -> None:
    _upload(stat_client, period, GOOD.encode())
    content = _xlsx([["Mã trung tâm", "Lĩnh vực", "Số hồ sơ"], ["X00070", None, 55.0]])
    resp = _upload(stat_client, period, content, "khung.xlsx")
    assert resp.status_code == 303
    assert [r[2] for r in _frame(app, period)] == [55]


BAD_CASES = {
    "wrong headers": (b"code,count\nX00004,5\n", "frame.csv",
                      ["Cột “code” không được nhận ra", "Thiếu cột bắt buộc"]),
    "unknown centre": (b"centre_code,field_code,dossiers\nX00004,,5\nZZZ9,,5\n", "f.csv",
                       ["Mã trung tâm “ZZZ9” không có", "<td class=\"num\">3</td>"]),
    "unknown field": (b"centre_code,field_code,dossiers\nX00004,bogus,5\n", "f.csv",
                      ["Mã lĩnh vực “bogus” không có"]),
    "negative count": (b"centre_code,field_code,dossiers\nX00004,,-4\n", "f.csv",
                       ["không thể âm"]),
    "non-numeric count": (b"centre_code,field_code,dossiers\nX00004,,abc\n", "f.csv",
                          ["“abc” không phải là số hồ sơ"]),
    "non-integer count": (b"centre_code,field_code,dossiers\nX00004,,2.5\n", "f.csv",
                          ["không phải là số nguyên"]),
    "duplicate rows": (b"centre_code,field_code,dossiers\nX00004,ho-tich,5\nX00004,ho-tich,6\n",
                       "f.csv", ["đã có ở dòng 2"]),
    "empty file": (b"", "f.csv", ["Tệp trống"]),
    "header only": (b"centre_code,field_code,dossiers\n", "f.csv", ["không có dòng dữ liệu"]),
    "png renamed csv": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "frame.csv",
                        ["không phải tệp CSV hay XLSX"]),
    # "Hà Nội" as Windows-1258 writes it: à precomposed (E0), ô (F4) + combining dot (F2)
    "windows-1258": ("ma_trung_tam,so_ho_so,ten\nX00004,5,Hà Nô\u0323i\n".encode("cp1258"),
                     "f.csv", ["CSV UTF-8"]),
    "utf-16": (GOOD.encode("utf-16"), "f.csv", ["UTF-16"]),
    "corrupt xlsx": (b"PK\x03\x04garbage", "f.xlsx", ["Không đọc được tệp XLSX"]),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_file_stores_nothing_and_keeps_previous_frame(app: Flask, stat_client: FlaskClient,
                                                          period: str, case: str) -> None:
    assert _upload(stat_client, period, GOOD.encode()).status_code == 303
    before = _frame(app, period)
    content, name, expected = BAD_CASES[case]
    resp = _upload(stat_client, period, content, name)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    for text in expected:
        assert text in html, (case, text)
    assert "Không có gì được lưu" in html
    assert _frame(app, period) == before


def test_problems_in_english_when_switched(stat_client: FlaskClient, period: str) -> None:
    resp = _upload(stat_client, period, b"centre_code,dossiers\nX00004,-1\n", lang="en")
    html = resp.get_data(as_text=True)
    assert "cannot be negative" in html
    assert "Nothing was stored" in html


def test_every_row_problem_is_listed_with_its_row(stat_client: FlaskClient,
                                                  period: str) -> None:
    content = b"centre_code,field_code,dossiers\nX00004,,5\nNOPE,,5\nX00070,,x\nP01,,-2\n"
    html = _upload(stat_client, period, content).get_data(as_text=True)
    for row in ("3", "4", "5"):
        assert f'<td class="num">{row}</td>' in html


def test_over_the_size_limit_is_refused_in_vietnamese(app: Flask, stat_client: FlaskClient,
                                                      period: str) -> None:
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    big = GOOD.encode() + b"X00004,ho-tich,1\n" * (20 * 1024 * 1024 // 17)
    page = stat_client.get(f"/analysis/periods/{period}").get_data(as_text=True)
    # a body of bytes (not a spooled temp file that the test client would leave open)
    boundary, body = encode_multipart({"csrf_token": csrf_of(page), "file": FileStorage(
        io.BytesIO(big), "frame.csv")})
    resp = stat_client.post(f"/analysis/periods/{period}/frame", data=body,
                            content_type=f"multipart/form-data; boundary={boundary}")
    assert resp.status_code == 413
    assert "lớn hơn 10 MB" in resp.get_data(as_text=True)
    assert _frame(app, period) == []


def test_mixed_all_fields_and_per_field_rows_refused(stat_client: FlaskClient,
                                                     period: str) -> None:
    content = b"centre_code,field_code,dossiers\nX00004,,5\nX00004,ho-tich,5\n"
    resp = _upload(stat_client, period, content)
    assert resp.status_code == 422
    assert "vừa có số cho mọi lĩnh vực" in resp.get_data(as_text=True)


def test_cli_import_frame(app: Flask, runner: FlaskCliRunner, period: str,
                          tmp_path: Path) -> None:
    good = tmp_path / "frame.csv"
    good.write_text(GOOD, encoding="utf-8")
    result = runner.invoke(args=["import-frame", str(good), "--period", period])
    assert result.exit_code == 0, result.output
    assert "3 cells" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("centre_code,dossiers\nNOPE,1\n", encoding="utf-8")
    result = runner.invoke(args=["import-frame", str(bad), "--period", period])
    assert result.exit_code != 0
    assert "row 2" in result.output
    assert len(_frame(app, period)) == 3
