"""The province dashboard: the latest published period."""

from flask import render_template

from surveyapp.access import role_required, runs_visible
from surveyapp.extensions import db
from surveyapp.models import AnalysisRun
from surveyapp.reports import bp


@bp.get("/")
@role_required("province", "statistician")
def dashboard() -> str:
    run = db.session.scalar(
        runs_visible().where(AnalysisRun.published.is_(True))
        .order_by(AnalysisRun.published_at.desc()).limit(1)
    )
    return render_template("reports/dashboard.html", run=run)
