"""Administration home page: what there is to manage, with counts."""

import datetime as dt

from flask import render_template
from sqlalchemy import ColumnElement, func, select

from surveyapp.admin import bp
from surveyapp.admin.common import utcnow
from surveyapp.extensions import db
from surveyapp.models import AdminUnit, AuditEvent, Kiosk, QuestionnaireVersion, ServiceCentre, User
from surveyapp.services.fleet import silent_before


def _count(model: type, *where: ColumnElement[bool]) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _silent(now: dt.datetime) -> int:
    """Kiosks silent during opening hours (none are outside them)."""
    cutoff = silent_before(now)
    if cutoff is None:
        return 0
    return _count(Kiosk, Kiosk.revoked_at.is_(None), Kiosk.last_heartbeat_at < cutoff)


@bp.get("/")
def index() -> str:
    now = utcnow()
    counts = {
        "provinces": _count(AdminUnit, AdminUnit.level == "province"),
        "communes": _count(AdminUnit, AdminUnit.level == "commune"),
        "centres": _count(ServiceCentre, ServiceCentre.active.is_(True)),
        "kiosks": _count(Kiosk, Kiosk.revoked_at.is_(None)),
        "silent": _silent(now),
        "versions": _count(QuestionnaireVersion),
        "users": _count(User, User.active.is_(True)),
        "events": _count(AuditEvent),
    }
    return render_template("admin/index.html", counts=counts)
