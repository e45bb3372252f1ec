"""Administration home page."""

from flask import render_template

from surveyapp.admin import bp


@bp.get("/")
def index() -> str:
    return render_template("admin/index.html")
