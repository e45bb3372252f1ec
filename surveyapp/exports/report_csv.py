"""A province report as CSV: UTF-8 with BOM (Excel shows Vietnamese), formula-safe cells,
proportions as percentages with two decimals (dot decimal, machine-readable)."""

from __future__ import annotations

import csv
import io

from surveyapp.exports.report_table import COLUMNS, headers, rows
from surveyapp.exports.writers import escape_formula
from surveyapp.reports.data import ProvinceReport


def _cell(value: object, percent: bool) -> object:
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value * 100, 2) if percent else round(value, 4)
    return escape_formula(value)


def write(report: ProvinceReport) -> bytes:
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow([h + (" (%)" if pct else "") for h, (_k, pct) in zip(headers(), COLUMNS,
                                                                    strict=True)])
    for row in rows(report):
        out.writerow([_cell(row.values[key], pct) for key, pct in COLUMNS])
    return buf.getvalue().encode("utf-8-sig")
