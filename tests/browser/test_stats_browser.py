"""A statistician in headless Chromium imports a frame, runs the analysis and publishes it;
a province official then sees the published period on the dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from tests.browser.conftest import TIMEOUT_MS
from tests.conftest import StaffInfo
from tests.web.helpers import STAFF_PASSWORD

pytestmark = pytest.mark.browser


def _sign_in(chromium: Any, base: str, username: str) -> Any:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{base}/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_load_state()
    return page


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_statistician_imports_runs_publishes_and_province_sees_it(
        app: Flask, staff: StaffInfo, live_server: str, chromium: Any, tmp_path: Path) -> None:
    from surveyapp.extensions import db
    from surveyapp.models import AnalysisRun, ServiceCentre
    from surveyapp.services import run_demo, runs

    with app.app_context():
        period = run_demo.demo_period(responses=500, seed=5, frame=False)
        code, label = period.code, period.label_vi
        centres = list(db.session.scalars(select(ServiceCentre.code)))
    frame = tmp_path / "khung-mau.csv"
    frame.write_text("centre_code,field_code,dossiers\n" + "".join(
        f"{c},,{1000 + 37 * i}\n" for i, c in enumerate(centres)), encoding="utf-8")

    page = _sign_in(chromium, live_server, staff.statistician)
    page.goto(f"{live_server}/analysis/periods/{code}")
    page.get_by_label("Tệp khung mẫu (CSV UTF-8 hoặc XLSX)").set_input_files(str(frame))
    page.get_by_role("button", name="Kiểm tra và nhập").click()
    page.wait_for_url(f"{live_server}/analysis/periods/{code}")
    assert page.locator(".flash.success").count() == 1
    page.get_by_role("link", name="Chọn thiết kế và tính toán").click()
    page.get_by_role("button", name="Bắt đầu tính").click()
    page.wait_for_url(f"{live_server}/analysis/runs/*")
    with app.app_context():
        assert runs.process_queue() == 1  # the worker's job (no worker thread in tests)
    page.reload()
    page.get_by_role("button", name="Công bố").click()
    page.wait_for_load_state()
    with app.app_context():
        run = db.session.scalar(select(AnalysisRun).order_by(AnalysisRun.id.desc()))
        assert run is not None
        assert run.status == "done"
        assert run.published
    page.context.close()

    official = _sign_in(chromium, live_server, staff.province)
    official.goto(f"{live_server}/reports/")
    assert official.get_by_role("heading", level=1).inner_text() == "Chỉ số hài lòng – Hà Nội"
    assert label in official.locator("main").inner_text()
    official.context.close()
