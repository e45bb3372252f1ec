"""Storing a validated submission exactly once.

Idempotency is the primary key: the response row is inserted first, and a unique violation
on ``response.id`` means another request (a retry, a double tap, a concurrent upload) already
stored it, so the stored row is returned instead.  Never check-then-insert: two concurrent
requests would both see "absent".
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import IntegrityError

from surveyapp.extensions import db
from surveyapp.models import (
    AdminUnit,
    Answer,
    QualityFlag,
    QuestionnaireVersion,
    Response,
    ServiceCentre,
)
from surveyapp.services import quality, questionnaires, refcache
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


_INSERT_RESPONSE = insert(Response.__table__)
_INSERT_ANSWER = insert(Answer.__table__)
_INSERT_FLAG = insert(QualityFlag.__table__)


def resolve_units(centre: ServiceCentre, day: dt.date) -> tuple[AdminUnit, AdminUnit]:
    """(unit, province) valid on ``day`` for the centre's location (see ``refcache.units_on``)."""
    unit_id, province_id = refcache.units_on(centre.unit_id, day)
    unit, province = db.session.get(AdminUnit, unit_id), db.session.get(AdminUnit, province_id)
    assert unit is not None
    assert province is not None
    return unit, province


#: PostgreSQL: all answers of a response in one statement with two array parameters (one
#: round trip and one executor run, instead of a prepared INSERT per answer row).
_INSERT_ANSWERS_PG = text(
    "INSERT INTO answer (response_id, item_id, value, not_applicable) "
    "SELECT :rid, i, v, v IS NULL FROM unnest(CAST(:items AS integer[]), "
    "CAST(:vals AS smallint[])) AS t(i, v)"
)


def _insert_answers(sub: Submission) -> None:
    if not sub.answers:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(_INSERT_ANSWERS_PG, {
            "rid": sub.id, "items": [item.id for item in sub.answers],
            "vals": list(sub.answers.values())})
        return
    db.session.execute(_INSERT_ANSWER, [
        {"response_id": sub.id, "item_id": item.id, "value": value,
         "not_applicable": value is None}
        for item, value in sub.answers.items()
    ])


def own_flags(sub: Submission, submitted_at: dt.datetime) -> tuple[dict[str, str], bool]:
    """The flags known before looking at other responses (the page's, ``client_clock``), and
    whether the device's clock is plausible (then its time is the event time)."""
    flags = dict(sub.flags)
    plausible = sub.client_time is not None and (
        submitted_at - MAX_CLIENT_AGE <= sub.client_time <= submitted_at + MAX_CLIENT_AHEAD
    )
    if sub.client_time is not None and not plausible:
        flags.setdefault("client_clock", f"device time {sub.client_time.isoformat()}Z "
                                         f"far from server time {submitted_at.isoformat()}Z")
    return flags, plausible


@dataclass(frozen=True)
class Stored:
    """What the API answers about a stored response (first time or repeat)."""

    id: uuid.UUID
    version_key: str
    submitted_at: dt.datetime


def store(sub: Submission, source_hash: str | None = None,
          now: dt.datetime | None = None) -> tuple[Stored, bool]:
    """Insert the response, its answers and flags in one transaction (SQLAlchemy Core).

    Returns ``(stored, created)``; ``created`` is False when the id was already stored, and
    ``stored`` then describes the row stored first.
    """
    submitted_at = now or questionnaires.utcnow()
    flags, plausible = own_flags(sub, submitted_at)
    unit_id, province_id = refcache.units_on(
        sub.centre.unit_id, interview_day(submitted_at, sub.client_time)
    )
    try:  # Core statements on the tables: no ORM unit of work on the hot path
        db.session.execute(_INSERT_RESPONSE, {
            "id": sub.id, "centre_id": sub.centre.id,
            "counter_id": sub.counter.id if sub.counter else None,
            "kiosk_id": sub.kiosk.id if sub.kiosk else None, "channel": sub.channel,
            "version_id": sub.version.id, "field_id": sub.field.id if sub.field else None,
            "unit_id": unit_id, "province_id": province_id, "submitted_at": submitted_at,
            "client_time": sub.client_time, "started_at": sub.started_at,
            "comment": sub.comment, "source_hash": source_hash,
        })  # the INSERT that detects a duplicate id
    except IntegrityError:
        db.session.rollback()
        existing = db.session.execute(
            select(Response.id, QuestionnaireVersion.key, Response.submitted_at)
            .join(QuestionnaireVersion, Response.version_id == QuestionnaireVersion.id)
            .where(Response.id == sub.id)
        ).first()
        if existing is None:
            raise
        return Stored(existing[0], existing[1], existing[2]), False
    _insert_answers(sub)
    for code, reason in quality.check(
        sub, submitted_at=submitted_at, source_hash=source_hash,
        when=quality.event_time(sub, submitted_at, plausible),
    ).items():
        flags.setdefault(code, reason)
    if flags:
        db.session.execute(_INSERT_FLAG, [
            {"response_id": sub.id, "code": code, "reason": reason, "created_at": submitted_at}
            for code, reason in flags.items()
        ])
    if not sub.version.frozen:
        db.session.execute(
            update(QuestionnaireVersion)
            .where(QuestionnaireVersion.id == sub.version.id,
                   QuestionnaireVersion.frozen_at.is_(None))
            .values(frozen_at=submitted_at)
        )
    db.session.commit()
    if not sub.version.frozen:
        refcache.mark_frozen(sub.version)
    return Stored(sub.id, sub.version.key, submitted_at), True


def body(stored: Stored) -> dict[str, Any]:
    """The API's answer for a stored response; identical for the first and any repeat call."""
    return {
        "id": str(stored.id),
        "status": "stored",
        "questionnaire": stored.version_key,
        "submitted_at": stored.submitted_at.replace(microsecond=0).isoformat() + "Z",
    }


__all__ = ["Stored", "Submission", "SubmissionError", "body", "resolve_units", "store"]
