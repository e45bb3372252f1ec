"""JSON API for devices: ``POST /api/v1/responses`` (offline kiosk queues, phone pages)."""

from flask import Blueprint

bp = Blueprint("api", __name__)

# registers the views on bp: device uploads (routes), kiosk heartbeats (heartbeat), the API
# description (openapi) and read-only results for staff (results)
from surveyapp.api import heartbeat, openapi, results, routes  # noqa: E402,F401
