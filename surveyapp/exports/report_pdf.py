"""A province report as PDF (fpdf2, bundled DejaVu Sans so Vietnamese diacritics are right):
title page with the caveats, summary with change and drivers, charts, ranked tables, criteria,
and method notes. Suppressed cells print a sentence, never a number."""

from __future__ import annotations

import io
from pathlib import Path

from flask import current_app, has_app_context
from flask_babel import gettext as _
from fpdf import FPDF
from fpdf.fonts import FontFace

from surveyapp.charts import ChartCache, series
from surveyapp.exports import pdf_charts
from surveyapp.exports.pdf_table import Cell, RuledTable
from surveyapp.reports import fmt
from surveyapp.reports.data import ProvinceReport, UnitResults
from surveyapp.reports.labels import reason_text, variable_name
from surveyapp.reports.notes import (
    convention_note,
    method_notes,
    reaggregation_note,
    self_selection_note,
)

FONTS = Path(__file__).resolve().parent.parent / "fonts"
HEAD = FontFace(emphasis="BOLD", fill_color=(232, 238, 244))


class ReportPDF(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", size=7)
        self.set_text_color(110, 110, 110)
        self.cell(0, 6, f"{self.footer_text} · {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0, 0, 0)


def _pdf() -> ReportPDF:
    pdf = ReportPDF(format="A4")
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(True, margin=16)
    pdf.set_margins(16, 14, 16)
    pdf.alias_nb_pages()
    return pdf


def _h(pdf: FPDF, text: str, size: int = 13) -> None:
    pdf.set_font("DejaVu", "B", size)
    pdf.multi_cell(0, size * 0.55, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1.5)
    pdf.set_font("DejaVu", size=9)


def _p(pdf: FPDF, text: str, size: float = 9) -> None:
    pdf.set_font("DejaVu", size=size)
    pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1.2)


def _value(row: object | None, lang: str) -> tuple[str, str]:
    """(value, interval) of a row, or the suppression words."""
    if row is None:
        return "—", ""
    if getattr(row, "flag", "ok") == "suppress" or getattr(row, "estimate", None) is None:
        return _("not published"), ""
    star = " *" if row.flag == "review" else ""  # type: ignore[attr-defined]
    return (fmt.pct(row.estimate, lang, 2) + star,  # type: ignore[attr-defined]
            fmt.pct_range(row.ci_low, row.ci_high, lang))  # type: ignore[attr-defined]


def _chart(report: ProvinceReport, kind: str) -> bytes:
    from surveyapp.reports.render import chart_png

    if not has_app_context():
        return chart_png(report, kind)
    cache: ChartCache = current_app.extensions.setdefault("report_charts", ChartCache())
    history_key = tuple(p.run.id for p in report.history.trend) if report.history else ()
    return cache.get((report.run.id, report.code, kind, report.lang, history_key),
                     lambda: chart_png(report, kind))


def _unit_chart_pages(pdf: ReportPDF, report: ProvinceReport, kind: str, caption: str) -> None:
    """A forest plot or heatmap of units drawn in the PDF, ``series.PER_PAGE`` units a page."""
    from surveyapp.reports.render import unit_chart

    chart, data = unit_chart(report, kind)
    if chart == "forest":
        for page in series.forest_pages(data):  # type: ignore[arg-type]
            pdf.add_page()
            pdf_charts.forest(pdf, page, report.lang)
            _p(pdf, caption, 8)
    else:
        for page in series.heatmap_pages(data):  # type: ignore[arg-type]
            pdf.add_page()
            pdf_charts.heatmap(pdf, page, report.lang)
            _p(pdf, caption, 8)


def _title_page(pdf: ReportPDF, report: ProvinceReport) -> None:
    lang, run = report.lang, report.run
    pdf.add_page()
    pdf.ln(30)
    pdf.set_font("DejaVu", "B", 20)
    pdf.multi_cell(0, 10, _("Satisfaction with public administrative services"), align="C",
                   new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("DejaVu", "B", 16)
    pdf.multi_cell(0, 9, report.name, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", size=12)
    pdf.multi_cell(0, 7, run.period.label(lang), align="C", new_x="LMARGIN", new_y="NEXT")
    published = run.published_at.strftime("%d/%m/%Y") if run.published_at else _("not published")
    pdf.multi_cell(0, 6, _("Run %(run)s · published %(date)s", run=run.id, date=published),
                   align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(12)
    for text in (convention_note(), self_selection_note(), reaggregation_note(run)):
        if text:
            _p(pdf, text, 9.5)


def _summary(pdf: ReportPDF, report: ProvinceReport) -> None:
    lang = report.lang
    pdf.add_page()
    _h(pdf, _("Summary"))
    with pdf.table(col_widths=(70, 24, 34, 24, 26), text_align=("LEFT", "RIGHT", "RIGHT",
                                                                   "RIGHT", "RIGHT"),
                   headings_style=HEAD, line_height=5) as table:
        table.row([_("Index"), _("Satisfied"), _("95% CI"), _("Respondents"), _("Country")])
        for var in ["SIPAS", *report.contents]:
            row = report.province.rows.get(var)
            value, ci = _value(row, lang)
            table.row([f"{var} – {variable_name(var, lang)}" if var != "SIPAS"
                       else variable_name(var, lang), value, ci,
                       fmt.number(row.n, lang) if row else "",
                       _value(report.country.rows.get(var), lang)[0]])
    notes = [f"{variable_name(v, lang)}: {reason_text(r, lang)}"
             for v, r in report.province.rows.items()
             if r.statistic != "criterion" and r.flag != "ok" and reason_text(r, lang)]
    for note in notes:
        _p(pdf, "* " + note, 8)
    hist = report.history
    if hist is None or hist.previous_run is None:
        _p(pdf, _("No earlier published period to compare with."))
        return
    _h(pdf, _("Change from %(period)s", period=hist.previous_run.period.label(lang)), 11)
    with pdf.table(col_widths=(56, 20, 20, 22, 32, 28),
                   text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "CENTER"),
                   headings_style=HEAD, line_height=5) as table:
        table.row([_("Index"), _("Before"), _("Now"), _("Change (points)"), _("95% CI"),
                   _("Significant")])
        for c in hist.changes:
            before, now = _value(c.previous, lang)[0], _value(c.current, lang)[0]
            if not c.comparable:
                table.row([variable_name(c.variable, lang), before, now, "—", "", ""])
                continue
            table.row([variable_name(c.variable, lang), before, now, fmt.points(c.change, lang),
                       f"{fmt.points(c.low, lang)} … {fmt.points(c.high, lang)}",
                       _("significant") if c.significant else _("not significant")])
    if hist.drivers:
        parts = [f"{variable_name(d.variable, lang)} ({fmt.points(d.contribution, lang, 2)})"
                 for d in hist.drivers[:3]]
        _p(pdf, _("Contributions to the change in SIPAS (points): %(list)s.",
                  list="; ".join(parts)))


def _unit_table(pdf: ReportPDF, report: ProvinceReport, units: list[UnitResults],
                title: str) -> None:
    lang = report.lang
    _h(pdf, title, 11)
    table = RuledTable(pdf, (12, 52, 20, 30, 18, 30, 16),
                       ("R", "L", "R", "R", "C", "R", "R"),
                       [_("Rank"), _("Unit"), _("SIPAS"), _("95% CI"), _("Rank interval"),
                        _("Difference from the rest"), _("Respondents")])
    for u in units:
        row = u.sipas
        value, ci = _value(row, lang)
        if row is None or row.flag == "suppress" or row.estimate is None:
            table.row(["", u.name,
                       Cell(f"{value}: {reason_text(row, lang)}" if row else value, 4, "L"),
                       fmt.number(row.n, lang) if row else ""])
            continue
        interval = f"{row.rank_low}–{row.rank_high}" if row.rank_low else ""
        diff = fmt.points(row.diff_rest, lang) + (" ▼" if row.below else "")
        table.row([str(row.rank or ""), u.name, value, ci, interval, diff,
                   fmt.number(row.n, lang)])
    pdf.ln(1.5)
    _p(pdf, _("▼ significantly below the rest of the province (Holm-adjusted); * use with "
              "caution."), 7.5)


def _criteria(pdf: ReportPDF, report: ProvinceReport) -> None:
    lang = report.lang
    pdf.add_page()
    _h(pdf, _("Criteria"))
    with pdf.table(col_widths=(14, 96, 22, 30, 16), headings_style=HEAD, line_height=4.4,
                   text_align=("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT")) as table:
        table.row([_("Code"), _("Criterion"), _("Satisfied"), _("95% CI"), _("Respondents")])
        for code, _content, text in report.criteria:
            row = report.province.rows.get(code)
            value, ci = _value(row, lang)
            if row is not None and row.flag == "suppress":
                ci = reason_text(row, lang)
            table.row([code, text, value, ci, fmt.number(row.n, lang) if row else ""])


def write(report: ProvinceReport) -> bytes:
    lang = report.lang
    pdf = _pdf()
    pdf.footer_text = _("SIPAS report · %(province)s · %(period)s",
                        province=report.name, period=report.run.period.label(lang))
    pdf.set_title(_("SIPAS report · %(province)s · %(period)s", province=report.name,
                    period=report.run.period.label(lang)))
    pdf.set_lang(lang)
    _title_page(pdf, report)
    _summary(pdf, report)
    captions = {
        "trend": _("Trend across published periods. A vertical dotted line marks a series "
                   "break (new questionnaire or re-aggregated geography): values on its two "
                   "sides are not directly comparable."),
        "forest-communes": _("▼ significantly below the rest of the province (Holm-adjusted); "
                             "* use with caution."),
        "heatmap-communes": _("Hatched cells are not reliable enough to publish; * marks "
                              "values to use with caution."),
        "forest-centres": _("▼ significantly below the rest of the province (Holm-adjusted); "
                            "* use with caution."),
    }
    pdf.add_page()
    pdf.image(io.BytesIO(_chart(report, "trend")), w=pdf.epw, keep_aspect_ratio=True)
    _p(pdf, captions["trend"], 8)
    for kind in ("forest-communes", "heatmap-communes", "forest-centres"):
        if report.communes if "communes" in kind else report.centres:
            _unit_chart_pages(pdf, report, kind, captions[kind])
    pdf.add_page()
    _unit_table(pdf, report, report.communes, _("Communes ranked"))
    _unit_table(pdf, report, report.centres, _("Service centres ranked"))
    _criteria(pdf, report)
    pdf.add_page()
    _h(pdf, _("Method notes"))
    province_n = report.province.sipas.n if report.province.sipas else None
    for topic, text in method_notes(report.run, province_n, lang):
        pdf.set_font("DejaVu", "B", 9.5)
        pdf.multi_cell(0, 5, topic, new_x="LMARGIN", new_y="NEXT")
        _p(pdf, text)
    return bytes(pdf.output())
