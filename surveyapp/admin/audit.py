"""The audit trail: filtered, paginated list; one event's before/after; CSV export."""

from __future__ import annotations

import json
from typing import Any

from flask import render_template, request, send_file
from flask.wrappers import Response
from flask_babel import gettext as _

from surveyapp.admin import bp
from surveyapp.admin.audit_labels import action_label, object_url
from surveyapp.admin.common import get_or_404, local_dt, utcnow
from surveyapp.models import AuditEvent
from surveyapp.services import admin_audit
from surveyapp.services.admin_audit import AuditFilter
from surveyapp.services.admin_common import page_number, paginate


@bp.get("/audit")
def audit() -> str:
    flt, bad = AuditFilter.from_args(request.args)
    page = paginate(admin_audit.events(flt), page_number(request.args.get("page")))
    return render_template("admin/audit/list.html", page=page, flt=flt, bad=bad,
                           choices=admin_audit.choices(), args=flt.args(),
                           action_label=action_label, object_url=object_url)


def pretty(value: Any) -> str:
    """A before/after value as readable text (JSON for lists and dicts)."""
    if value is None:
        return "—"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)
    if isinstance(value, bool):
        return _("true") if value else _("false")
    return str(value)


@bp.get("/audit/<int:event_id>")
def audit_event(event_id: int) -> str:
    event = get_or_404(AuditEvent, event_id)
    return render_template("admin/audit/detail.html", event=event,
                           rows=admin_audit.diff(event), pretty=pretty,
                           action_label=action_label, object_url=object_url)


@bp.get("/audit.csv")
def audit_csv() -> Response:
    """The filtered events as CSV (UTF-8 with BOM for Excel; formulas neutralised)."""
    flt, _bad = AuditFilter.from_args(request.args)
    path = admin_audit.export_csv(flt)
    stamp = local_dt(utcnow()).replace(" ", "-").replace(":", "")
    response = send_file(path, mimetype="text/csv", as_attachment=True,
                         download_name=f"sipas-audit-{stamp}.csv", max_age=0)
    response.headers["Cache-Control"] = "no-store"
    response.call_on_close(lambda: path.unlink(missing_ok=True))
    return response
