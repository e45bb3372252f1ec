"""Province dashboards, their charts and downloads.

Every view resolves the run and province through ``surveyapp.reports.data`` (which asks
``surveyapp.access``), so whatever the URL, query string or link says, a province user only
ever gets its own province of a published run; anything else is a 404.
"""

from __future__ import annotations

import re

from flask import Response, abort, current_app, render_template, request, url_for
from flask_babel import gettext as _

from surveyapp.access import province_code, require_province, role_required
from surveyapp.charts import ChartCache
from surveyapp.i18n import current_lang
from surveyapp.reports import bp, data, fmt
from surveyapp.reports.labels import CONTENTS, content_name, flag_label, reason_sentences
from surveyapp.reports.notes import method_notes, reaggregation_note
from surveyapp.reports.render import CHART_KINDS, DOWNLOADS, chart_png, download_bytes

_UNIT = re.compile(r"^[0-9A-Za-z]{1,10}$")


def _unit_or_404(code: str | None) -> str:
    if code is None or not _UNIT.fullmatch(code):
        abort(404)
    return code


def _int_or_404(value: str | None) -> int:
    if value is None or not value.isdigit() or len(value) > 9:
        abort(404)
    return int(value)


@bp.get("/")
@role_required("province", "statistician")
def dashboard() -> str:
    """The latest published period (or the run/province picked in the form)."""
    lang = current_lang()
    runs = data.published_runs()
    run_arg, unit_arg = request.args.get("run"), request.args.get("unit")
    if run_arg:
        run = data.open_run(_int_or_404(run_arg))
    elif runs:
        run = runs[0]
    else:
        return render_template("reports/dashboard.html", report=None, runs=[], provinces=[])
    own = province_code()
    if unit_arg is not None:
        require_province(_unit_or_404(unit_arg))  # a province user naming another: 404
    code = own or unit_arg
    if code is None:
        provinces = data.provinces_in(run, lang)
        return render_template("reports/overview.html", run=run, runs=runs,
                               provinces=_overview(run, provinces))
    return _render(run.id, code, runs)


@bp.get("/run/<int:run_id>/<unit>/")
@role_required("province", "statistician")
def province(run_id: int, unit: str) -> str:
    return _render(run_id, _unit_or_404(unit), data.published_runs())


def _overview(run: object, provinces: list[tuple[str, str]]) -> list[tuple[str, str, object]]:
    from surveyapp.access import results_visible
    from surveyapp.extensions import db
    from surveyapp.models import RunResult

    rows = {r.unit_code: r for r in db.session.scalars(results_visible(run).where(
        RunResult.level == "province", RunResult.variable == "SIPAS"))}
    return [(code, name, rows.get(code)) for code, name in provinces]


def _render(run_id: int, code: str, runs: list) -> str:
    lang = current_lang()
    report = data.build(run_id, code, lang)
    provinces = data.provinces_in(report.run, lang) if province_code() is None else []
    notes = method_notes(report.run, report.province.sipas.n if report.province.sipas else None,
                         lang)
    return render_template(
        "reports/dashboard.html", report=report, runs=runs, provinces=provinces, notes=notes,
        contents=CONTENTS, content_name=content_name, flag_label=flag_label,
        reasons=lambda row: reason_sentences(row, lang), lang=lang,
        reaggregation=reaggregation_note(report.run), chart_alt=_chart_alt(report),
        charts=CHART_KINDS, downloads=DOWNLOADS)


def _chart_alt(report: data.ProvinceReport) -> dict[str, str]:
    """Alt text that states what the chart shows, with the key numbers."""
    below = [u.name for u in report.communes if u.sipas is not None and u.sipas.below]
    cbelow = [u.name for u in report.centres if u.sipas is not None and u.sipas.below]
    none = _("none")
    return {
        "forest-communes": _("Forest plot: satisfaction index of %(n)s communes in %(province)s "
                             "with 95%% confidence intervals and the province line. "
                             "Significantly below the rest: %(below)s.",
                             n=len(report.communes), province=report.name,
                             below=", ".join(below) or none),
        "forest-centres": _("Forest plot: satisfaction index of %(n)s service centres in "
                            "%(province)s with 95%% confidence intervals. Significantly below "
                            "the rest: %(below)s.", n=len(report.centres),
                            province=report.name, below=", ".join(cbelow) or none),
        "heatmap-communes": _("Heatmap: percent satisfied for each of the five contents and "
                              "SIPAS in every commune of %(province)s; hatched cells are not "
                              "reliable enough to publish.", province=report.name),
        "heatmap-centres": _("Heatmap: percent satisfied for each content in every service "
                             "centre of %(province)s; hatched cells are not reliable enough to "
                             "publish.", province=report.name),
        "trend": _("Trend: satisfaction index of %(province)s and of the country in each "
                   "published period, with 95%% confidence bands and series breaks marked.",
                   province=report.name),
    }


@bp.get("/run/<int:run_id>/<unit>/chart/<kind>.png")
@role_required("province", "statistician")
def chart(run_id: int, unit: str, kind: str) -> Response:
    if kind not in CHART_KINDS:
        abort(404)
    lang = current_lang()
    report = data.build(run_id, _unit_or_404(unit), lang, with_history=(kind == "trend"))
    history_key = tuple(p.run.id for p in report.history.trend) if report.history else ()
    cache: ChartCache = current_app.extensions.setdefault("report_charts", ChartCache())
    png = cache.get((report.run.id, report.code, kind, lang, history_key),
                    lambda: chart_png(report, kind))
    resp = Response(png, mimetype="image/png")
    resp.headers["Cache-Control"] = "private, max-age=600"
    return resp


@bp.get("/run/<int:run_id>/<unit>/download.<fmt>")
@role_required("province", "statistician")
def download(run_id: int, unit: str, fmt: str) -> Response:
    if fmt not in DOWNLOADS:
        abort(404)
    lang = current_lang()
    report = data.build(run_id, _unit_or_404(unit), lang)
    body, mimetype, name = download_bytes(report, fmt)
    resp = Response(body, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.app_context_processor
def _report_links() -> dict[str, object]:
    def report_url(run_id: int, code: str) -> str:
        return url_for("reports.province", run_id=run_id, unit=code)

    return {"report_url": report_url, "fmt": fmt}


@bp.errorhandler(403)
@bp.errorhandler(404)
def _not_here(err: Exception) -> tuple[str, int]:
    """Staff wording (the app-wide page talks to citizens at a kiosk)."""
    status = getattr(err, "code", 404) or 404
    if status == 403:
        title, message = _("Access denied"), _(
            "Your account cannot open this page. Ask the administrator if you need access.")
    else:
        title, message = _("Results not found"), _(
            "There are no published results at this address for your account. Go back to the "
            "results page and choose a period and province from the lists.")
    return render_template("reports/error.html", status=status, title=title,
                           message=message), status
