"""Analysis home: periods and their runs."""

from flask import render_template
from sqlalchemy import select

from surveyapp.access import runs_visible
from surveyapp.extensions import db
from surveyapp.models import AnalysisRun, Period
from surveyapp.stats import bp


@bp.get("/")
def index() -> str:
    periods = db.session.scalars(select(Period).order_by(Period.start_date.desc())).all()
    runs = db.session.scalars(runs_visible().order_by(AnalysisRun.created_at.desc())).all()
    return render_template("stats/index.html", periods=periods, runs=runs)
