"""Per-process cache of the reference data every submission looks up.

A submission names a centre, maybe a counter and a procedure field, and a questionnaire
version with its items. Reading those rows through the ORM on every request cost most of the
API's time (benchmarks/README.md, "Ingest"), so they are kept here as small frozen records:

* a **frozen** questionnaire version never changes again (edits make a new version), so it is
  cached for the life of the process; unfrozen versions are always read fresh;
* centres, counters, fields and the unit a centre belonged to on a given day change rarely
  and only by an administrator: cached for ``REFCACHE_SECONDS`` (default 30 s), so a
  deactivated centre stops accepting responses within that time in every worker.

Kiosk credentials are *not* cached: revoking a kiosk takes effect on its next request.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask import current_app
from sqlalchemy import select

from surveyapp.extensions import db
from surveyapp.models import (
    AdminUnit,
    Counter,
    Item,
    ProcedureField,
    QuestionnaireVersion,
    ServiceCentre,
)

T = TypeVar("T")


@dataclass(frozen=True)
class ItemRef:
    id: int
    code: str
    allow_na: bool
    scale_min: int
    scale_max: int


@dataclass(frozen=True)
class VersionRef:
    """What validation and storage need of a questionnaire version."""

    id: int
    key: str
    status: str
    frozen: bool
    items: tuple[ItemRef, ...]


@dataclass(frozen=True)
class CentreRef:
    id: int
    code: str
    active: bool
    unit_id: int


@dataclass(frozen=True)
class Ref:
    """A row known only by its id (counter, procedure field)."""

    id: int
    code: str


_lock = threading.Lock()
_store: dict[tuple[object, ...], tuple[float, object]] = {}
_MISSING = object()


def clear() -> None:
    """Forget everything (tests, and after admin changes in the same process)."""
    with _lock:
        _store.clear()


def _cached(key: tuple[object, ...], load: Callable[[], T], ttl: float | None) -> T:
    now = time.monotonic()
    with _lock:
        hit = _store.get(key)
    if hit is not None and (hit[0] == 0.0 or now < hit[0]):
        return hit[1]  # type: ignore[return-value]
    value = load()
    if ttl is not None:
        expires = 0.0 if ttl == float("inf") else now + ttl
        with _lock:
            _store[key] = (expires, value)
    return value


def _ttl() -> float:
    return float(current_app.config.get("REFCACHE_SECONDS", 30))


def version(key: str) -> VersionRef | None:
    """The questionnaire version ``key``; frozen versions are cached for good."""
    hit = _store.get(("version", key))
    if hit is not None:
        return hit[1]  # type: ignore[return-value]
    row = db.session.scalar(select(QuestionnaireVersion).where(QuestionnaireVersion.key == key))
    if row is None:
        return None
    ref = VersionRef(
        id=row.id, key=row.key, status=row.status, frozen=row.frozen_at is not None,
        items=tuple(ItemRef(it.id, it.code, it.allow_na, it.scale_min, it.scale_max)
                    for it in db.session.scalars(
                        select(Item).where(Item.version_id == row.id).order_by(Item.position))),
    )
    if ref.frozen:
        with _lock:
            _store[("version", key)] = (0.0, ref)
    return ref


def mark_frozen(ref: VersionRef) -> None:
    """The version was just frozen by a submission: cache it from now on."""
    if not ref.frozen:
        frozen = VersionRef(ref.id, ref.key, ref.status, True, ref.items)
        with _lock:
            _store[("version", ref.key)] = (0.0, frozen)


def centre(code: str) -> CentreRef | None:
    def load() -> CentreRef | None:
        row = db.session.scalar(select(ServiceCentre).where(ServiceCentre.code == code))
        return None if row is None else CentreRef(row.id, row.code, row.active, row.unit_id)

    return _cached(("centre", code), load, _ttl())


def counter(centre_id: int, code: str) -> Ref | None:
    def load() -> Ref | None:
        row = db.session.scalar(
            select(Counter).where(Counter.centre_id == centre_id, Counter.code == code)
        )
        return None if row is None else Ref(row.id, row.code)

    return _cached(("counter", centre_id, code), load, _ttl())


def field(code: str) -> Ref | None:
    def load() -> Ref | None:
        row = db.session.scalar(select(ProcedureField).where(ProcedureField.code == code))
        return None if row is None else Ref(row.id, row.code)

    return _cached(("field", code), load, _ttl())


def units_on(unit_id: int, day: dt.date) -> tuple[int, int]:
    """(unit id, province id) valid on ``day`` for a centre located in unit ``unit_id``.

    The centre belongs to today's unit; for an earlier date we take the predecessor that kept
    the same code (a merged unit keeps the code of the partner hosting the seat), else the only
    predecessor, else the centre's own unit (documented fallback).
    """

    def load() -> tuple[int, int]:
        unit = db.session.get(AdminUnit, unit_id)
        assert unit is not None
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
        return unit.id, unit.province.id

    return _cached(("units", unit_id, day), load, _ttl())


# ---------------------------------------------------------------------- invalidation
_WATCHED = (AdminUnit, Counter, ProcedureField, QuestionnaireVersion, ServiceCentre)


def install() -> None:
    """Forget the cache when this process commits a change to reference rows (admin pages,
    command line), so the change is visible here at once and in other workers within the TTL.
    Called once per process by ``create_app``."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    if not event.contains(Session, "before_flush", _note_changes):
        event.listen(Session, "before_flush", _note_changes)
        event.listen(Session, "after_commit", _clear_if_changed)
        event.listen(Session, "after_rollback", _forget_note)


def _note_changes(session: object, _ctx: object, _instances: object) -> None:
    changed = [*session.new, *session.dirty, *session.deleted]  # type: ignore[attr-defined]
    if any(isinstance(obj, _WATCHED) for obj in changed):
        session.info["refcache_dirty"] = True  # type: ignore[attr-defined]


def _clear_if_changed(session: object) -> None:
    if session.info.pop("refcache_dirty", False):  # type: ignore[attr-defined]
        clear()


def _forget_note(session: object) -> None:
    session.info.pop("refcache_dirty", None)  # type: ignore[attr-defined]
