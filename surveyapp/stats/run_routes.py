"""Design form, run pages (progress, results summary, diagnostics) and publishing."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from surveyapp.access import get_run_or_404
from surveyapp.extensions import db
from surveyapp.i18n import current_lang
from surveyapp.models import AdminUnit, AnalysisRun, RunResult
from surveyapp.services import frames, run_design, runs
from surveyapp.services.run_diagnostics import histogram_png
from surveyapp.services.run_table import period_counts
from surveyapp.stats import bp, labels
from surveyapp.stats.forms import ActionForm, design_form
from surveyapp.stats.routes import get_period_or_404

REFRESH_SECONDS = 3


@bp.route("/periods/<code>/design", methods=["GET", "POST"])
def design(code: str) -> ResponseReturnValue:
    """Choose the design and queue a run of the period."""
    period = get_period_or_404(code)
    n_responses, flags = period_counts(period)
    flag_codes = sorted(set(flags) | set(run_design.DEFAULT_EXCLUDE))
    form = design_form(flag_codes, run_design.DEFAULTS)
    error = None
    if form.validate_on_submit():
        try:
            run = runs.create_run(period, form.options(flag_codes), user=current_user)
        except run_design.DesignOptionError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            started = runs.wake_background_worker()
            if not started:
                flash(_("The run is queued. Start `flask --app surveyapp worker` on the "
                        "server to execute it."), "success")
            return redirect(url_for("stats.run", run_id=run.id), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("stats/design.html", period=period, form=form, flags=flags,
                           flag_codes=flag_codes, n_responses=n_responses, error=error,
                           stats=frames.frame_stats(period),
                           pre_reform=period.end_date <= runs.REFORM_DATE), status


def _unit_names() -> dict[tuple[str, str], str]:
    """(level, code) -> name of units in force now and before the reform (labels only)."""
    from surveyapp.models import ServiceCentre

    lang = current_lang() == "en"
    names: dict[tuple[str, str], str] = {}
    for unit in db.session.scalars(select(AdminUnit).order_by(AdminUnit.valid_from)):
        names[(unit.level, unit.code)] = unit.name_en if lang else unit.name_vi
    for centre in db.session.scalars(select(ServiceCentre)):
        names[("centre", centre.code)] = centre.name_en if lang else centre.name_vi
    return names


@bp.get("/runs/<int:run_id>")
def run(run_id: int) -> ResponseReturnValue:
    run_ = get_run_or_404(run_id)
    summary: list[RunResult] = []
    if run_.status == "done":
        summary = list(db.session.scalars(
            select(RunResult).where(RunResult.run_id == run_.id,
                                    RunResult.level.in_(("country", "province")),
                                    RunResult.statistic != "criterion")
            .order_by(RunResult.level, RunResult.unit_code, RunResult.variable)))
    code, _sep, detail = (run_.error or "").partition("|")
    refresh = REFRESH_SECONDS if run_.status in ("queued", "running") else None
    if run_.status == "queued":
        runs.wake_background_worker()
    return render_template("stats/run.html", run=run_, summary=summary, error_code=code,
                           error_detail=detail, refresh=refresh, names=_unit_names(),
                           action=ActionForm(), flags=labels.FLAGS,
                           reliability=labels.reliability,
                           progress_note=runs.progress_label(run_.progress_note))


@bp.get("/runs/<int:run_id>/diagnostics")
def diagnostics(run_id: int) -> ResponseReturnValue:
    run_ = get_run_or_404(run_id)
    if run_.status != "done":
        abort(404)
    return render_template("stats/diagnostics.html", run=run_, diag=run_.diagnostics or {},
                           names=_unit_names(), actions=labels.ACTIONS,
                           cell_reason=labels.cell_reason)


@bp.get("/runs/<int:run_id>/weights.png")
def weights_png(run_id: int) -> Response:
    run_ = get_run_or_404(run_id)
    if run_.status != "done":
        abort(404)
    png = histogram_png((run_.diagnostics or {}).get("histogram", {}),
                        _("Design weight (log scale)"), _("Responses"))
    return Response(png, mimetype="image/png",
                    headers={"Cache-Control": "private, max-age=3600"})


@bp.post("/runs/<int:run_id>/publish")
def publish(run_id: int) -> ResponseReturnValue:
    run_ = get_run_or_404(run_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        runs.publish(run_, user=current_user)
    except runs.PublishError as exc:
        flash(str(exc), "error")
    else:
        flash(_("Run %(id)s is published: province users can now see it.", id=run_.id),
              "success")
    return redirect(url_for("stats.run", run_id=run_.id), 303)


@bp.post("/runs/<int:run_id>/unpublish")
def unpublish(run_id: int) -> ResponseReturnValue:
    run_ = get_run_or_404(run_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    runs.unpublish(run_, user=current_user)
    flash(_("Run %(id)s is no longer published.", id=run_.id), "success")
    return redirect(url_for("stats.run", run_id=run_.id), 303)


__all__ = ["AnalysisRun"]
