"""Storing a validated submission exactly once.

Idempotency is the primary key: the response row is inserted first, and a unique violation
on ``response.id`` means another request (a retry, a double tap, a concurrent upload) already
stored it, so the stored row is returned instead.  Never check-then-insert: two concurrent
requests would both see "absent".
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from surveyapp.extensions import db
from surveyapp.models import AdminUnit, Answer, QualityFlag, Response, ServiceCentre
from surveyapp.services import questionnaires
from surveyapp.services.validation import Submission, SubmissionError

#: How far a device clock may disagree with the server before its time is not trusted.
MAX_CLIENT_AGE = dt.timedelta(days=30)
MAX_CLIENT_AHEAD = dt.timedelta(minutes=10)


def interview_day(submitted_at: dt.datetime, client_time: dt.datetime | None) -> dt.date:
    """The local (Vietnam) date of the visit: the device's time when plausible (offline
    uploads arrive later), else the server's."""
    when = submitted_at
    if client_time is not None and (
        submitted_at - MAX_CLIENT_AGE <= client_time <= submitted_at + MAX_CLIENT_AHEAD
    ):
        when = client_time
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    return when.replace(tzinfo=dt.UTC).astimezone(tz).date()


def resolve_units(centre: ServiceCentre, day: dt.date) -> tuple[AdminUnit, AdminUnit]:
    """(unit, province) valid on ``day`` for the centre's location.

    The centre belongs to today's unit; for an earlier date we take the predecessor that kept
    the same code (a merged unit keeps the code of the partner hosting the seat), else the only
    predecessor, else the centre's own unit (documented fallback).
    """
    unit = centre.unit
    if not unit.valid_on(day):
        preds = db.session.scalars(
            select(AdminUnit).where(AdminUnit.successor_id == unit.id)
        ).all()
        valid = [p for p in preds if p.valid_on(day)]
        same_code = [p for p in valid if p.code == unit.code]
        if same_code:
            unit = same_code[0]
        elif len(valid) == 1:
            unit = valid[0]
    return unit, unit.province


def store(sub: Submission, source_hash: str | None = None,
          now: dt.datetime | None = None) -> tuple[Response, bool]:
    """Insert the response, its answers and flags in one transaction.

    Returns ``(response, created)``; ``created`` is False when the id was already stored.
    """
    submitted_at = now or questionnaires.utcnow()
    flags = dict(sub.flags)
    if sub.client_time is not None and not (
        submitted_at - MAX_CLIENT_AGE <= sub.client_time <= submitted_at + MAX_CLIENT_AHEAD
    ):
        flags.setdefault("client_clock", f"device time {sub.client_time.isoformat()}Z "
                                         f"far from server time {submitted_at.isoformat()}Z")
    unit, province = resolve_units(sub.centre, interview_day(submitted_at, sub.client_time))
    response = Response(
        id=sub.id, centre_id=sub.centre.id, counter_id=sub.counter.id if sub.counter else None,
        kiosk_id=sub.kiosk.id if sub.kiosk else None, channel=sub.channel,
        version_id=sub.version.id, field_id=sub.field.id if sub.field else None,
        unit_id=unit.id, province_id=province.id, submitted_at=submitted_at,
        client_time=sub.client_time, started_at=sub.started_at, comment=sub.comment,
        source_hash=source_hash,
    )
    db.session.add(response)
    try:
        db.session.flush()  # the INSERT that detects a duplicate id
    except IntegrityError:
        db.session.rollback()
        existing = db.session.get(Response, sub.id)
        if existing is None:
            raise
        return existing, False
    rows: list[dict[str, Any]] = [
        {"response_id": sub.id, "item_id": item.id, "value": value,
         "not_applicable": value is None}
        for item, value in sub.answers.items()
    ]
    if rows:
        db.session.execute(insert(Answer), rows)
    for code, reason in flags.items():
        db.session.add(QualityFlag(response_id=sub.id, code=code, reason=reason,
                                   created_at=submitted_at))
    questionnaires.freeze(sub.version)
    db.session.commit()
    return response, True


def body(response: Response) -> dict[str, Any]:
    """The API's answer for a stored response; identical for the first and any repeat call."""
    return {
        "id": str(response.id),
        "status": "stored",
        "questionnaire": response.version.key,
        "submitted_at": response.submitted_at.replace(microsecond=0).isoformat() + "Z",
    }


__all__ = ["SubmissionError", "Submission", "body", "resolve_units", "store"]
