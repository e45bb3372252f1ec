"""The landing page and a health check."""

from flask import Blueprint

bp = Blueprint("main", __name__)

from surveyapp.main import routes  # noqa: E402,F401
