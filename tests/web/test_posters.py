"""QR posters: PNG, SVG and a PDF whose text reads back in correct Vietnamese."""

from __future__ import annotations

import re

from pypdf import PdfReader


def test_poster_files_for_centre_and_counter(app, runner, tmp_path, client):
    r = runner.invoke(args=["links", "--centre", "X00004", "--per-counter", "--posters",
                            str(tmp_path)])
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(f"X00004{s}.{ext}" for s in ("", "-quay-1", "-quay-2")
                           for ext in ("png", "svg", "pdf"))
    assert (tmp_path / "X00004.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (tmp_path / "X00004.svg").read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml")
    assert "<svg" in svg
    assert "ĐÁNH GIÁ MỨC ĐỘ HÀI LÒNG" in svg  # the accessible title, with diacritics

    text = "\n".join(page.extract_text() for page in PdfReader(tmp_path / "X00004-quay-1.pdf")
                     .pages)
    for phrase in ("ĐÁNH GIÁ MỨC ĐỘ HÀI LÒNG", "cơ quan hành chính nhà nước",
                   "Trung tâm Phục vụ hành chính công phường Ba Đình", "Quầy 1",
                   "Không áp dụng", "Ông/Bà", "số định danh"):
        assert phrase in text, phrase
    url = re.search(r"http://sipas\.test(/s/X00004\?\S+)", text).group(1)
    assert "c=1" in url
    assert client.get(url).status_code == 200  # the printed link works


def test_qr_encodes_the_link(app):
    import segno

    from surveyapp.exports.posters import qr

    code = qr("http://sipas.test/s/P01?exp=20991231&sig=abc")
    assert isinstance(code, segno.QRCode)
    assert code.error in ("M", "Q", "H")  # at least M; segno may boost it for free
