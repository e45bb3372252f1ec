"""A province report as XLSX: one sheet per level (country and province, communes, centres,
criteria) and a method-notes sheet; frozen header, numbers stored as numbers (proportions with
a % number format), sensible column widths, formula-safe text."""

from __future__ import annotations

import io

import xlsxwriter
from flask_babel import gettext as _

from surveyapp.exports.report_table import COLUMNS, headers, rows
from surveyapp.exports.writers import escape_formula
from surveyapp.reports.data import ProvinceReport
from surveyapp.reports.notes import method_notes

WIDTHS = {"level": 14, "unit_code": 10, "unit_name": 34, "variable": 9, "variable_name": 44,
          "reason": 60, "note": 40, "flag": 22}


def _sheet_names() -> list[tuple[str, str]]:
    return [("summary", _("Country and province")), ("communes", _("Communes")),
            ("centres", _("Centres")), ("criteria", _("Criteria"))]


def write(report: ProvinceReport) -> bytes:
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False,
                                     "strings_to_numbers": False, "strings_to_urls": False})
    head = book.add_format({"bold": True, "text_wrap": True, "valign": "top",
                            "bg_color": "#E8EEF4", "border": 1})
    pct = book.add_format({"num_format": "0.00%"})
    dec = book.add_format({"num_format": "0.00"})
    whole = book.add_format({"num_format": "#,##0"})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    grey = book.add_format({"font_color": "#7a7a7a", "italic": True})
    names = headers()
    for part, title in _sheet_names():
        sheet = book.add_worksheet(title[:31])
        sheet.write_row(0, 0, names, head)
        sheet.set_row(0, 45)
        sheet.freeze_panes(1, 3)
        for col, (key, is_pct) in enumerate(COLUMNS):
            sheet.set_column(col, col, WIDTHS.get(key, 12 if is_pct else 10),
                             wrap if key in ("reason", "note") else None)
        n = 0
        for n, row in enumerate(rows(report, part), start=1):
            for col, (key, is_pct) in enumerate(COLUMNS):
                value = row.values[key]
                if value is None or value == "":
                    if row.suppressed and key == "estimate":
                        sheet.write_string(n, col, _("not published"), grey)
                    continue
                if isinstance(value, bool):
                    sheet.write_string(n, col, str(value))
                elif isinstance(value, int):
                    sheet.write_number(n, col, value, whole)
                elif isinstance(value, float):
                    sheet.write_number(n, col, value, pct if is_pct else dec)
                else:
                    sheet.write_string(n, col, escape_formula(str(value)))
        sheet.autofilter(0, 0, max(n, 1), len(COLUMNS) - 1)
    notes = book.add_worksheet(_("Method notes")[:31])
    notes.set_column(0, 0, 28, wrap)
    notes.set_column(1, 1, 110, wrap)
    notes.write_row(0, 0, [_("Topic"), _("Note")], head)
    notes.freeze_panes(1, 0)
    province_n = report.province.sipas.n if report.province.sipas else None
    intro = [(_("Report"), _("%(province)s, %(period)s (run %(run)s)",
                            province=report.name, period=report.run.period.label(report.lang),
                            run=report.run.id))]
    for i, (topic, text) in enumerate(intro + method_notes(report.run, province_n,
                                                            report.lang), start=1):
        notes.write_string(i, 0, escape_formula(topic), wrap)
        notes.write_string(i, 1, escape_formula(text), wrap)
    book.close()
    return buf.getvalue()
