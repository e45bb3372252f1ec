"""Quality flags computed when a response is stored: suspicion is recorded, nothing is dropped.

Each flag is a ``QualityFlag`` row (code + a sentence saying why) on the response; the
analysis decides per run which codes to exclude (``services.run_design``: ``honeypot`` by
default) and counts the exclusions. Codes set here:

* ``burst`` -- more than ``QUALITY_BURST_MAX`` responses from one kiosk (or, for phone links,
  from one client address: ``QUALITY_SOURCE_BURST_MAX``, higher because a centre's public Wi-Fi
  puts many phones behind one address) within ``QUALITY_BURST_SECONDS``. Every response in the
  window is flagged, not only the one that crossed the line. Time is the device's clock when
  plausible, so an offline kiosk uploading a day's queue in one minute is *not* a burst;
* ``straight_fast`` -- every answer identical *and* the survey took less than
  ``QUALITY_FAST_SECONDS`` from its first page to sending (at least
  ``QUALITY_STRAIGHT_MIN_ITEMS`` answers): nobody reads 19 statements that fast;
* ``repeat`` -- the same answers, field and comment as another phone response from the same
  address within ``QUALITY_REPEAT_SECONDS`` (a refreshed or re-sent form with a new id);
* ``honeypot`` (set by the survey pages) and ``client_clock`` (``services.submissions``).

The client address itself is never stored: ``Response.source_hash`` is a day-salted HMAC.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, bindparam, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from surveyapp.extensions import db
from surveyapp.models import Answer, QualityFlag, Response
from surveyapp.services.validation import Submission

#: Every code a response can carry, with what it means (the statistician's design page and the
#: report notes show these next to the counts).
FLAG_DESCRIPTIONS = {
    "honeypot": _l("hidden form field filled in (a bot)"),
    "burst": _l("one of many responses from one kiosk or device within a short time"),
    "straight_fast": _l("all answers identical and sent implausibly fast"),
    "repeat": _l("same answers as another response from the same device shortly before"),
    "client_clock": _l("device clock far from the server clock"),
}
DEFAULTS: dict[str, int] = {
    "QUALITY_BURST_MAX": 5,
    "QUALITY_SOURCE_BURST_MAX": 12,
    "QUALITY_BURST_SECONDS": 60,
    "QUALITY_FAST_SECONDS": 20,
    "QUALITY_STRAIGHT_MIN_ITEMS": 5,
    "QUALITY_REPEAT_SECONDS": 600,
}
#: The most earlier rows a burst flags retroactively in one go (bounds the work per request).
BURST_SCAN = 500


def _setting(name: str) -> int:
    return int(current_app.config.get(name, DEFAULTS[name]))


def event_time(sub: Submission, submitted_at: dt.datetime, plausible: bool) -> dt.datetime:
    """When the citizen sent it: the device's clock when plausible (queued uploads), else ours."""
    return sub.client_time if (sub.client_time is not None and plausible) else submitted_at


def straight_fast(sub: Submission, end: dt.datetime) -> str | None:
    """The reason for a ``straight_fast`` flag, or None."""
    if sub.started_at is None or len(sub.answers) < _setting("QUALITY_STRAIGHT_MIN_ITEMS"):
        return None
    if len(set(sub.answers.values())) != 1:
        return None
    seconds = (end - sub.started_at).total_seconds()
    limit = _setting("QUALITY_FAST_SECONDS")
    if seconds >= limit:
        return None
    value = next(iter(sub.answers.values()))
    shown = "na" if value is None else str(value)
    return (f"all {len(sub.answers)} answers '{shown}' in {max(seconds, 0):.0f} s "
            f"(less than {limit} s)")


_R, _F = Response.__table__.c, QualityFlag.__table__.c


def _burst_window(who: Any) -> Any:
    """Earlier responses of ``who`` whose device time (else server time) falls in
    [:start, :end], each with whether it already carries a burst flag (during a burst every
    new response would otherwise re-flag the whole window). Built once per kind: building
    statements per request cost more CPU than running them."""
    t0, t1 = bindparam("start"), bindparam("end")
    has_flag = select(_F.id).where(_F.response_id == _R.id, _F.code == "burst").exists()
    in_window = or_(_R.client_time.between(t0, t1),
                    and_(_R.client_time.is_(None), _R.submitted_at.between(t0, t1)))
    return (select(_R.id, has_flag).where(who, _R.id != bindparam("rid"), in_window)
            .limit(BURST_SCAN))


_KIOSK_WINDOW = _burst_window(_R.kiosk_id == bindparam("who"))
_SOURCE_WINDOW = _burst_window(and_(_R.source_hash == bindparam("who"), _R.kiosk_id.is_(None)))


def burst_reason(count: int | str, label: str, seconds: int, limit: int) -> str:
    """The ``burst`` flag's sentence (``count`` may be a placeholder filled in by SQL)."""
    return f"{count} responses from {label} within {seconds} s (more than {limit})"


def kiosk_burst_rule() -> tuple[int, int]:
    """(window seconds, most responses allowed in it) for one kiosk."""
    return _setting("QUALITY_BURST_SECONDS"), _setting("QUALITY_BURST_MAX")


def check(sub: Submission, *, submitted_at: dt.datetime, when: dt.datetime,
          source_hash: str | None) -> dict[str, str]:
    """Flags for ``sub`` (already inserted in the open transaction, not committed).

    Also flags, in the same transaction, the earlier responses of a burst. ``when`` is the
    response's event time (``event_time``).
    """
    flags: dict[str, str] = {}
    reason = straight_fast(sub, when)
    if reason:
        flags["straight_fast"] = reason
    seconds = _setting("QUALITY_BURST_SECONDS")
    start = when - dt.timedelta(seconds=seconds)
    if sub.kiosk is not None:
        window, who = _KIOSK_WINDOW, sub.kiosk.id
        limit, label = _setting("QUALITY_BURST_MAX"), f"kiosk {sub.kiosk.id}"
    elif source_hash is not None:
        window, who = _SOURCE_WINDOW, source_hash
        limit, label = _setting("QUALITY_SOURCE_BURST_MAX"), "one client address"
    else:
        return flags
    others = db.session.connection().execute(
        window, {"who": who, "rid": sub.id, "start": start, "end": when}).all()
    if len(others) + 1 > limit:
        text = burst_reason(len(others) + 1, label, seconds, limit)
        flags["burst"] = text
        _flag_others([rid for rid, flagged in others if not flagged], "burst", text,
                     submitted_at)
    if sub.kiosk is None and source_hash is not None and sub.answers:
        earlier = _repeat_of(sub, source_hash, submitted_at)
        if earlier is not None:
            flags["repeat"] = (f"same answers as response {str(earlier)[:8]} from the same "
                               f"client address within {_setting('QUALITY_REPEAT_SECONDS')} s")
    return flags


def _fingerprint(answers: Iterable[tuple[int, int | None]], comment: str | None,
                 field_id: int | None) -> tuple[Any, ...]:
    return (tuple(sorted(answers, key=lambda a: a[0])), comment or "", field_id)


def _repeat_of(sub: Submission, source_hash: str, submitted_at: dt.datetime) -> uuid.UUID | None:
    """An earlier phone response from the same address with exactly the same content."""
    since = submitted_at - dt.timedelta(seconds=_setting("QUALITY_REPEAT_SECONDS"))
    recent = db.session.execute(
        select(Response.id, Response.comment, Response.field_id)
        .where(Response.source_hash == source_hash, Response.kiosk_id.is_(None),
               Response.id != sub.id, Response.submitted_at >= since,
               Response.centre_id == sub.centre.id)
        .order_by(Response.submitted_at.desc()).limit(50)
    ).all()
    if not recent:
        return None
    mine = _fingerprint(((item.id, value) for item, value in sub.answers.items()), sub.comment,
                        sub.field.id if sub.field else None)
    answers: dict[uuid.UUID, list[tuple[int, int | None]]] = {}
    for rid, item_id, value in db.session.execute(
        select(Answer.response_id, Answer.item_id, Answer.value)
        .where(Answer.response_id.in_([r.id for r in recent]))
    ):
        answers.setdefault(rid, []).append((item_id, value))
    for row in recent:
        if _fingerprint(answers.get(row.id, []), row.comment, row.field_id) == mine:
            return row.id
    return None


_INSERT_OR_IGNORE_PG = postgresql.insert(QualityFlag.__table__).on_conflict_do_nothing()
_INSERT_OR_IGNORE_SQLITE = sqlite.insert(QualityFlag.__table__).on_conflict_do_nothing()


def _flag_others(ids: list[uuid.UUID], code: str, reason: str, now: dt.datetime) -> None:
    """Add ``code`` to earlier responses; one that already has it keeps its first reason
    (insert-or-ignore, so two concurrent requests flagging the same row cannot collide)."""
    if not ids:
        return
    # sorted: concurrent transactions take the row locks in one order (no deadlock)
    rows = [{"response_id": rid, "code": code, "reason": reason, "created_at": now}
            for rid in sorted(ids)]
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = _INSERT_OR_IGNORE_PG
    elif dialect == "sqlite":
        stmt = _INSERT_OR_IGNORE_SQLITE
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        have = set(db.session.scalars(select(QualityFlag.response_id).where(
            QualityFlag.code == code, QualityFlag.response_id.in_(ids))))
        rows = [r for r in rows if r["response_id"] not in have]
        stmt = insert(QualityFlag.__table__)
    if rows:
        db.session.execute(stmt, rows)
