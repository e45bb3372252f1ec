"""Every error, in one place: a sentence saying what to do next, never a traceback.

HTML pages for people, JSON (``{"error": {code, field, message}}``) for ``/api/``.  The 500
handler rolls the session back so a failed transaction cannot leak into the next request.
"""

from __future__ import annotations

import logging

from flask import jsonify, render_template, request
from flask.wrappers import Response
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from surveyapp.errors import bp
from surveyapp.extensions import db, retry_after

log = logging.getLogger(__name__)

MESSAGES = {
    400: (_l("The request could not be read"),
          _l("Something in the request was not understood. Please go back and try again.")),
    401: (_l("Sign-in required"), _l("This address needs a kiosk token or a signed link.")),
    403: (_l("Access denied"),
          _l("This page cannot be opened from here. Please ask the staff at the counter.")),
    404: (_l("Page not found"),
          _l("The address may be mistyped or no longer in use. Please scan the QR code at the "
             "service centre again.")),
    405: (_l("Action not allowed"),
          _l("This page cannot be used that way. Please go back to the start.")),
    413: (_l("Too much data"),
          _l("What was sent is too large. Please shorten the comment and try again.")),
    415: (_l("Unsupported format"), _l("Please send the data as JSON.")),
    429: (_l("Too many requests"),
          _l("Many answers arrived in a short time. Please wait a minute and try again.")),
    500: (_l("Something went wrong"),
          _l("We are sorry: the system could not finish this step. Please try again in a few "
             "minutes; if it keeps happening, tell the staff at the counter.")),
}
CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type",
         429: "rate_limited", 500: "server_error"}


def wants_json() -> bool:
    return request.path.startswith("/api/")


def render_error(status: int, title: str | None = None, message: str | None = None,
                 restart_url: str | None = None) -> tuple[str | Response, int]:
    """Render the error page (or JSON) for ``status`` with an optional specific sentence."""
    default_title, default_message = MESSAGES.get(status, MESSAGES[500])
    title = title or str(default_title)
    message = message or str(default_message)
    if wants_json():
        return jsonify({"error": {"code": CODES.get(status, "error"), "field": None,
                                  "message": message}}), status
    return render_template("errors/error.html", status=status, title=title, message=message,
                           restart_url=restart_url), status


@bp.app_errorhandler(CSRFError)
def csrf_error(_err: CSRFError) -> tuple[str | Response, int]:
    return render_error(
        400, str(_l("This page has expired")),
        str(_l("For your security the form was reset. Please start the survey again.")),
        restart_url=_restart_url(),
    )


@bp.app_errorhandler(HTTPException)
def http_error(err: HTTPException) -> tuple[str | Response, int] | Response:
    status = err.code or 500
    if status == 500:
        return server_error(err)
    body, code = render_error(status if status in MESSAGES else 400, restart_url=_restart_url())
    response = body if isinstance(body, Response) else Response(body, mimetype="text/html")
    response.status_code = status
    if status == 429 and (retry := (err.get_response().headers.get("Retry-After")
                                    or retry_after())):
        response.headers["Retry-After"] = str(retry)
    if status == 405 and err.get_response().headers.get("Allow"):
        response.headers["Allow"] = err.get_response().headers["Allow"]
    return response


@bp.app_errorhandler(InternalServerError)
def server_error(err: Exception) -> tuple[str | Response, int]:
    db.session.rollback()
    original = getattr(err, "original_exception", None) or err
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=original)
    return render_error(500)


def _restart_url() -> str | None:
    """Where "start again" leads: the kiosk or phone start page the user came from."""
    parts = request.path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "k":
        return f"/k/{parts[1]}"
    if len(parts) >= 2 and parts[0] == "s" and request.query_string:
        return f"/s/{parts[1]}?{request.query_string.decode('ascii', 'replace')}"
    return None
