"""Reading the audit trail: filters, the before/after comparison, and the CSV export.

Dates in filters are calendar days in the configured time zone (Vietnam); events are stored
in UTC, so a day becomes the UTC interval [local midnight, next local midnight).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Select, select

from surveyapp.exports.writers import write_csv
from surveyapp.extensions import db
from surveyapp.models import AuditEvent
from surveyapp.services.admin_common import clean

EXPORT_COLUMNS = ["id", "at_local", "username", "action", "object_type", "object_id",
                  "before", "after", "note"]
FILTER_MAX = 80


@dataclass(frozen=True)
class AuditFilter:
    username: str = ""
    action: str = ""
    object_type: str = ""
    object_id: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    @classmethod
    def from_args(cls, args: Any) -> tuple[AuditFilter, list[str]]:
        """Parse query arguments; returns the filter and the names of unreadable dates
        (ignored, and reported on the page)."""
        bad: list[str] = []

        def text(name: str) -> str:
            return clean(args.get(name))[:FILTER_MAX]

        def day(name: str) -> dt.date | None:
            raw = text(name)
            if not raw:
                return None
            try:
                return dt.date.fromisoformat(raw)
            except ValueError:
                bad.append(name)
                return None

        flt = cls(text("user"), text("action"), text("object_type"), text("object_id"),
                  day("from"), day("to"))
        return flt, bad

    def args(self) -> dict[str, str]:
        """The filter as query arguments (for pager and export links)."""
        out = {"user": self.username, "action": self.action, "object_type": self.object_type,
               "object_id": self.object_id,
               "from": self.date_from.isoformat() if self.date_from else "",
               "to": self.date_to.isoformat() if self.date_to else ""}
        return {k: v for k, v in out.items() if v}


def _utc_midnight(day: dt.date) -> dt.datetime:
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    local = dt.datetime.combine(day, dt.time(), tzinfo=zone)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def events(flt: AuditFilter) -> Select[AuditEvent]:
    """Events matching ``flt``, newest first."""
    stmt = select(AuditEvent)
    if flt.username:
        stmt = stmt.where(AuditEvent.username == flt.username)
    if flt.action:
        stmt = stmt.where(AuditEvent.action == flt.action)
    if flt.object_type:
        stmt = stmt.where(AuditEvent.object_type == flt.object_type)
    if flt.object_id:
        stmt = stmt.where(AuditEvent.object_id == flt.object_id)
    if flt.date_from:
        stmt = stmt.where(AuditEvent.at >= _utc_midnight(flt.date_from))
    if flt.date_to:
        stmt = stmt.where(AuditEvent.at < _utc_midnight(flt.date_to + dt.timedelta(days=1)))
    return stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())


def choices() -> dict[str, list[str]]:
    """Distinct user names, actions and object types, for the filter menus."""
    def distinct(col: Any) -> list[str]:
        return [v for v in db.session.scalars(select(col).distinct().order_by(col)) if v]

    return {"user": distinct(AuditEvent.username), "action": distinct(AuditEvent.action),
            "object_type": distinct(AuditEvent.object_type)}


@dataclass(frozen=True)
class DiffRow:
    key: str
    before: Any
    after: Any

    @property
    def changed(self) -> bool:
        return self.before != self.after


def diff(event: AuditEvent) -> list[DiffRow]:
    """Before and after side by side, one row per key that appears in either."""
    before, after = event.before or {}, event.after or {}
    keys = list(dict.fromkeys([*before, *after]))
    return [DiffRow(k, before.get(k), after.get(k)) for k in keys]


def local_time(at: dt.datetime) -> dt.datetime:
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    return at.replace(tzinfo=dt.UTC).astimezone(zone)


def _rows(flt: AuditFilter) -> Iterator[list[Any]]:
    for ev in db.session.scalars(events(flt).execution_options(yield_per=1000)):
        yield [ev.id, local_time(ev.at).isoformat(timespec="seconds"), ev.username, ev.action,
               ev.object_type, ev.object_id, _json(ev.before), _json(ev.after), ev.note]


def _json(value: dict[str, Any] | None) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def export_csv(flt: AuditFilter) -> Path:
    """Write the filtered events to a temporary CSV (UTF-8 with BOM, formulas escaped by the
    shared writer); the caller sends and deletes it."""
    fd, name = tempfile.mkstemp(prefix="sipas-audit-", suffix=".csv")
    os.close(fd)
    path = Path(name)
    write_csv(path, EXPORT_COLUMNS, _rows(flt), 0)
    return path
