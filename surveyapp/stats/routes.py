"""Analysis home, periods and the frame import (statisticians and admins only; the blueprint's
``before_request`` enforces the role)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

from surveyapp.access import runs_visible
from surveyapp.extensions import db
from surveyapp.models import AnalysisRun, FrameCount, Period, ProcedureField, ServiceCentre
from surveyapp.services import frames, frames_io
from surveyapp.services.run_table import period_counts
from surveyapp.stats import bp
from surveyapp.stats.forms import FrameUploadForm, PeriodForm

#: Upload limit for this route only (the app-wide limit is 64 KB, sized for citizen forms).
UPLOAD_LIMIT = frames_io.MAX_BYTES + 64 * 1024
FRAME_ROWS_SHOWN = 200


def get_period_or_404(code: str) -> Period:
    period = frames.get_period(code)
    if period is None:
        abort(404)
    return period


@bp.get("/")
def index() -> str:
    periods = db.session.scalars(select(Period).order_by(Period.start_date.desc())).all()
    stats = {p.id: frames.frame_stats(p) for p in periods}
    runs = db.session.scalars(runs_visible().order_by(AnalysisRun.created_at.desc())
                              .limit(50)).all()
    return render_template("stats/index.html", periods=periods, stats=stats, runs=runs)


@bp.route("/periods", methods=["GET", "POST"])
def periods() -> ResponseReturnValue:
    form = PeriodForm()
    if form.validate_on_submit():
        try:
            period = frames.create_period(form.code.data, form.label_vi.data or "",
                                          form.label_en.data or "", form.start.data,
                                          form.end.data, user=current_user)
            db.session.commit()
        except frames.PeriodError as exc:
            db.session.rollback()
            form.code.errors = [*form.code.errors, str(exc)]
        else:
            flash(_("Period %(code)s created.", code=period.code), "success")
            return redirect(url_for("stats.period", code=period.code), 303)
    status = 422 if form.is_submitted() else 200
    items = db.session.scalars(select(Period).order_by(Period.start_date.desc())).all()
    return render_template("stats/periods.html", form=form, periods=items), status


def _frame_rows(period: Period) -> list:
    return db.session.execute(
        select(ServiceCentre.code, ServiceCentre.name_vi, ServiceCentre.name_en,
               ProcedureField.code, FrameCount.dossiers)
        .join(ServiceCentre, FrameCount.centre_id == ServiceCentre.id)
        .outerjoin(ProcedureField, FrameCount.field_id == ProcedureField.id)
        .where(FrameCount.period_id == period.id)
        .order_by(ServiceCentre.code, ProcedureField.code).limit(FRAME_ROWS_SHOWN)).all()


def _period_page(period: Period, form: FrameUploadForm, problems: list | None = None,
                 status: int = 200, too_large: bool = False) -> ResponseReturnValue:
    n_responses, flags = period_counts(period)
    runs = db.session.scalars(select(AnalysisRun).where(AnalysisRun.period_id == period.id)
                              .order_by(AnalysisRun.created_at.desc())).all()
    return render_template(
        "stats/period.html", period=period, form=form, problems=problems or [],
        stats=frames.frame_stats(period), frame_rows=_frame_rows(period),
        rows_shown=FRAME_ROWS_SHOWN, n_responses=n_responses, flags=flags, runs=runs,
        too_large=too_large, limit_mb=frames_io.MAX_BYTES // 2**20), status


@bp.get("/periods/<code>")
def period(code: str) -> ResponseReturnValue:
    return _period_page(get_period_or_404(code), FrameUploadForm())


@bp.url_value_preprocessor
def _upload_limit(endpoint: str | None, _values: dict | None) -> None:
    """Raise the body limit for the frame upload only. URL preprocessors run before every
    ``before_request`` hook, so the app-wide CSRF check reads the form under this limit."""
    if endpoint == "stats.frame_upload":
        request.max_content_length = UPLOAD_LIMIT


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(err: RequestEntityTooLarge) -> ResponseReturnValue:
    """An oversized frame file: say so on the period page, in the user's language."""
    code = (request.view_args or {}).get("code")
    allowed = current_user.is_authenticated and current_user.role in ("admin", "statistician")
    if request.endpoint == "stats.frame_upload" and allowed and code:
        return _period_page(get_period_or_404(code), FrameUploadForm(formdata=None),
                            status=413, too_large=True)
    from surveyapp.errors.handlers import http_error

    return http_error(err)


@bp.post("/periods/<code>/frame")
def frame_upload(code: str) -> ResponseReturnValue:
    """Validate the whole file; store it (replacing the period's frame) only if all is valid."""
    period_ = get_period_or_404(code)
    form = FrameUploadForm()
    if not form.validate_on_submit():
        abort(400)
    upload = form.file.data
    if upload is None or not getattr(upload, "filename", ""):
        problems = [frames_io.Problem(None, "empty")]
        return _period_page(period_, form, problems, 422)
    content = upload.read(frames_io.MAX_BYTES + 1)
    parsed, stats = frames_io.import_frame(period_, content, upload.filename,
                                           user=current_user)
    if stats is None:
        return _period_page(period_, form, parsed.problems, 422)
    flash(_("Frame imported: %(cells)s cells, %(centres)s centres, %(dossiers)s dossiers. "
            "The previous frame of this period was replaced.", cells=stats.cells,
            centres=stats.centres, dossiers=stats.dossiers), "success")
    return redirect(url_for("stats.period", code=period_.code), 303)


from surveyapp.stats import run_routes  # noqa: E402,F401
