"""Kiosks for the admin pages: the fleet list, health status, registration and revocation.

Health is derived here in one place (``kiosk_status``) so that the fleet-health work
(heartbeat endpoint, queue length, opening hours, remote reload) extends this function and
the list page picks it up unchanged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, false, or_, select

from surveyapp.extensions import db
from surveyapp.models import AdminUnit, Counter, Kiosk, ServiceCentre
from surveyapp.models.centres import is_code
from surveyapp.services import audit, kiosks
from surveyapp.services import fleet as fleet_health
from surveyapp.services.admin_common import AdminError, commit, utc_text
from surveyapp.services.kiosks import KioskCredentials

#: A kiosk that has sent heartbeats but none for this long is shown as silent.
SILENT_AFTER = dt.timedelta(minutes=10)
STATUSES = ("all", "active", "silent", "revoked")
LABEL_MAX = 200


@dataclass(frozen=True)
class KioskStatus:
    """What the fleet list shows about one kiosk's health."""

    state: str  # "revoked", "silent", "never" (no heartbeat yet), "off_hours", "ok"
    since: dt.timedelta | None  # time since the last heartbeat

    @property
    def silent(self) -> bool:
        return self.state == "silent"


def kiosk_status(kiosk: Kiosk, now: dt.datetime) -> KioskStatus:
    """Silent only while its centre is open (``services.fleet.silent_before``): a kiosk
    quiet at night or on Sunday is "off hours", not an alarm."""
    if kiosk.revoked:
        return KioskStatus("revoked", None)
    if kiosk.last_heartbeat_at is None:
        return KioskStatus("never", None)
    since = now - kiosk.last_heartbeat_at
    if since <= SILENT_AFTER:
        return KioskStatus("ok", since)
    cutoff = fleet_health.silent_before(now)
    return KioskStatus("silent" if cutoff is not None else "off_hours", since)


def kiosk_state(kiosk: Kiosk) -> dict[str, Any]:
    """Audited fields of a kiosk (never the token or its digest)."""
    return {"id": kiosk.id, "centre": kiosk.centre.code,
            "counter": kiosk.counter.code if kiosk.counter else None, "label": kiosk.label,
            "registered_at": utc_text(kiosk.registered_at),
            "revoked_at": utc_text(kiosk.revoked_at)}


def fleet(province: AdminUnit | None, centre: ServiceCentre | None, status: str,
          now: dt.datetime) -> Select[Kiosk]:
    """Kiosks filtered by province, centre and status, by centre code then label."""
    stmt = select(Kiosk).join(Kiosk.centre).join(ServiceCentre.unit)
    if province is not None:
        stmt = stmt.where(or_(AdminUnit.id == province.id, AdminUnit.parent_id == province.id))
    if centre is not None:
        stmt = stmt.where(Kiosk.centre_id == centre.id)
    if status == "revoked":
        stmt = stmt.where(Kiosk.revoked_at.is_not(None))
    elif status == "active":
        stmt = stmt.where(Kiosk.revoked_at.is_(None))
    elif status == "silent":
        cutoff = fleet_health.silent_before(now)
        stmt = stmt.where(Kiosk.revoked_at.is_(None), false() if cutoff is None else
                          Kiosk.last_heartbeat_at < cutoff)
    return stmt.order_by(ServiceCentre.code, Kiosk.label, Kiosk.id)


def register(centre_code: str, counter_code: str, label: str) -> KioskCredentials:
    """Register a kiosk; the clear-text token is in the result and nowhere else."""
    centre = kiosks.find_centre(centre_code)
    if centre is None:
        raise AdminError(_l("There is no centre with code %(code)s.", code=centre_code),
                         "centre")
    if not centre.active:
        raise AdminError(_l("Centre %(code)s is deactivated; reactivate it first.",
                            code=centre_code), "centre")
    counter = None
    if counter_code and not is_code(counter_code):
        raise AdminError(_l("Centre %(centre)s has no active counter with code %(code)s.",
                            centre=centre_code, code=counter_code), "counter")
    if counter_code:
        counter = db.session.scalar(select(Counter).where(Counter.centre_id == centre.id,
                                                          Counter.code == counter_code))
        if counter is None or not counter.active:
            raise AdminError(_l("Centre %(centre)s has no active counter with code %(code)s.",
                                centre=centre_code, code=counter_code), "counter")
    if len(label) > LABEL_MAX:
        raise AdminError(_l("The label is too long (at most 200 characters)."), "label")
    cred = kiosks.register(centre, counter, label, commit=False)
    db.session.flush()
    kiosk = db.session.get(Kiosk, cred.id)
    assert kiosk is not None  # just added
    audit.record("kiosk.register", "kiosk", kiosk.id, after=kiosk_state(kiosk))
    commit(_l("The kiosk could not be registered; please try again."))
    return cred


def revoke(kiosk: Kiosk) -> bool:
    """Revoke ``kiosk``; False when it already was (nothing recorded)."""
    if kiosk.revoked:
        return False
    before = kiosk_state(kiosk)
    kiosks.revoke(kiosk, commit=False)
    audit.record("kiosk.revoke", "kiosk", kiosk.id, before=before, after=kiosk_state(kiosk))
    db.session.commit()
    return True
