"""Public survey pages: the kiosk (``/k/<kiosk-id>``) and the phone link (``/s/<centre>``)."""

from flask import Blueprint

bp = Blueprint("collect", __name__)

from surveyapp.collect import kiosk_routes, offline, phone_routes  # noqa: E402,F401
