"""``POST /api/v1/kiosks/<id>/heartbeat``: a kiosk says it is alive, every minute.

Body (JSON, every field optional): ``app_version`` (string), ``queue_length`` (answers waiting
on the device), ``held`` (of those, answers the server refused), ``last_submit_at`` (ISO 8601,
the last answer delivered). Authenticated like uploads: ``Authorization: Kiosk <id>:<token>``
or the kiosk's device cookie, and only for the kiosk named in the path. The answer says
whether the kiosk must reload (an administrator asked for it; delivered once).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import jsonify
from flask.wrappers import Response
from flask_babel import gettext as _

from surveyapp.api import bp
from surveyapp.api.auth import authenticate
from surveyapp.api.body import read_json
from surveyapp.extensions import api_limits
from surveyapp.services import fleet
from surveyapp.services.questionnaires import utcnow
from surveyapp.services.validation import SubmissionError, parse_time

FIELDS = frozenset({"app_version", "queue_length", "held", "last_submit_at"})
MAX_QUEUE = 10_000_000


def _count(body: dict[str, Any], name: str) -> int:
    value = body.get(name, 0)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_QUEUE:
        raise SubmissionError(400, "wrong_type", name, _("Field %(f)s must be %(t)s.", f=name,
                                                            t=_("a whole number, 0 or more")))
    return value


def parse(body: Any) -> fleet.Heartbeat:
    """Validate a heartbeat body; 400 naming the field otherwise."""
    if not isinstance(body, dict):
        raise SubmissionError(400, "invalid_body", None,
                              _("The request body must be a JSON object."))
    for key in body:
        if key not in FIELDS:
            raise SubmissionError(400, "unknown_field", str(key)[:40],
                                  _("Unknown field %(f)s.", f=str(key)[:40]))
    version = body.get("app_version")
    if version is not None and (not isinstance(version, str) or len(version) > 40
                                or not version.isprintable()):
        raise SubmissionError(400, "wrong_type", "app_version",
                              _("Field %(f)s must be %(t)s.", f="app_version",
                                t=_("a short text")))
    last = parse_time("last_submit_at", body.get("last_submit_at"))
    if last is not None and last > utcnow() + dt.timedelta(days=1):
        last = None  # a device clock in the future says nothing useful
    return fleet.Heartbeat(app_version=version or None, queue_length=_count(body, "queue_length"),
                           held=_count(body, "held"), last_submit_at=last)


@bp.post("/kiosks/<kiosk_id>/heartbeat")
@api_limits
def heartbeat(kiosk_id: str) -> tuple[Response, int]:
    body = read_json(empty=b"{}")
    auth = authenticate(body)
    if auth.kiosk is None or auth.kiosk.id != kiosk_id:
        raise SubmissionError(403, "forbidden_kiosk", None,
                              _("These credentials are not for this kiosk."))
    reload = fleet.record(kiosk_id, parse(body))
    return jsonify({"status": "ok", "reload": reload,
                    "server_time": utcnow().replace(microsecond=0).isoformat() + "Z"}), 200
