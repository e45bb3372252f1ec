"""Read-only results API for signed-in staff: ``/api/v1/results/...`` (GET only).

Session authentication (the same login as the dashboard); no CSRF concern since nothing here
changes state. Scoping is ``surveyapp.reports.data`` -> ``surveyapp.access``, exactly as for
the pages: a province user sees its own province of published runs; anything else is a JSON
404. Suppressed estimates are ``null`` with their reason, never a number.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, jsonify

from surveyapp.access import role_required
from surveyapp.api import bp
from surveyapp.i18n import current_lang
from surveyapp.models import AnalysisRun, RunResult
from surveyapp.reports import data
from surveyapp.reports.labels import reason_text
from surveyapp.reports.notes import reaggregation_note

_NUMBERS = ("estimate", "se", "ci_low", "ci_high", "n_eff", "deff", "rank", "rank_low",
            "rank_high", "rank_of", "diff_rest", "diff_low", "diff_high", "p_value", "p_holm",
            "below")


def _run(run: AnalysisRun) -> dict[str, Any]:
    return {"id": run.id, "period": run.period.code, "period_label": run.period.label(
        current_lang()), "published": run.published,
        "published_at": run.published_at.isoformat() if run.published_at else None,
        "geography": run.geography, "reaggregated": run.reaggregated,
        "note": reaggregation_note(run) or None}


def _row(level: str, code: str, name: str, r: RunResult) -> dict[str, Any]:
    suppressed = r.flag == "suppress" or r.estimate is None
    out: dict[str, Any] = {"level": level, "unit_code": code, "unit_name": name,
                           "statistic": r.statistic, "variable": r.variable, "n": r.n,
                           "flag": r.flag, "reason_codes": r.reason or "",
                           "reason": reason_text(r, current_lang())}
    for key in _NUMBERS:
        out[key] = None if suppressed else getattr(r, key)
    return out


@bp.get("/results/runs")
@role_required("province", "statistician")
def results_runs() -> Response:
    return jsonify({"runs": [_run(r) for r in data.published_runs()]})


@bp.get("/results/runs/<int:run_id>")
@role_required("province", "statistician")
def results_run(run_id: int) -> Response:
    run = data.open_run(run_id)
    provinces = data.provinces_in(run, current_lang())
    return jsonify({"run": _run(run),
                    "provinces": [{"code": c, "name": n} for c, n in provinces]})


@bp.get("/results/runs/<int:run_id>/provinces/<unit>")
@role_required("province", "statistician")
def results_province(run_id: int, unit: str) -> Response:
    if not (unit.isascii() and unit.isalnum() and len(unit) <= 10):
        abort(404)
    report = data.build(run_id, unit, current_lang(), with_history=False)
    rows = []
    for u in [report.country, report.province, *report.communes, *report.centres]:
        rows += [_row(u.level, u.code, u.name, r) for r in u.rows.values()]
    return jsonify({"run": _run(report.run), "province": {"code": report.code,
                                                          "name": report.name},
                    "results": rows})
