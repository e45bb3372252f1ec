"""Province dashboard and charts on both backends: what a province and a statistician see."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import StaffInfo
from tests.web.helpers import sign_in
from tests.web.reports_data import OTHER_PROVINCE_NAMES, RunInfo, make_runs

CONTENT_NAMES_VI = ["Tiếp cận dịch vụ hành chính công", "Thủ tục hành chính",
                    "Công chức trực tiếp giải quyết công việc",
                    "Kết quả cung ứng dịch vụ hành chính công",
                    "Tiếp nhận, xử lý góp ý, phản ánh, kiến nghị"]


@pytest.fixture
def runs(app: Flask, staff: StaffInfo) -> dict[str, RunInfo]:
    return make_runs(app)


@pytest.fixture
def province_client(client: FlaskClient, staff: StaffInfo) -> FlaskClient:
    assert sign_in(client, staff.province).status_code == 302
    return client


def test_province_dashboard_shows_latest_published_period(province_client: FlaskClient,
                                                          runs: dict[str, RunInfo]) -> None:
    page = province_client.get("/reports/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Chỉ số hài lòng – Hà Nội" in html
    assert "2026 – quý 1" in html  # the latest published period, not the unpublished Q2
    assert "2026 – quý 2" not in html
    for name in CONTENT_NAMES_VI:
        assert name in html
    assert "KTC 95%" in html
    assert "%%" not in html
    # caveats: platform convention and self-selection
    assert "quy ước của hệ thống này" in html
    assert "không phải cuộc khảo sát SIPAS của Bộ Nội vụ" in html
    # communes ranked with rank intervals, the weak one marked below the province
    assert "Phường Ba Đình" in html
    assert "Xã Đông Anh" in html
    assert re.search(r"\d+–\d+ trên \d+", html)
    assert "Thấp hơn có ý nghĩa thống kê so với phần còn lại của tỉnh" in html
    # change from the previous published period, with drivers
    assert "Thay đổi so với kỳ trước" in html
    assert "Từ 2025 – quý 4 đến 2026 – quý 1" in html
    assert "Nội dung tác động nhiều nhất đến SIPAS" in html
    # criteria table with questionnaire texts
    assert "C2.3" in html
    # nothing of another province
    for name in OTHER_PROVINCE_NAMES:
        assert name not in html


def test_suppressed_commune_shows_reason_never_a_number(province_client: FlaskClient,
                                                        runs: dict[str, RunInfo]) -> None:
    html = province_client.get("/reports/").get_data(as_text=True)
    table = html[html.index('id="communes-table"'):]
    table = table[: table.index("</table>")]
    row = table[table.index("Xã Thạch Thất"):]
    row = row[: row.index("</tr>")]
    assert "Không công bố" in row
    assert "Cỡ mẫu hiệu dụng" in row
    assert "thấp hơn 30" in row
    assert "%" not in row.replace("KTC 95%", "")  # no percentage, no interval


def test_english_switch_names_contents_in_english(province_client: FlaskClient,
                                                  runs: dict[str, RunInfo]) -> None:
    html = province_client.get("/reports/?lang=en").get_data(as_text=True)
    assert "Satisfaction index – Ha Noi" in html or "Satisfaction index – Hà Nội" in html
    assert "Administrative procedures" in html
    assert "Tiếp cận dịch vụ hành chính công" not in html


def test_reaggregated_period_carries_the_note(province_client: FlaskClient,
                                              runs: dict[str, RunInfo]) -> None:
    html = province_client.get(f"/reports/?run={runs['reaggregated'].id}").get_data(as_text=True)
    assert "Kỳ được tổng hợp lại" in html
    assert "34 tỉnh, thành phố mới" in html
    current = province_client.get("/reports/").get_data(as_text=True)
    assert "34 tỉnh, thành phố mới" not in current


def test_period_picker_lists_published_runs_only(province_client: FlaskClient,
                                                 runs: dict[str, RunInfo]) -> None:
    html = province_client.get("/reports/").get_data(as_text=True)
    picker = html[html.index('id="pick-run"'):]
    picker = picker[: picker.index("</select>")]
    for key in ("reaggregated", "previous", "current"):
        assert f'value="{runs[key].id}"' in picker
    assert f'value="{runs["unpublished"].id}"' not in picker
    assert 'id="pick-unit"' not in html  # a province user cannot pick another province


@pytest.mark.parametrize("kind", ["trend", "forest-communes", "forest-centres",
                                  "heatmap-communes", "heatmap-centres"])
def test_charts_are_png_with_alt_text(province_client: FlaskClient, runs: dict[str, RunInfo],
                                      kind: str) -> None:
    run = runs["current"].id
    resp = province_client.get(f"/reports/run/{run}/01/chart/{kind}.png")
    assert resp.status_code == 200
    assert resp.mimetype == "image/png"
    assert resp.data[:8] == b"\x89PNG\r\n\x1a\n"
    again = province_client.get(f"/reports/run/{run}/01/chart/{kind}.png")
    assert again.data == resp.data  # cached per run
    html = province_client.get("/reports/").get_data(as_text=True)
    img = re.search(rf'<img[^>]+chart/{kind}\.png"[^>]*>', html)
    assert img
    assert re.search(r'alt="[^"]{40,}"', img.group(0))


def test_statistician_picks_any_province_and_previews_unpublished(
        client: FlaskClient, staff: StaffInfo, runs: dict[str, RunInfo]) -> None:
    sign_in(client, staff.statistician)
    overview = client.get("/reports/").get_data(as_text=True)
    assert "Hồ Chí Minh" in overview
    assert "Hà Nội" in overview
    page = client.get("/reports/?unit=79")
    assert page.status_code == 200
    assert "Phường Sài Gòn" in page.get_data(as_text=True)
    preview = client.get(f"/reports/run/{runs['unpublished'].id}/79/")
    assert preview.status_code == 200
    assert "Chưa công bố" in preview.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/reports/run/999999/01/", "/reports/run/1/xx%00/",
                                  "/reports/?run=abc", "/reports/?unit=%00",
                                  "/reports/run/1/01/chart/pie.png",
                                  "/reports/run/1/01/download.docx"])
def test_unknown_ids_get_a_vietnamese_404(client: FlaskClient, staff: StaffInfo,
                                          runs: dict[str, RunInfo], path: str) -> None:
    sign_in(client, staff.statistician)
    resp = client.get(path)
    assert resp.status_code == 404
    assert "Không tìm thấy kết quả" in resp.get_data(as_text=True)


def test_no_published_run_yet(client: FlaskClient, staff: StaffInfo) -> None:
    sign_in(client, staff.province)
    resp = client.get("/reports/")
    assert resp.status_code == 200
    assert "Chưa có kết quả nào được công bố" in resp.get_data(as_text=True)


def test_dashboard_and_files_from_a_real_published_run(app: Flask, client: FlaskClient,
                                                       staff: StaffInfo) -> None:
    """The run pipeline (services.runs.run_now on demo responses) feeds the same pages."""
    from surveyapp.services import run_demo, runs

    with app.app_context():
        period = run_demo.demo_period(responses=600, seed=11)
        run = runs.run_now(period)
        assert run.status == "done", run.error
        runs.publish(run)
        run_id = run.id
    sign_in(client, staff.province)
    html = client.get("/reports/").get_data(as_text=True)
    assert "Chỉ số hài lòng – Hà Nội" in html
    assert "Phường Ba Đình" in html
    assert "Hồ Chí Minh" not in html
    for fmt in ("csv", "xlsx", "pdf"):
        resp = client.get(f"/reports/run/{run_id}/01/download.{fmt}")
        assert resp.status_code == 200
    for kind in ("trend", "forest-communes", "heatmap-centres"):
        assert client.get(f"/reports/run/{run_id}/01/chart/{kind}.png").status_code == 200
