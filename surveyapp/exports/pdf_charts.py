"""The forest plot and the content-by-unit heatmap drawn straight into the PDF (fpdf2 vectors).

Why not the dashboard's matplotlib PNGs: a province with a hundred communes and three hundred
centres needs fifteen chart pages, and matplotlib costs ~1 ms per text label and ~0.3 s per
figure -- about 9 s of a 10 s report -- while these lines, dots and words cost milliseconds,
print sharp at any zoom, keep the file small and leave the unit names searchable. They draw the
same ``surveyapp.charts.series`` data with the same encodings as ``surveyapp.charts.draw``:
Okabe-Ito colours, triangles and words for "below the rest", hollow markers and * for "use with
caution", the province's line and band, cividis cells with the number written in, suppressed
units and cells as words or hatching, never a number. One page holds ``series.PER_PAGE`` units
at most; a chart's pages share one scale.
"""

from __future__ import annotations

from flask_babel import gettext as _
from fpdf import FPDF

from surveyapp.charts import BLUE, GREY, VERMILLION
from surveyapp.charts.series import Forest, Heatmap, forest_range, heatmap_scale
from surveyapp.exports.pdf_table import string_width
from surveyapp.reports import fmt
from surveyapp.reports.labels import content_name

ROW = 5.2  # mm per unit
LABEL_W = 58.0  # mm for unit names
NOTE_W = 36.0  # mm right of the scale for "85,3% * below the rest"
PT = 0.3528  # mm per point


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _text(pdf: FPDF, x: float, y_mid: float, text: str, size: float = 7.5,
          align: str = "L", colour: tuple[int, int, int] = (0, 0, 0), bold: bool = False,
          fit: float | None = None) -> None:
    """Text vertically centred on ``y_mid``; ``align`` L/R/C about ``x``; shortened to
    ``fit`` mm if given."""
    pdf.set_font("DejaVu", "B" if bold else "", size)
    width = string_width(pdf, text) if align != "L" or fit is not None else 0.0
    if fit is not None and width > fit:
        text = _fit(pdf, text, fit)
        width = string_width(pdf, text)
    pdf.set_text_color(*colour)
    left = x - width if align == "R" else x - width / 2 if align == "C" else x
    pdf.text(left, y_mid + size * PT * 0.36, text)


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """``text`` shortened in the middle to ``width`` mm in the current font: unit names share
    their beginnings ("Trung tâm Phục vụ hành chính công …") and differ at the end."""
    if string_width(pdf, text) <= width:
        return text
    head = text[: max(1, min(14, len(text) // 3))].rstrip()
    tail = text[len(head):]
    while tail and string_width(pdf, f"{head}…{tail}") > width:
        tail = tail[1:]
    return f"{head}…{tail.lstrip()}"


def _ticks(lo: float, hi: float) -> list[float]:
    """Round percentage ticks, 3-8 of them, inside [lo, hi]."""
    step = next((s for s in (0.01, 0.02, 0.05, 0.1, 0.2) if (hi - lo) / s <= 8), 0.25)
    first = -(-round(lo * 1000) // round(step * 1000)) * step
    return [round(first + k * step, 4) for k in range(int((hi - first) / step + 1e-9) + 1)]


def _title(pdf: FPDF, title: str) -> float:
    pdf.set_font("DejaVu", "B", 11)
    pdf.set_text_color(0, 0, 0)
    pdf.multi_cell(0, 5.5, title, new_x="LMARGIN", new_y="NEXT")
    return pdf.get_y() + 2


def _marker(pdf: FPDF, x: float, y: float, below: bool, hollow: bool, colour: str) -> None:
    pdf.set_draw_color(*_rgb(colour))
    pdf.set_fill_color(*((255, 255, 255) if hollow else _rgb(colour)))
    pdf.set_line_width(0.35)
    if below:  # a downward triangle, as matplotlib's "v"
        pdf.polygon([(x - 1.35, y - 1.0), (x + 1.35, y - 1.0), (x, y + 1.3)], style="DF")
    else:
        pdf.circle(x, y, 1.1, style="DF")


def forest(pdf: FPDF, data: Forest, lang: str) -> None:
    """One forest-plot page at the current position (the caller adds the page)."""
    top = _title(pdf, data.title)
    left = pdf.l_margin + LABEL_W + 2
    width = pdf.epw - LABEL_W - 2 - NOTE_W
    lo, hi = data.xlim or forest_range(data.units, data.reference)

    def x_of(v: float) -> float:
        return left + (v - lo) / (hi - lo) * width

    n = max(len(data.units), 1)
    bottom = top + n * ROW
    ticks = _ticks(lo, hi)
    pdf.set_line_width(0.15)
    pdf.set_draw_color(221, 221, 221)
    for t in ticks:
        pdf.line(x_of(t), top, x_of(t), bottom)
    ref = data.reference
    if ref and ref.estimate is not None:
        if ref.low is not None and ref.high is not None:
            pdf.set_fill_color(232, 232, 232)
            pdf.rect(x_of(max(ref.low, lo)), top, x_of(min(ref.high, hi)) - x_of(max(ref.low, lo)),
                     bottom - top, style="F")
        pdf.set_draw_color(*_rgb(GREY))
        pdf.set_line_width(0.35)
        pdf.set_dash_pattern(1.6, 1.0)
        pdf.line(x_of(ref.estimate), top, x_of(ref.estimate), bottom)
        pdf.set_dash_pattern()
    for i, u in enumerate(data.units):
        y = top + (i + 0.5) * ROW
        _text(pdf, left - 2, y, u.label, 7.5, "R", fit=LABEL_W - 2)
        if u.estimate is None or u.low is None or u.high is None:
            words = _("not reliable enough to publish")
            pdf.set_font("DejaVu", "", 7)
            pdf.set_fill_color(255, 255, 255)  # over the grid and the province's line
            pdf.rect(left + 0.5, y - ROW / 2, pdf.get_string_width(words) + 1, ROW, style="F")
            _text(pdf, left + 1, y, words, 7, colour=_rgb(GREY))
            continue
        colour = VERMILLION if u.below else BLUE
        pdf.set_draw_color(*_rgb(colour))
        pdf.set_line_width(0.5)
        pdf.line(x_of(u.low), y, x_of(u.high), y)
        _marker(pdf, x_of(u.estimate), y, u.below, u.flag == "review", colour)
        note = fmt.pct(u.estimate, lang) + (" *" if u.flag == "review" else "")
        if u.below:
            note += "  " + _("below the rest")
        _text(pdf, x_of(u.high) + 1.2, y, note, 7, colour=_rgb(colour),
              fit=NOTE_W + width - (x_of(u.high) - left))
    pdf.set_draw_color(0, 0, 0)
    pdf.set_line_width(0.2)
    pdf.line(left, bottom, left + width, bottom)
    for t in ticks:
        pdf.line(x_of(t), bottom, x_of(t), bottom + 1)
        _text(pdf, x_of(t), bottom + 3, fmt.pct(t, lang, 0), 7, "C")
    _text(pdf, left + width / 2, bottom + 7.5,
          _("Satisfaction index (SIPAS) with %(level)s confidence interval", level="95%"),
          7.5, "C")
    y = bottom + 12.5
    legend = [(BLUE, False, _("Unit (%(level)s CI)", level="95%")),
              (VERMILLION, True, _("Significantly below the rest of the province (Holm)"))]
    x = pdf.l_margin
    for colour, below, label in legend:
        pdf.set_draw_color(*_rgb(colour))
        pdf.set_line_width(0.5)
        pdf.line(x, y, x + 7, y)
        _marker(pdf, x + 3.5, y, below, False, colour)
        _text(pdf, x + 9, y, label, 7)
        x += 12 + pdf.get_string_width(label)
    pdf.set_draw_color(*_rgb(GREY))
    pdf.set_line_width(0.35)
    pdf.set_dash_pattern(1.6, 1.0)
    pdf.line(pdf.l_margin, y + 5, pdf.l_margin + 7, y + 5)
    pdf.set_dash_pattern()
    _text(pdf, pdf.l_margin + 9, y + 5, _("Province: %(name)s", name=ref.label if ref else ""), 7)
    pdf.set_text_color(0, 0, 0)
    pdf.set_xy(pdf.l_margin, y + 9)


def _hatch(pdf: FPDF, x: float, y: float, w: float, h: float) -> None:
    """Grey cell with "///" hatching (45° lines cut to the cell by hand)."""
    pdf.set_fill_color(217, 217, 217)
    pdf.set_draw_color(140, 140, 140)
    pdf.set_line_width(0.15)
    pdf.rect(x, y, w, h, style="DF")
    step = 2.0
    c = -h + step / 2  # lines u - v = c, u rightwards and v upwards from the bottom left
    while c < w:
        v1, v2 = max(0.0, -c), min(h, w - c)
        pdf.line(x + c + v1, y + h - v1, x + c + v2, y + h - v2)
        c += step


def heatmap(pdf: FPDF, data: Heatmap, lang: str) -> None:
    """One heatmap page at the current position (the caller adds the page)."""
    import matplotlib  # the colour map only; the charts already load it for the trend

    cmap = matplotlib.colormaps["cividis"]
    top = _title(pdf, data.title) + 5
    bar_w = 16.0
    left = pdf.l_margin + LABEL_W + 2
    cell_w = (pdf.epw - LABEL_W - 2 - bar_w) / max(len(data.columns), 1)
    vmin, vmax = data.scale or heatmap_scale(data.cells)

    def norm(v: float) -> float:
        return min(1.0, max(0.0, (v - vmin) / (vmax - vmin)))

    for j, col in enumerate(data.columns):
        _text(pdf, left + (j + 0.5) * cell_w, top - 2.5, col, 8, "C", bold=True)
    for i, (label, row) in enumerate(zip(data.rows, data.cells, strict=True)):
        y = top + i * ROW
        _text(pdf, left - 2, y + ROW / 2, label, 7.5, "R", fit=LABEL_W - 2)
        for j, cell in enumerate(row):
            x = left + j * cell_w
            if cell.estimate is None:
                _hatch(pdf, x, y, cell_w, ROW)
                _text(pdf, x + cell_w / 2, y + ROW / 2, "—", 8, "C", (51, 51, 51))
                continue
            r, g, b, _a = cmap(norm(cell.estimate))
            pdf.set_fill_color(round(r * 255), round(g * 255), round(b * 255))
            pdf.rect(x, y, cell_w, ROW, style="F")
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.55
            text = fmt.pct(cell.estimate, lang) + ("*" if cell.flag == "review" else "")
            _text(pdf, x + cell_w / 2, y + ROW / 2, text, 7, "C",
                  (255, 255, 255) if dark else (0, 0, 0))
    bottom = top + max(len(data.rows), 1) * ROW
    _colour_bar(pdf, left + len(data.columns) * cell_w + 3, top, min(60.0, bottom - top),
                vmin, vmax, cmap, lang)
    y = bottom + 4
    keys = "; ".join(f"{c}: {content_name(c, lang)}" for c in data.columns if c != "SIPAS")
    pdf.set_xy(pdf.l_margin, y)
    pdf.set_font("DejaVu", "", 6.5)
    pdf.set_text_color(*_rgb(GREY))
    pdf.multi_cell(0, 3.2, keys, new_x="LMARGIN", new_y="NEXT")
    y = pdf.get_y() + 3
    _hatch(pdf, pdf.l_margin, y - 1.6, 6, 3.2)
    label = _("Not reliable enough to publish (no number shown)")
    _text(pdf, pdf.l_margin + 8, y, label, 7)
    _text(pdf, pdf.l_margin + 14 + pdf.get_string_width(label), y, _("* use with caution"), 7)
    pdf.set_text_color(0, 0, 0)
    pdf.set_draw_color(0, 0, 0)
    pdf.set_xy(pdf.l_margin, y + 4)


def _colour_bar(pdf: FPDF, x: float, y: float, h: float, vmin: float, vmax: float,
                cmap: object, lang: str) -> None:
    steps = 40
    for k in range(steps):
        r, g, b, _a = cmap((steps - 1 - k) / (steps - 1))  # type: ignore[operator]
        pdf.set_fill_color(round(r * 255), round(g * 255), round(b * 255))
        pdf.rect(x, y + k * h / steps, 4, h / steps + 0.05, style="F")
    for t in _ticks(vmin, vmax):
        ty = y + h * (1 - (t - vmin) / (vmax - vmin))
        pdf.set_draw_color(0, 0, 0)
        pdf.set_line_width(0.2)
        pdf.line(x + 4, ty, x + 5, ty)
        _text(pdf, x + 5.6, ty, fmt.pct(t, lang, 0), 6.5)

