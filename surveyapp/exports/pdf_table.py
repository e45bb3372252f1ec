"""A plain ruled table for long unit lists in the PDF (hundreds of communes and centres).

Why not fpdf2's ``pdf.table``: it lays out every cell twice with its line breaker (~0.4 ms a
cell, 1.3 s of a 2 s report for a province with 150 communes and 400 centres). This writes the
words with ``text`` and the rules with ``rect`` (~0.03 ms a cell), wraps only the cells that do
not fit on one line, and repeats the heading row on every page.
"""

from __future__ import annotations

from dataclasses import dataclass

from fpdf import FPDF

PT = 0.3528  # mm per point


@dataclass(frozen=True)
class Cell:
    text: str
    span: int = 1  # columns this cell covers
    align: str | None = None  # L, R or C; None: the column's


def string_width(pdf: FPDF, text: str) -> float:
    """``pdf.get_string_width(text)`` in the current font, remembered per document: a large
    province's report measures ~20,000 strings, most of them numbers and names it has
    measured before (fpdf2 takes ~40 us a call)."""
    cache: dict[tuple[str, str, float, str], float] = pdf.__dict__.setdefault(
        "_sipas_widths", {})
    key = (pdf.font_family, pdf.font_style, pdf.font_size_pt, text)
    width = cache.get(key)
    if width is None:
        width = cache[key] = pdf.get_string_width(text)
    return width


def wrap(pdf: FPDF, text: str, width: float) -> list[tuple[str, float]]:
    """Greedy word wrap to ``width`` mm in the current font (a too-long word is cut): the
    lines with their widths (measuring is most of the cost, so each is measured once)."""
    def measure(t: str) -> float:
        return string_width(pdf, t)

    full = measure(text)
    if full <= width:
        return [(text, full)]
    lines: list[tuple[str, float]] = []
    line, line_w = "", 0.0
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        candidate_w = measure(candidate)
        if candidate_w <= width:
            line, line_w = candidate, candidate_w
            continue
        if line:
            lines.append((line, line_w))
        while measure(word) > width and len(word) > 1:
            cut = len(word) - 1
            while cut > 1 and measure(word[:cut]) > width:
                cut -= 1
            lines.append((word[:cut], measure(word[:cut])))
            word = word[cut:]
        line, line_w = word, measure(word)
    if line:
        lines.append((line, line_w))
    return lines or [("", 0.0)]


class RuledTable:
    """Rows of cells with borders, a shaded bold heading repeated after each page break."""

    def __init__(self, pdf: FPDF, widths: tuple[float, ...], aligns: tuple[str, ...],
                 heading: list[str], size: float = 9, line_h: float = 4.6, pad: float = 1.0,
                 fill: tuple[int, int, int] = (232, 238, 244)) -> None:
        self.pdf, self.widths, self.aligns = pdf, widths, aligns
        self.size, self.line_h, self.pad, self.fill = size, line_h, pad, fill
        self.heading = [Cell(t) for t in heading]
        self._row(self.heading, bold=True)

    def row(self, cells: list[str | Cell]) -> None:
        self._row([c if isinstance(c, Cell) else Cell(c) for c in cells])

    def _row(self, cells: list[Cell], bold: bool = False) -> None:
        pdf = self.pdf
        pdf.set_font("DejaVu", "B" if bold else "", self.size)
        spans, col = [], 0
        for cell in cells:
            width = sum(self.widths[col:col + cell.span])
            align = cell.align or self.aligns[col]
            spans.append((cell, width, align, wrap(pdf, cell.text, width - 2 * self.pad)))
            col += cell.span
        height = max(len(lines) for *_c, lines in spans) * self.line_h + 0.6
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page()
            if not bold:
                self._row(self.heading, bold=True)
                pdf.set_font("DejaVu", "", self.size)
        x, y = pdf.l_margin, pdf.get_y()
        pdf.set_draw_color(0, 0, 0)
        pdf.set_line_width(0.2)
        if bold:
            pdf.set_fill_color(*self.fill)
        for _cell, width, align, lines in spans:
            pdf.rect(x, y, width, height, style="DF" if bold else "D")
            top = y + (height - len(lines) * self.line_h) / 2
            for k, (line, line_w) in enumerate(lines):
                room = 0.0 if align == "L" else width - 2 * self.pad - line_w
                baseline = top + (k + 0.5) * self.line_h + self.size * PT * 0.36
                pdf.text(x + self.pad + (room / 2 if align == "C" else room), baseline, line)
            x += width
        pdf.set_xy(pdf.l_margin, y + height)
