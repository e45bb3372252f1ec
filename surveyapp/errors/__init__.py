"""App-wide error pages (Vietnamese by default) and JSON errors under ``/api/``."""

from flask import Blueprint

bp = Blueprint("errors", __name__)

from surveyapp.errors import handlers  # noqa: E402,F401  (registers the handlers on bp)
