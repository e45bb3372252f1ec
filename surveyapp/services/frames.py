"""Reporting periods and the sampling frame (dossiers settled per centre, field and period).

The frame is replaced as a whole: :func:`replace_frame` deletes the period's cells and inserts
the new ones in the caller's transaction, with one audit event carrying the before/after
counts, so a failed import leaves the previous frame untouched. Parsing and validating an
uploaded file is in :mod:`surveyapp.services.frames_io`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, insert, select

from surveyapp.extensions import db
from surveyapp.models import FrameCount, Period, ProcedureField, ServiceCentre
from surveyapp.services import audit
from surveyapp.services.accounts import utcnow

PERIOD_CODE = re.compile(r"^[0-9]{4}(-(Q[1-4]|H[12]|M(0[1-9]|1[0-2])|[A-Za-z0-9]{1,8}))?$")
ALL_FIELDS = "*"


class PeriodError(ValueError):
    """A user-facing problem with a period (the message is an English msgid)."""


def get_period(code: str) -> Period | None:
    """The period with this code; None for anything that is not a period code (a NUL in a
    URL would otherwise reach PostgreSQL, which refuses it in a comparison: a 500)."""
    if not PERIOD_CODE.fullmatch(code):
        return None
    return db.session.scalar(select(Period).where(Period.code == code))


def create_period(code: str, label_vi: str, label_en: str, start: dt.date, end: dt.date,
                  user: Any = None) -> Period:
    """Add a period (``end`` exclusive) and audit it; the caller commits."""
    code = code.strip()
    if not PERIOD_CODE.fullmatch(code):
        raise PeriodError(_l("The period code must look like 2026-Q1, 2026-H1, 2026-M03 or "
                             "2026"))
    if end <= start:
        raise PeriodError(_l("The end date must be after the start date"))
    if get_period(code) is not None:
        raise PeriodError(_l("A period with this code already exists"))
    period = Period(code=code, label_vi=label_vi.strip() or code,
                    label_en=label_en.strip() or code, start_date=start, end_date=end)
    db.session.add(period)
    db.session.flush()
    audit.record("period.create", "period", period.code, user=user,
                 after={"code": code, "start": start.isoformat(), "end": end.isoformat()})
    return period


def quarter_dates(code: str) -> tuple[dt.date, dt.date] | None:
    """Start and (exclusive) end of ``YYYY-Qn``; ``None`` for other codes."""
    m = re.fullmatch(r"(\d{4})-Q([1-4])", code.strip())
    if not m:
        return None
    year, q = int(m.group(1)), int(m.group(2))
    start = dt.date(year, 3 * q - 2, 1)
    end = dt.date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1)
    return start, end


@dataclass(frozen=True)
class FrameStats:
    cells: int
    centres: int
    dossiers: int

    def as_dict(self) -> dict[str, int]:
        return {"cells": self.cells, "centres": self.centres, "dossiers": self.dossiers}


def frame_stats(period: Period) -> FrameStats:
    row = db.session.execute(
        select(func.count(FrameCount.id), func.count(func.distinct(FrameCount.centre_id)),
               func.coalesce(func.sum(FrameCount.dossiers), 0))
        .where(FrameCount.period_id == period.id)).one()
    return FrameStats(int(row[0]), int(row[1]), int(row[2]))


def replace_frame(period: Period, cells: list[tuple[int, int | None, int]], *,
                  source: str = "", user: Any = None) -> FrameStats:
    """Replace the period's frame by ``cells`` (centre id, field id or None, dossiers).

    Runs in the caller's transaction: on any error the caller rolls back and the previous
    frame stays as it was.
    """
    before = frame_stats(period)
    now = utcnow()
    db.session.execute(delete(FrameCount).where(FrameCount.period_id == period.id))
    rows = [{"period_id": period.id, "centre_id": c, "field_id": f, "dossiers": n,
             "imported_at": now} for c, f, n in cells]
    for start in range(0, len(rows), 5000):
        db.session.execute(insert(FrameCount), rows[start:start + 5000])
    db.session.flush()
    after = frame_stats(period)
    audit.record("frame.import", "period", period.code, user=user,
                 before=before.as_dict(), after=after.as_dict(), note=source[:200])
    return after


def load_frame(period: Period) -> pd.DataFrame:
    """The period's frame as a plain table: ``centre``, ``field`` (``*`` = all fields),
    ``dossiers``, ``commune`` (the centre's unit key, for the collapsing rule)."""
    rows = db.session.execute(
        select(ServiceCentre.code, ProcedureField.code, FrameCount.dossiers,
               ServiceCentre.unit_id)
        .join(ServiceCentre, FrameCount.centre_id == ServiceCentre.id)
        .outerjoin(ProcedureField, FrameCount.field_id == ProcedureField.id)
        .where(FrameCount.period_id == period.id)).all()
    return pd.DataFrame(
        [(c, f or ALL_FIELDS, int(n), f"u{u}") for c, f, n, u in rows],
        columns=["centre", "field", "dossiers", "commune"])


__all__ = ["ALL_FIELDS", "FrameStats", "PeriodError", "create_period", "frame_stats",
           "get_period", "load_frame", "quarter_dates", "replace_frame"]
