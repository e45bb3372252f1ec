"""JSON API for devices: ``POST /api/v1/responses`` (offline kiosk queues, phone pages)."""

from flask import Blueprint

bp = Blueprint("api", __name__)

from surveyapp.api import routes  # noqa: E402,F401  (registers the views on bp)
