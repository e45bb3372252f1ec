"""Report downloads and the ``report`` command: CSV, XLSX and PDF read back as a reader would."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from pypdf import PdfReader

from tests.conftest import StaffInfo
from tests.web.helpers import sign_in
from tests.web.reports_data import OTHER_PROVINCE_NAMES, RunInfo, make_runs


@pytest.fixture
def runs(app: Flask, staff: StaffInfo) -> dict[str, RunInfo]:
    return make_runs(app)


@pytest.fixture
def province_client(client: FlaskClient, staff: StaffInfo) -> FlaskClient:
    sign_in(client, staff.province)
    return client


def _get(client: FlaskClient, run: int, fmt: str, unit: str = "01") -> bytes:
    resp = client.get(f"/reports/run/{run}/{unit}/download.{fmt}")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert "attachment" in resp.headers["Content-Disposition"]
    return resp.data


def test_csv_has_bom_vietnamese_and_no_suppressed_numbers(province_client: FlaskClient,
                                                          runs: dict[str, RunInfo]) -> None:
    body = _get(province_client, runs["current"].id, "csv")
    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8-sig")
    table = list(csv.DictReader(io.StringIO(text)))
    assert "Thủ tục hành chính" in text
    assert "Hà Nội" in text
    for name in OTHER_PROVINCE_NAMES:
        assert name not in text
    suppressed = [r for r in table if r["Độ tin cậy"] == "Không đủ tin cậy để công bố"]
    assert suppressed, "the small commune must be in the file, suppressed"
    for row in suppressed:
        assert row["Hài lòng (%)"] == ""
        assert row["Cận dưới KTC 95% (%)"] == ""
        assert row["Cận trên KTC 95% (%)"] == ""
        assert row["Lý do"]
    sipas = next(r for r in table if r["Cấp"] == "Tỉnh, thành phố" and r["Mã chỉ số"] == "SIPAS")
    assert 50 < float(sipas["Hài lòng (%)"]) < 100


def test_csv_escapes_formulas(app: Flask, province_client: FlaskClient,
                              runs: dict[str, RunInfo]) -> None:
    from surveyapp.extensions import db
    from surveyapp.models import AdminUnit

    with app.app_context():
        unit = db.session.query(AdminUnit).filter_by(code="00004", level="commune").one()
        unit.name_vi = "=HYPERLINK(\"http://evil\")"
        db.session.commit()
    text = _get(province_client, runs["current"].id, "csv").decode("utf-8-sig")
    assert "'=HYPERLINK" in text
    assert ",=HYPERLINK" not in text


def test_xlsx_sheets_frozen_header_and_numbers(province_client: FlaskClient,
                                               runs: dict[str, RunInfo]) -> None:
    book = load_workbook(io.BytesIO(_get(province_client, runs["current"].id, "xlsx")))
    try:
        assert book.sheetnames == ["Cả nước và tỉnh", "Xã, phường, đặc khu",
                                   "Các trung tâm", "Tiêu chí",
                                   "Ghi chú phương pháp"]
        for name in book.sheetnames[:4]:
            assert book[name].freeze_panes == "D2"
        summary = book["Cả nước và tỉnh"]
        header = [c.value for c in summary[1]]
        col = header.index("Hài lòng") + 1
        values = [summary.cell(row=r, column=col) for r in range(2, summary.max_row + 1)]
        numeric = [c for c in values if isinstance(c.value, float)]
        assert numeric
        assert all(0 < c.value < 1 for c in numeric)
        assert all("%" in c.number_format for c in numeric)
        communes = book["Xã, phường, đặc khu"]
        rows = list(communes.iter_rows(min_row=2, values_only=True))
        flag_col, est_col = header.index("Độ tin cậy"), header.index("Hài lòng")
        hidden = [r for r in rows if r[flag_col] == "Không đủ tin cậy để công bố"]
        assert hidden
        assert all(r[est_col] == "không công bố" for r in hidden)
        notes = "\n".join(str(c.value) for row in book["Ghi chú phương pháp"].iter_rows()
                          for c in row if c.value)
        assert "quy ước của hệ thống này" in notes
        assert "tự nguyện" in notes
        assert "NCHS" in notes
        assert "hồ sơ" in notes
    finally:
        book.close()


def test_pdf_text_is_correct_vietnamese(province_client: FlaskClient,
                                        runs: dict[str, RunInfo]) -> None:
    body = _get(province_client, runs["current"].id, "pdf")
    assert body.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(body))
    text = "\n".join(page.extract_text() for page in reader.pages)
    for phrase in ("Hài lòng", "hài lòng", "Thủ tục hành chính", "Hà Nội",
                   "Công chức trực tiếp giải quyết công việc", "Ghi chú phương pháp",
                   "Phường Ba Đình", "không công bố", "NCHS", "tự nguyện"):
        assert phrase in text, phrase
    for name in OTHER_PROVINCE_NAMES:
        assert name not in text
    assert len(reader.pages) >= 6


def test_reaggregated_run_says_so_in_every_file(province_client: FlaskClient,
                                                runs: dict[str, RunInfo]) -> None:
    run = runs["reaggregated"].id
    phrase = "34 tỉnh, thành phố mới"
    assert phrase in _get(province_client, run, "csv").decode("utf-8-sig")
    pdf = PdfReader(io.BytesIO(_get(province_client, run, "pdf")))
    assert phrase in " ".join(p.extract_text() for p in pdf.pages).replace("\n", " ")
    book = load_workbook(io.BytesIO(_get(province_client, run, "xlsx")))
    try:
        notes = " ".join(str(c.value) for row in book["Ghi chú phương pháp"].iter_rows()
                         for c in row if c.value)
    finally:
        book.close()
    assert phrase in notes


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "pdf"])
def test_cli_writes_the_same_files(app: Flask, runs: dict[str, RunInfo], tmp_path: Path,
                                   fmt: str) -> None:
    out = tmp_path / f"r.{fmt}"
    result = app.test_cli_runner().invoke(args=[
        "report", "--run", str(runs["unpublished"].id), "--unit", "79", "--format", fmt,
        "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1000
    if fmt == "csv":
        assert out.read_bytes().startswith(b"\xef\xbb\xbf")
        assert "Hồ Chí Minh" in out.read_text("utf-8-sig")


def test_cli_unknown_run_is_a_clear_error(app: Flask, runs: dict[str, RunInfo],
                                          tmp_path: Path) -> None:
    result = app.test_cli_runner().invoke(args=[
        "report", "--run", "999999", "--unit", "01", "--format", "csv",
        "-o", str(tmp_path / "x.csv")])
    assert result.exit_code != 0
    assert "Không có kết quả" in result.output
    assert not (tmp_path / "x.csv").exists()


def test_pdf_draws_large_charts_a_page_at_a_time(app: Flask, province_client: FlaskClient,
                                                 runs: dict[str, RunInfo],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A province with more units than a page holds gets its forest plots and heatmap on
    several pages, each unit on exactly one page of each chart, drawn as vectors with the names
    as text (not one picture shrunk to fit A4)."""
    from surveyapp.charts import series
    from surveyapp.reports import data
    from surveyapp.reports.cli import CommandLineUser

    monkeypatch.setattr(series, "PER_PAGE", 2)
    reader = PdfReader(io.BytesIO(_get(province_client, runs["current"].id, "pdf")))
    texts = [page.extract_text() for page in reader.pages]
    with app.app_context():
        report = data.build(runs["current"].id, "01", "vi", user=CommandLineUser())
    names = [u.name for u in report.communes]
    assert len(names) >= 3
    title = "Các xã, phường của Hà Nội"
    pages = -(-len(names) // 2)
    chart_pages = [t for t in texts if title in t]
    assert len(chart_pages) == 2 * pages  # the forest plot, then the heatmap
    for k in range(pages):
        assert sum(f"{title} ({k + 1}/{pages})" in t for t in chart_pages) == 2
    for name in names:  # each commune once in each chart, at most two a page
        assert sum(name in t for t in chart_pages) == 2, (name, chart_pages)
    for t in chart_pages:
        assert sum(name in t for name in names) <= 2
    centre_pages = [t for t in texts if "Các trung tâm phục vụ hành chính công của Hà Nội (" in t]
    assert len(centre_pages) == -(-len(report.centres) // 2)
    assert sum(len(page.images) for page in reader.pages) == 1  # only the trend is a picture


def test_chart_pages_share_one_scale_and_keep_every_unit() -> None:
    from surveyapp.charts import series

    units = [series.Estimate(f"Xã {i}", 0.5 + i / 300, 0.45 + i / 300, 0.55 + i / 300)
             for i in range(101)] + [series.Estimate("Xã ẩn", None, None, None, "suppress")]
    forest = series.Forest("Các xã", units, series.Estimate("Tỉnh", 0.7, 0.68, 0.72))
    pages = series.forest_pages(forest, 40)
    assert [len(p.units) for p in pages] == [34, 34, 34]
    assert [u for p in pages for u in p.units] == units
    assert {p.xlim for p in pages} == {series.forest_range(units, forest.reference)}
    assert [p.title for p in pages] == ["Các xã (1/3)", "Các xã (2/3)", "Các xã (3/3)"]
    assert series.forest_pages(series.Forest("Một", units[:40], None), 40)[0].title == "Một"
    heat = series.Heatmap("Nhiệt", ["C1", "SIPAS"], [u.label for u in units],
                          [[u, u] for u in units])
    hpages = series.heatmap_pages(heat, 50)
    assert [len(p.rows) for p in hpages] == [34, 34, 34]
    assert {p.scale for p in hpages} == {(0.5, 0.5 + 100 / 300)}
    assert series.page_slices(0, 40) == [slice(0, 0)]


def test_pdf_table_wraps_long_names_without_losing_words() -> None:
    from surveyapp.exports.pdf_table import wrap
    from surveyapp.exports.report_pdf import _pdf

    pdf = _pdf()
    pdf.set_font("DejaVu", size=9)
    name = "Trung tâm Phục vụ hành chính công phường Hai Bà Trưng"
    lines = wrap(pdf, name, 50)
    assert len(lines) == 2
    assert " ".join(line for line, _w in lines) == name
    assert all(w <= 50 and abs(w - pdf.get_string_width(line)) < 1e-9 for line, w in lines)
    assert wrap(pdf, "Xã Ba Vì", 50) == [("Xã Ba Vì", pdf.get_string_width("Xã Ba Vì"))]
    long_word = "Đ" * 40
    cut = wrap(pdf, long_word, 20)
    assert "".join(line for line, _w in cut) == long_word
    assert all(w <= 20 for _line, w in cut)
