"""Kiosk fleet health: heartbeats in, opening hours, remote reload requests.

A kiosk's JavaScript posts a heartbeat every minute (``api/heartbeat.py``): app version,
answers waiting in its offline queue, answers the server refused (held on the device), and
when it last delivered one. The admin fleet page (``services.admin_kiosks.kiosk_status``)
calls a kiosk *silent* when its last heartbeat is more than 10 minutes old **while its centre
is open** (``KIOSK_OPENING_HOURS``, Vietnam time): a kiosk switched off at night is not an
alarm, one that stops at 09:00 on a Tuesday is.

Reload: an administrator asks (audited, ``request_reload``); the next heartbeat answers
``"reload": true`` and clears the request in the same statement, so it is delivered once.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import get_day_names
from flask import current_app
from sqlalchemy import select, update

from surveyapp.extensions import db
from surveyapp.models import Kiosk
from surveyapp.services import audit
from surveyapp.services.questionnaires import utcnow

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PART = re.compile(r"^(?P<d1>[a-z]{3})(?:-(?P<d2>[a-z]{3}))?\s+"
                   r"(?P<h1>\d{1,2}):(?P<m1>\d{2})-(?P<h2>\d{1,2}):(?P<m2>\d{2})$")
SILENT_MINUTES = 10


class OpeningHoursError(ValueError):
    """``KIOSK_OPENING_HOURS`` cannot be read (the message says where)."""


Hours = dict[int, list[tuple[int, int]]]  # weekday -> [(start minute, end minute)]


def parse_hours(spec: str) -> Hours:
    """``"mon-fri 07:30-17:00; sat 07:30-11:30"`` -> minutes of the day per weekday."""
    out: Hours = {d: [] for d in range(7)}
    for raw in spec.split(";"):
        part = raw.strip().lower()
        if not part:
            continue
        m = _PART.match(part)
        if m is None or m["d1"] not in DAYS or (m["d2"] and m["d2"] not in DAYS):
            raise OpeningHoursError(f"cannot read opening hours {part!r}")
        start = int(m["h1"]) * 60 + int(m["m1"])
        end = int(m["h2"]) * 60 + int(m["m2"])
        if not 0 <= start < end <= 24 * 60:
            raise OpeningHoursError(f"opening hours {part!r}: start must be before end")
        first, last = DAYS.index(m["d1"]), DAYS.index(m["d2"] or m["d1"])
        days = range(first, last + 1) if first <= last else [*range(first, 7), *range(last + 1)]
        for d in days:
            out[d].append((start, end))
    return out


def describe_hours(hours: Hours, locale: Any) -> str:
    """The opening hours for people, in ``locale``'s day names (CLDR, through Babel):
    ``Thứ Hai–Thứ Sáu 07:30–17:00; Thứ Bảy 07:30–11:30`` -- days in a row with the same
    hours joined; the configuration's own notation is for administrators' files, not pages."""
    names = get_day_names("wide", locale=locale)
    parts = []
    day = 0
    while day < 7:
        spans = hours[day]
        last = day
        while last + 1 < 7 and hours[last + 1] == spans:
            last += 1
        if spans:
            days = names[day] if day == last else f"{names[day]}–{names[last]}"
            times = ", ".join(f"{_clock(a)}–{_clock(b)}" for a, b in spans)
            parts.append(f"{days} {times}")
        day = last + 1
    return "; ".join(parts) or "–"


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def open_since(now: dt.datetime, hours: Hours, tz: ZoneInfo) -> dt.timedelta | None:
    """How long the centre has been open at ``now`` (naive UTC), or None when closed."""
    local = now.replace(tzinfo=dt.UTC).astimezone(tz)
    minute = local.hour * 60 + local.minute + local.second / 60
    for start, end in hours[local.weekday()]:
        if start <= minute < end:
            return dt.timedelta(minutes=minute - start)
    return None


def silent_before(now: dt.datetime) -> dt.datetime | None:
    """A kiosk whose last heartbeat is older than this is silent; None outside opening hours
    (and in the first minutes after opening, while kiosks start up)."""
    cfg = current_app.config
    hours = parse_hours(str(cfg.get("KIOSK_OPENING_HOURS", "")))
    tz = ZoneInfo(cfg["TIMEZONE"])
    since = open_since(now, hours, tz)
    grace = dt.timedelta(minutes=SILENT_MINUTES)
    if since is None:
        return None
    # just opened -- unless it was open ``grace`` ago too (hours running past midnight)
    if since < grace and open_since(now - grace, hours, tz) is None:
        return None
    return now - grace


@dataclass(frozen=True)
class Heartbeat:
    """What a kiosk reports (validated by the API)."""

    app_version: str | None
    queue_length: int
    held: int
    last_submit_at: dt.datetime | None


def record(kiosk_id: str, beat: Heartbeat) -> bool:
    """Store the heartbeat; returns True when the kiosk must reload (request then cleared)."""
    now = utcnow()
    requested = db.session.scalar(select(Kiosk.reload_requested_at).where(Kiosk.id == kiosk_id))
    values = {"last_heartbeat_at": now, "app_version": beat.app_version,
              "queue_length": beat.queue_length, "queue_held": beat.held}
    if beat.last_submit_at is not None:
        values["last_submit_at"] = beat.last_submit_at
    db.session.execute(update(Kiosk).where(Kiosk.id == kiosk_id).values(**values))
    reload = False
    if requested is not None:
        # only the request we read is cleared: a newer one (made meanwhile) stays pending
        done = db.session.execute(
            update(Kiosk).where(Kiosk.id == kiosk_id, Kiosk.reload_requested_at == requested)
            .values(reload_requested_at=None))
        reload = bool(getattr(done, "rowcount", 0))
    db.session.commit()
    return reload


def request_reload(kiosk: Kiosk) -> None:
    """An administrator asks the kiosk to reload at its next heartbeat (audited)."""
    before = {"reload_requested_at": _text(kiosk.reload_requested_at)}
    kiosk.reload_requested_at = utcnow()
    audit.record("kiosk.reload", "kiosk", kiosk.id, before=before,
                 after={"reload_requested_at": _text(kiosk.reload_requested_at)})
    db.session.commit()


def _text(value: dt.datetime | None) -> str | None:
    return None if value is None else value.replace(microsecond=0).isoformat() + "Z"
