"""A province official in headless Chromium: signs in, reads the dashboard (charts load), downloads
the PDF; axe-core finds no serious or critical violation on the dashboard.

``SIPAS_SCREENSHOTS=1`` also writes the dashboard and a rendered PDF page into
``docs/screenshots/`` (the README's Reports section shows them).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from pypdf import PdfReader

from tests.browser.conftest import ARTIFACTS, TIMEOUT_MS
from tests.conftest import StaffInfo
from tests.web.helpers import STAFF_PASSWORD
from tests.web.reports_data import OTHER_PROVINCE_NAMES, make_runs

pytestmark = pytest.mark.browser
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def page(chromium: Any, live_server: str) -> Any:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN",
                                   accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_province_user_reads_dashboard_and_downloads_pdf(
        app: Flask, staff: StaffInfo, live_server: str, page: Any, tmp_path: Path) -> None:
    runs = make_runs(app)
    page.goto(f"{live_server}/login")
    page.get_by_label("Tên đăng nhập").fill(staff.province)
    page.get_by_label("Mật khẩu").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{live_server}/reports/")
    heading = page.get_by_role("heading", level=1)
    assert heading.inner_text() == "Chỉ số hài lòng – Hà Nội"
    body = page.locator("main").inner_text()
    assert "Thủ tục hành chính" in body
    assert "Không công bố" in body
    assert not re.search(r"\d\.\d%", body), "Vietnamese pages write 82,5%, not 82.5%"
    for name in OTHER_PROVINCE_NAMES:
        assert name not in body
    images = page.locator("img.chart")
    assert images.count() == 5
    for i in range(images.count()):
        images.nth(i).scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                               arg=images.nth(i).element_handle())
        assert len(images.nth(i).get_attribute("alt") or "") > 40

    result = Axe().run(page)
    blocking = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
                for v in result.response["violations"] if v["impact"] in ("serious", "critical")]
    assert blocking == []

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reports-dashboard.png"), full_page=True)
    # generous: on a loaded shared CI machine the PDF (charts drawn fresh) takes seconds
    with page.expect_download(timeout=90_000) as info:
        page.get_by_role("link", name="Báo cáo PDF").click(timeout=90_000)
    pdf_path = tmp_path / "report.pdf"
    info.value.save_as(pdf_path)
    assert info.value.suggested_filename == f"sipas-2026-Q1-01-run{runs['current'].id}.pdf"
    reader = PdfReader(io.BytesIO(pdf_path.read_bytes()))
    text = " ".join(p.extract_text() for p in reader.pages)
    assert "Hà Nội" in text
    assert "Thủ tục hành chính" in text
    if os.environ.get("SIPAS_SCREENSHOTS"):
        _save_screenshots(page, pdf_path)


def _save_screenshots(page: Any, pdf_path: Path) -> None:
    """Dashboard (top, and the communes section) and two PDF pages at 80 dpi."""
    DOCS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(DOCS / "dashboard.png"))
    page.locator("#communes").scroll_into_view_if_needed()
    page.evaluate("document.getElementById('communes').scrollIntoView()")
    page.screenshot(path=str(DOCS / "dashboard-communes.png"))
    if shutil.which("pdftoppm"):
        for number, name in ((2, "report-page-summary"), (4, "report-page-forest")):
            subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", str(number), "-l", str(number),
                            "-singlefile", str(pdf_path), str(DOCS / name)], check=True)  # noqa: S603,S607
