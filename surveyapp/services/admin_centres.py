"""Service centres and their counters for the admin pages, each change with its audit event.

A provincial centre belongs to a province (2-digit code), a commune centre to a commune
(5-digit code); the unit is looked up among the units in force today. Centres and counters
are deactivated, never deleted: responses keep pointing at them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, or_, select

from surveyapp.extensions import db
from surveyapp.models import AdminUnit, Counter, ServiceCentre
from surveyapp.models.centres import CENTRE_KINDS, is_code
from surveyapp.services import audit
from surveyapp.services.admin_common import AdminError, changed, commit, snapshot
from surveyapp.services.admin_units import current_unit, fold
from surveyapp.services.admin_units import provinces as province_list

CENTRE_FIELDS = ("code", "name_vi", "name_en", "kind", "active")
COUNTER_FIELDS = ("code", "name_vi", "name_en", "active")
CODE_MAX = 32  # the column width of centre and counter codes
#: The unit level each kind of centre belongs to.
UNIT_LEVEL = {"provincial-centre": "province", "commune-centre": "commune"}


@dataclass(frozen=True)
class CentreInput:
    code: str
    name_vi: str
    name_en: str
    kind: str
    unit_code: str


@dataclass(frozen=True)
class CounterInput:
    code: str
    name_vi: str
    name_en: str


def centre_state(centre: ServiceCentre) -> dict[str, Any]:
    state = snapshot(centre, CENTRE_FIELDS)
    state["unit"] = f"{centre.unit.level}:{centre.unit.code}" if centre.unit else None
    return state


def counter_state(counter: Counter) -> dict[str, Any]:
    state = snapshot(counter, COUNTER_FIELDS)
    state["centre"] = counter.centre.code
    return state


def centres(province: AdminUnit | None = None, query: str = "",
            status: str = "all") -> Select[ServiceCentre]:
    """Centres, optionally of one province (its own centre and its communes' centres)."""
    stmt = select(ServiceCentre).join(ServiceCentre.unit)
    if province is not None:
        stmt = stmt.where(or_(AdminUnit.id == province.id, AdminUnit.parent_id == province.id))
    if status in ("active", "inactive"):
        stmt = stmt.where(ServiceCentre.active.is_(status == "active"))
    if query.strip():
        key = fold(query)
        ids = [r.id for r in db.session.execute(
            select(ServiceCentre.id, ServiceCentre.code, ServiceCentre.name_vi)).all()
            if r.code.casefold().startswith(query.strip().casefold()) or key in fold(r.name_vi)]
        stmt = stmt.where(ServiceCentre.id.in_(ids))
    return stmt.order_by(ServiceCentre.code)


def current_provinces(today: dt.date) -> list[AdminUnit]:
    return list(db.session.scalars(province_list("current", today)))


def save_centre(data: CentreInput, today: dt.date,
                centre: ServiceCentre | None = None) -> ServiceCentre:
    """Create or update a centre (validated first; one audit event per real change)."""
    if not is_code(data.code) or len(data.code) > CODE_MAX:
        raise AdminError(_l("The code may use letters, digits, '.', '-' and '_' "
                            "(at most 32 characters), e.g. X00004."), "code")
    clash = db.session.scalar(select(ServiceCentre).where(ServiceCentre.code == data.code))
    if clash is not None and clash is not centre:
        raise AdminError(_l("Centre code %(code)s is already used by %(name)s.",
                            code=data.code, name=clash.name_vi), "code")
    if not data.name_vi:
        raise AdminError(_l("Please enter the Vietnamese name."), "name_vi")
    if data.kind not in CENTRE_KINDS:
        raise AdminError(_l("Please choose the kind of centre."), "kind")
    level = UNIT_LEVEL[data.kind]
    plain = data.unit_code.isascii() and data.unit_code.isdigit()
    unit = current_unit(data.unit_code, level, today) if plain else None
    if unit is None:
        message = (_l("No province with code %(code)s is in force today.", code=data.unit_code)
                   if level == "province" else
                   _l("No commune with code %(code)s is in force today.", code=data.unit_code))
        raise AdminError(message, "unit_code")
    before = centre_state(centre) if centre is not None else None
    target = centre or ServiceCentre(active=True)
    target.code, target.kind, target.unit = data.code, data.kind, unit
    target.name_vi = data.name_vi
    target.name_en = data.name_en or data.name_vi
    if centre is None:
        db.session.add(target)
    after = centre_state(target)
    if before is not None and not changed(before, after):
        return target
    db.session.flush()
    audit.record("centre.update" if before else "centre.create", "centre", target.id,
                 before=before, after=after)
    commit(_l("Centre code %(code)s is already in use.", code=data.code))
    return target


def set_centre_active(centre: ServiceCentre, active: bool) -> bool:
    """Deactivate or reactivate; returns False when it already was so (nothing recorded)."""
    if centre.active == active:
        return False
    before = centre_state(centre)
    centre.active = active
    audit.record("centre.reactivate" if active else "centre.deactivate", "centre", centre.id,
                 before=before, after=centre_state(centre))
    db.session.commit()
    return True


def save_counter(centre: ServiceCentre, data: CounterInput,
                 counter: Counter | None = None) -> Counter:
    """Create or update a counter of ``centre``; codes are unique within a centre."""
    if not is_code(data.code) or len(data.code) > CODE_MAX:
        raise AdminError(_l("The code may use letters, digits, '.', '-' and '_' "
                            "(at most 32 characters), e.g. X00004."), "code")
    clash = db.session.scalar(select(Counter).where(Counter.centre_id == centre.id,
                                                    Counter.code == data.code))
    if clash is not None and clash is not counter:
        raise AdminError(_l("This centre already has a counter with code %(code)s.",
                            code=data.code), "code")
    if not data.name_vi:
        raise AdminError(_l("Please enter the Vietnamese name."), "name_vi")
    before = counter_state(counter) if counter is not None else None
    target = counter or Counter(centre=centre, active=True)
    target.code, target.name_vi = data.code, data.name_vi
    target.name_en = data.name_en or data.name_vi
    if counter is None:
        db.session.add(target)
    after = counter_state(target)
    if before is not None and not changed(before, after):
        return target
    db.session.flush()
    audit.record("counter.update" if before else "counter.create", "counter", target.id,
                 before=before, after=after)
    commit(_l("This centre already has a counter with code %(code)s.", code=data.code))
    return target


def set_counter_active(counter: Counter, active: bool) -> bool:
    if counter.active == active:
        return False
    before = counter_state(counter)
    counter.active = active
    audit.record("counter.reactivate" if active else "counter.deactivate", "counter", counter.id,
                 before=before, after=counter_state(counter))
    db.session.commit()
    return True
