"""Charts and files for one ``ProvinceReport``: shared by the routes, the CLI and the API."""

from __future__ import annotations

from flask_babel import force_locale
from flask_babel import gettext as _

from surveyapp.charts import series
from surveyapp.reports.data import ProvinceReport

CHART_KINDS = ("forest-communes", "forest-centres", "heatmap-communes", "heatmap-centres",
               "trend")
DOWNLOADS = {"csv": "text/csv; charset=utf-8",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             "pdf": "application/pdf"}


def unit_chart(report: ProvinceReport, kind: str) -> tuple[str, series.Forest | series.Heatmap]:
    """("forest" or "heatmap", its data) for a ``CHART_KINDS`` kind other than the trend; the
    dashboard draws it with matplotlib, the PDF in vectors a page at a time."""
    chart, level = kind.split("-")
    level = "commune" if level == "communes" else "centre"
    with force_locale(report.lang):
        title = (_("Communes of %(name)s", name=report.name) if level == "commune"
                 else _("Service centres of %(name)s", name=report.name))
    if chart == "forest":
        return chart, series.forest(report, level, title)
    return chart, series.heatmap(report, level, title)


def chart_png(report: ProvinceReport, kind: str) -> bytes:
    from surveyapp.charts.draw import forest_png, heatmap_png, trend_png  # matplotlib: lazily

    lang = report.lang
    with force_locale(lang):
        if kind == "trend":
            return trend_png(series.trend(report, _("SIPAS – %(name)s", name=report.name)), lang)
        chart, data = unit_chart(report, kind)
        if chart == "forest":
            return forest_png(data, lang)  # type: ignore[arg-type]
        return heatmap_png(data, lang)  # type: ignore[arg-type]


def file_name(report: ProvinceReport, ext: str) -> str:
    return f"sipas-{report.run.period.code}-{report.code}-run{report.run.id}.{ext}"


def download_bytes(report: ProvinceReport, fmt: str) -> tuple[bytes, str, str]:
    """(body, mimetype, file name) of a report file."""
    from surveyapp.exports import report_csv, report_pdf, report_xlsx

    writer = {"csv": report_csv.write, "xlsx": report_xlsx.write, "pdf": report_pdf.write}[fmt]
    with force_locale(report.lang):
        body = writer(report)
    return body, DOWNLOADS[fmt], file_name(report, fmt)
