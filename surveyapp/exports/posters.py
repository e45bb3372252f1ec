"""Printable QR posters for a centre's (or counter's) signed phone link: PNG, SVG and an A4 PDF.

The PDF embeds the bundled DejaVu Sans (``surveyapp/fonts``, Bitstream Vera licence kept beside
it) so Vietnamese diacritics print correctly on any machine.
"""

from __future__ import annotations

import datetime as dt
import io
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from surveyapp.models import Counter, ServiceCentre

if TYPE_CHECKING:
    import segno

TITLE_VI = "ĐÁNH GIÁ MỨC ĐỘ HÀI LÒNG"
SUBTITLE_VI = "về sự phục vụ của cơ quan hành chính nhà nước"
STEPS_VI = [
    "1. Mở máy ảnh hoặc ứng dụng quét mã QR trên điện thoại.",
    "2. Quét mã bên dưới và làm theo hướng dẫn (khoảng 1 phút).",
    "3. Ông/Bà có thể chọn “Không áp dụng” cho nội dung không sử dụng.",
]
PRIVACY_VI = "Không cần đăng nhập. Không thu thập họ tên, số điện thoại, số định danh."
TITLE_EN = "Rate our service: scan the QR code with your phone (English available)."


def _font_path(name: str) -> str:
    return str(resources.files("surveyapp").joinpath("fonts", name))


def qr(url: str) -> segno.QRCode:
    """Error level M leaves room for a little dirt or a fold on a printed poster."""
    import segno  # here, not at app start

    return segno.make(url, error="m", micro=False)


def poster_pdf(centre: ServiceCentre, counter: Counter | None, url: str,
               expires: dt.date) -> bytes:
    from fpdf import FPDF  # here, not at app start
    from fpdf.enums import XPos, YPos

    pdf = FPDF(format="A4", unit="mm")
    pdf.set_auto_page_break(False)
    pdf.set_title(f"{TITLE_VI} – {centre.name_vi}")
    pdf.set_creator("sipas")
    pdf.add_font("DejaVu", "", _font_path("DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", _font_path("DejaVuSans-Bold.ttf"))
    pdf.add_page()
    width = pdf.w - 2 * pdf.l_margin
    pdf.set_y(18)
    pdf.set_font("DejaVu", "B", 26)
    pdf.multi_cell(width, 12, TITLE_VI, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("DejaVu", "", 16)
    pdf.multi_cell(width, 8, SUBTITLE_VI, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font("DejaVu", "B", 15)
    pdf.multi_cell(width, 8, centre.name_vi, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if counter is not None:
        pdf.set_font("DejaVu", "", 14)
        pdf.multi_cell(width, 8, counter.name_vi, align="C", new_x=XPos.LMARGIN,
                       new_y=YPos.NEXT)
    png = io.BytesIO()
    qr(url).save(png, kind="png", scale=12, border=2)
    png.seek(0)
    size = 110
    pdf.image(png, x=(pdf.w - size) / 2, y=pdf.get_y() + 6, w=size, h=size)
    pdf.set_y(pdf.get_y() + size + 10)
    pdf.set_font("DejaVu", "", 13)
    for line in STEPS_VI:
        pdf.multi_cell(width, 7, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_font("DejaVu", "", 11)
    pdf.multi_cell(width, 6, PRIVACY_VI, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.multi_cell(width, 6, TITLE_EN, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(pdf.h - 28)
    pdf.set_font("DejaVu", "", 9)
    pdf.multi_cell(width, 5, url, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.multi_cell(width, 5, f"Mã có hiệu lực đến hết ngày {expires:%d/%m/%Y}.", align="C",
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def write_posters(folder: Path, centre: ServiceCentre, counter: Counter | None, url: str,
                  expires: dt.date) -> list[Path]:
    """Write ``<centre>[-<counter>].png/.svg/.pdf`` into ``folder``; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = centre.code + (f"-quay-{counter.code}" if counter is not None else "")
    code = qr(url)
    png, svg, pdf = (folder / f"{stem}.{ext}" for ext in ("png", "svg", "pdf"))
    code.save(str(png), kind="png", scale=12, border=4)
    code.save(str(svg), kind="svg", scale=10, border=4, title=f"{TITLE_VI} – {centre.name_vi}")
    pdf.write_bytes(poster_pdf(centre, counter, url, expires))
    return [png, svg, pdf]
