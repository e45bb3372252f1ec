"""Load the reference tables shipped in ``surveyapp/reference/`` (idempotent upserts)."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from importlib import resources

from sqlalchemy import select

from surveyapp.extensions import db
from surveyapp.models import AdminUnit
from surveyapp.models.geography import OLD_GEOGRAPHY_FROM, REFORM_DATE, nfc


def read_reference(name: str) -> Iterator[dict[str, str]]:
    """Rows of a packaged CSV, values NFC-normalised; works from an installed wheel too."""
    text = resources.files("surveyapp.reference").joinpath(name).read_text(encoding="utf-8")
    for row in csv.DictReader(text.splitlines()):
        yield {k: nfc(v or "") for k, v in row.items()}


def upsert_unit(
    *,
    code: str,
    level: str,
    name_vi: str,
    name_en: str,
    kind: str,
    valid_from: dt.date,
    valid_to: dt.date | None,
    parent: AdminUnit | None = None,
) -> tuple[AdminUnit, bool]:
    """Insert or update one unit version; returns (unit, created)."""
    unit = db.session.scalar(
        select(AdminUnit).where(
            AdminUnit.level == level, AdminUnit.code == code, AdminUnit.valid_from == valid_from
        )
    )
    created = unit is None
    if unit is None:
        unit = AdminUnit(code=code, level=level, valid_from=valid_from)
        db.session.add(unit)
    unit.name_vi, unit.name_en, unit.kind = name_vi, name_en, kind
    unit.valid_to = valid_to
    unit.parent = parent
    return unit, created


def load_units() -> dict[str, int]:
    """Both province geographies: 63 (2008-08-01 .. 2025-07-01) and 34 (from 2025-07-01),
    with each old province pointing at its successor.  Running it twice changes nothing."""
    counts = {"created": 0, "updated": 0}
    new: dict[str, AdminUnit] = {}
    for row in read_reference("provinces-2025.csv"):
        unit, created = upsert_unit(
            code=row["code"], level="province", name_vi=row["name_vi"], name_en=row["name_en"],
            kind=row["kind"], valid_from=REFORM_DATE, valid_to=None,
        )
        new[row["code"]] = unit
        counts["created" if created else "updated"] += 1
    for row in read_reference("provinces-2024.csv"):
        unit, created = upsert_unit(
            code=row["code"], level="province", name_vi=row["name_vi"], name_en=row["name_en"],
            kind=row["kind"], valid_from=OLD_GEOGRAPHY_FROM, valid_to=REFORM_DATE,
        )
        successor = new.get(row["successor_code"])
        if successor is None:
            raise ValueError(f"province {row['code']}: unknown successor {row['successor_code']}")
        unit.successor = successor
        counts["created" if created else "updated"] += 1
    db.session.commit()
    return counts


def province(code: str, on: dt.date) -> AdminUnit | None:
    """The province with ``code`` in force on ``on`` (codes changed meaning in 2025)."""
    units = db.session.scalars(
        select(AdminUnit).where(AdminUnit.level == "province", AdminUnit.code == code)
    )
    return next((u for u in units if u.valid_on(on)), None)
