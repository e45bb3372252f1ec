"""Administrative units for the admin pages: search and commune changes.

Search folds Vietnamese text (NFC, tone marks and other diacritics dropped, đ → d, case
folded), so "Thanh Hoá", "Thanh Hóa" and "thanh hoa" find the same province (sipas-reference
§11.1 item 7). Codes are compared as text: "00004" is never the number 4.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, select

from surveyapp.extensions import db
from surveyapp.models import AdminUnit
from surveyapp.models.geography import REFORM_DATE, nfc
from surveyapp.services import audit
from surveyapp.services.admin_common import AdminError, changed, commit, snapshot

COMMUNE_KINDS = ("xa", "phuong", "dac-khu")
COMMUNE_CODE = re.compile(r"[0-9]{5}")  # ASCII digits only (\d also accepts "１２３４５")
UNIT_FIELDS = ("code", "level", "name_vi", "name_en", "kind", "valid_from", "valid_to")
#: Geographies offered on the province list: in force today, or the 63 before the reform.
GEOGRAPHIES = ("current", "before-2025", "all")
SEARCH_LIMIT = 200


def fold(text: str) -> str:
    """A search key: NFC text without diacritics, đ as d, case-folded, spaces collapsed."""
    text = unicodedata.normalize("NFD", nfc(text).replace("đ", "d").replace("Đ", "D"))
    bare = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def provinces(geography: str, today: dt.date) -> Select[AdminUnit]:
    """Province-level units of one geography, by code then start date."""
    stmt = select(AdminUnit).where(AdminUnit.level == "province")
    day = _day(geography, today)
    if day is not None:
        stmt = stmt.where(AdminUnit.valid_from <= day).where(
            (AdminUnit.valid_to.is_(None)) | (AdminUnit.valid_to > day))
    return stmt.order_by(AdminUnit.code, AdminUnit.valid_from)


def predecessors(units: Iterable[AdminUnit]) -> dict[int, list[AdminUnit]]:
    """For each unit, the older units whose successor it is (e.g. Hà Giang → Tuyên Quang)."""
    ids = [u.id for u in units]
    out: dict[int, list[AdminUnit]] = {}
    if ids:
        for old in db.session.scalars(select(AdminUnit).where(AdminUnit.successor_id.in_(ids))
                                      .order_by(AdminUnit.code)):
            out.setdefault(old.successor_id, []).append(old)  # type: ignore[arg-type]
    return out


def communes_of(province: AdminUnit) -> Select[AdminUnit]:
    return (select(AdminUnit).where(AdminUnit.parent_id == province.id)
            .order_by(AdminUnit.code, AdminUnit.valid_from))


def _day(geography: str, today: dt.date) -> dt.date | None:
    """The day a geography is seen on (None: every version)."""
    return {"current": today, "before-2025": REFORM_DATE - dt.timedelta(days=1)}.get(geography)


def search(query: str, geography: str = "all", today: dt.date | None = None,
           limit: int = SEARCH_LIMIT) -> list[AdminUnit]:
    """Units of ``geography`` whose code starts with ``query`` or whose vi/en name contains it
    (folded).

    Matching is done in Python over (id, code, names) only: a few thousand short rows, and the
    same folding on SQLite and PostgreSQL without an extension.
    """
    key = fold(query)
    if not key:
        return []
    rows = db.session.execute(
        select(AdminUnit.id, AdminUnit.code, AdminUnit.name_vi, AdminUnit.name_en)
    ).all()
    hits = [r.id for r in rows
            if r.code.startswith(query.strip()) or key in fold(r.name_vi) or key in fold(r.name_en)]
    if not hits:
        return []
    day = _day(geography, today or dt.date.today())
    units = [u for u in db.session.scalars(select(AdminUnit).where(AdminUnit.id.in_(hits)))
             if day is None or u.valid_on(day)]
    order = {"province": 0, "commune": 1}
    return sorted(units, key=lambda u: (order[u.level], u.code, u.valid_from))[:limit]


@dataclass(frozen=True)
class CommuneInput:
    """What the commune form sends, already stripped of surrounding spaces."""

    code: str
    name_vi: str
    name_en: str
    kind: str
    valid_from: dt.date | None
    valid_to: dt.date | None


def unit_state(unit: AdminUnit) -> dict[str, Any]:
    state = snapshot(unit, UNIT_FIELDS)
    state["province"] = unit.parent.code if unit.parent is not None else None
    return state


def save_commune(province: AdminUnit, data: CommuneInput,
                 commune: AdminUnit | None = None) -> AdminUnit:
    """Create a commune under ``province`` (or update ``commune``), with its audit event."""
    _check_commune(province, data, commune)
    before = unit_state(commune) if commune is not None else None
    unit = commune or AdminUnit(level="commune", parent=province)
    unit.code, unit.kind = data.code, data.kind
    unit.name_vi, unit.name_en = data.name_vi, data.name_en or data.name_vi
    unit.valid_from, unit.valid_to = data.valid_from, data.valid_to  # type: ignore[assignment]
    if commune is None:
        db.session.add(unit)
    after = unit_state(unit)
    if before is not None and not changed(before, after):
        return unit
    db.session.flush()
    audit.record("unit.update" if before else "unit.create", "unit", unit.id,
                 before=before, after=after)
    commit(_l("Commune code %(code)s is already in use for this period.", code=data.code))
    return unit


def _check_commune(province: AdminUnit, data: CommuneInput, commune: AdminUnit | None) -> None:
    """Every rule a commune must meet; raises before anything is written."""
    if not COMMUNE_CODE.fullmatch(data.code):
        raise AdminError(_l("The commune code must be exactly 5 digits, e.g. 00004."), "code")
    if not data.name_vi:
        raise AdminError(_l("Please enter the Vietnamese name."), "name_vi")
    if data.kind not in COMMUNE_KINDS:
        raise AdminError(_l("Please choose xã, phường or đặc khu."), "kind")
    if data.valid_from is None:
        raise AdminError(_l("Please enter the date from which the commune is valid."),
                         "valid_from")
    if data.valid_to is not None and data.valid_to <= data.valid_from:
        raise AdminError(_l("The end date must be after the start date."), "valid_to")
    ends_after = (province.valid_to is not None
                  and (data.valid_to is None or data.valid_to > province.valid_to))
    if data.valid_from < province.valid_from or ends_after:
        raise AdminError(_l("A commune can only be valid while its province is "
                            "(%(start)s – %(end)s).", start=province.valid_from.isoformat(),
                            end=province.valid_to.isoformat() if province.valid_to else "…"),
                         "valid_from")
    others = db.session.scalars(select(AdminUnit).where(
        AdminUnit.level == "commune", AdminUnit.code == data.code)).all()
    for other in others:
        if commune is not None and other.id == commune.id:
            continue
        if _overlaps(other.valid_from, other.valid_to, data.valid_from, data.valid_to):
            raise AdminError(_l("Commune code %(code)s is already used by %(name)s in this "
                                "period.", code=data.code, name=other.name_vi), "code")


def _overlaps(a_from: dt.date, a_to: dt.date | None, b_from: dt.date, b_to: dt.date | None) -> bool:
    """Half-open validity intervals [from, to) overlap (None = open-ended)."""
    return (a_to is None or b_from < a_to) and (b_to is None or a_from < b_to)


def current_unit(code: str, level: str, today: dt.date) -> AdminUnit | None:
    """The ``level`` unit with ``code`` in force on ``today``."""
    units = db.session.scalars(
        select(AdminUnit).where(AdminUnit.level == level, AdminUnit.code == code)).all()
    return next((u for u in units if u.valid_on(today)), None)
