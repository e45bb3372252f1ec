"""A kiosk's submission stored by one PostgreSQL statement (the API's common case, fast).

``submissions.store`` takes 7 round trips per kiosk upload (BEGIN, the token check, the
response, its answers, the burst window, the flags, COMMIT), each one a pass through
SQLAlchemy and psycopg in the worker and a statement in PostgreSQL. Here one statement does
all of it, in autocommit (a single statement is its own transaction: atomic, and committed
-- with ``synchronous_commit`` -- before the reply, as before):

* it inserts only if the kiosk exists, is not revoked, belongs to the body's centre and its
  centre is active, with the digest of the presented token (comparing SHA-256 digests of a
  full-entropy token in SQL leaks nothing useful through timing);
* ``ON CONFLICT (id) DO NOTHING``: an id already stored inserts nothing;
* the burst window is read and its flags written in the same statement (``quality.check``'s
  rule: every response in the window is flagged, an already flagged one keeps its reason).

Whenever it inserts nothing -- a wrong token, another centre's kiosk, a repeated id -- or the
body does not validate, the caller takes the general path (``authenticate``, ``validate``,
``submissions.store``), which gives the same answers and errors as always; so does every
request that is not a kiosk token upload on PostgreSQL, and the first upload of a
questionnaire version (it freezes the version).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import request
from sqlalchemy.engine import Engine

from surveyapp.extensions import db
from surveyapp.models.centres import is_code
from surveyapp.services import quality, questionnaires, refcache
from surveyapp.services.kiosks import KioskRef, hash_token
from surveyapp.services.submissions import Stored, interview_day, own_flags
from surveyapp.services.validation import Auth, SubmissionError, validate

_STORE = """
WITH k AS (
    SELECT k.id FROM kiosk k JOIN service_centre c ON c.id = k.centre_id
    WHERE k.id = %(kiosk)s AND k.token_hash = %(token_hash)s AND k.centre_id = %(centre)s
      AND k.revoked_at IS NULL AND c.active
), r AS (
    INSERT INTO response (id, centre_id, counter_id, kiosk_id, channel, version_id, field_id,
                          unit_id, province_id, submitted_at, client_time, started_at,
                          comment, source_hash)
    SELECT %(id)s::uuid, %(centre)s::integer, %(counter)s::integer, k.id,
           %(channel)s::varchar, %(version)s::integer, %(field)s::integer,
           %(unit)s::integer, %(province)s::integer, %(now)s::timestamp,
           %(client_time)s::timestamp, %(started_at)s::timestamp, %(comment)s::text,
           %(source_hash)s::varchar
    FROM k
    ON CONFLICT (id) DO NOTHING
    RETURNING id
), a AS (
    INSERT INTO answer (response_id, item_id, value, not_applicable)
    SELECT r.id, t.i, t.v, t.v IS NULL
    FROM r, unnest(%(items)s::integer[], %(vals)s::smallint[]) AS t(i, v)
), w AS (
    SELECT o.id, EXISTS (SELECT 1 FROM quality_flag f
                         WHERE f.response_id = o.id AND f.code = 'burst') AS flagged
    FROM response o
    WHERE o.kiosk_id = %(kiosk)s AND o.id <> %(id)s::uuid
      AND (o.client_time BETWEEN %(start)s::timestamp AND %(end)s::timestamp
           OR (o.client_time IS NULL
               AND o.submitted_at BETWEEN %(start)s::timestamp AND %(end)s::timestamp))
    LIMIT %(scan)s::integer
), b AS (
    SELECT format(%(burst_format)s::text, count(*) + 1) AS reason FROM w
    HAVING count(*) + 1 > %(burst_max)s::integer
), own AS (
    INSERT INTO quality_flag (response_id, code, reason, created_at)
    SELECT r.id, t.code, t.reason, %(now)s::timestamp
    FROM r, unnest(%(codes)s::varchar[], %(reasons)s::text[]) AS t(code, reason)
    UNION ALL
    SELECT r.id, 'burst', b.reason, %(now)s::timestamp FROM r, b
), others AS (
    INSERT INTO quality_flag (response_id, code, reason, created_at)
    SELECT w.id, 'burst', b.reason, %(now)s::timestamp FROM r, b, w
    WHERE NOT w.flagged ORDER BY w.id  -- one lock order for concurrent bursts
    ON CONFLICT (response_id, code) DO NOTHING
)
SELECT count(*) FROM r
"""

def _engine() -> Engine | None:
    """The app's engine, or None if it is not PostgreSQL (psycopg)."""
    engine = db.engine
    return engine if engine.dialect.driver == "psycopg" else None


def _execute(engine: Engine, params: dict[str, Any]) -> int:
    """Run the statement on a pooled connection switched to autocommit for it, straight
    through psycopg (SQLAlchemy's execution and isolation-level machinery cost more CPU than
    the rest of this path). psycopg prepares it server-side after a few uses per connection."""
    raw = engine.raw_connection()
    try:
        conn: Any = raw.driver_connection
        conn.autocommit = True
        try:
            row = conn.execute(_STORE, params).fetchone()
        finally:
            if not conn.closed:
                conn.autocommit = False  # as the pool and the sessions expect it
    except Exception:
        raw.invalidate()  # a broken or half-used connection never goes back to the pool
        raise
    finally:
        raw.close()
    return int(row[0])


def _int_array(values: Any) -> str:
    """An integer array as a PostgreSQL literal (psycopg's list adapter inspects every element
    and costs ~40 us a submission; the statement casts the text)."""
    return "{" + ",".join("NULL" if v is None else str(int(v)) for v in values) + "}"


def _text_array(values: Any) -> str:
    """A text array as a PostgreSQL literal: every element quoted, ``"`` and ``\\`` escaped."""
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
                          for v in values) + "}"


def _kiosk_claim() -> tuple[str, str] | None:
    """(kiosk id, token) from ``Authorization: Kiosk <id>:<token>``, unchecked."""
    scheme, _sep, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "kiosk":
        return None
    kiosk_id, _sep, token = value.strip().partition(":")
    if not token or len(kiosk_id) > 20 or not is_code(kiosk_id):
        return None
    return kiosk_id, token


def try_store(payload: Any, source_hash: str | None) -> Stored | None:
    """Store a new kiosk-token upload in one statement and describe it; None when the
    general path must answer instead (see the module docstring)."""
    engine = _engine()
    claim = _kiosk_claim() if engine is not None else None
    if engine is None or claim is None or not isinstance(payload, dict):
        return None
    code = payload.get("centre")
    centre = refcache.centre(code) if isinstance(code, str) and is_code(code) else None
    if centre is None:
        return None
    kiosk_id, token = claim
    try:  # as if the kiosk belonged to the body's centre; the statement checks that it does
        sub = validate(payload, Auth(kiosk=KioskRef(kiosk_id, centre.id)))
    except SubmissionError:
        return None
    if not sub.version.frozen:
        return None
    now = questionnaires.utcnow()
    flags, plausible = own_flags(sub, now)
    when = quality.event_time(sub, now, plausible)
    reason = quality.straight_fast(sub, when)
    if reason:
        flags.setdefault("straight_fast", reason)
    seconds, burst_max = quality.kiosk_burst_rule()
    unit_id, province_id = refcache.units_on(centre.unit_id, interview_day(now, sub.client_time))
    params = {
        "kiosk": kiosk_id, "token_hash": hash_token(token), "centre": centre.id,
        "id": sub.id, "counter": sub.counter.id if sub.counter else None,
        "channel": sub.channel, "version": sub.version.id,
        "field": sub.field.id if sub.field else None, "unit": unit_id, "province": province_id,
        "now": now, "client_time": sub.client_time, "started_at": sub.started_at,
        "comment": sub.comment, "source_hash": source_hash,
        "items": _int_array(item.id for item in sub.answers),
        "vals": _int_array(sub.answers.values()),
        "start": when - dt.timedelta(seconds=seconds), "end": when,
        "scan": quality.BURST_SCAN, "burst_max": burst_max,
        "burst_format": quality.burst_reason("%s", f"kiosk {kiosk_id}".replace("%", "%%"),
                                             seconds, burst_max),
        "codes": _text_array(flags), "reasons": _text_array(flags.values()),
    }
    if not _execute(engine, params):
        return None
    return Stored(sub.id, sub.version.key, now)
