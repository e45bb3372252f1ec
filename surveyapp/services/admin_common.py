"""Shared pieces of the admin services: refused changes, snapshots for the audit trail,
committing a change with its audit event, and pagination.

Every admin change follows one shape: validate everything first (raising ``AdminError`` before
anything is written), apply the change, ``audit.record`` it with before/after snapshots, then
``commit`` — so a change and its audit event are stored together or not at all.
"""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask_babel import LazyString
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError

from surveyapp.extensions import db

T = TypeVar("T")
PER_PAGE = 50


class AdminError(ValueError):
    """A change the admin asked for and that was refused; ``message`` says why (translated).

    ``field`` names the form field the message belongs to, when there is one.
    """

    def __init__(self, message: str | LazyString, field: str | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.field = field


def clean(text: str | None) -> str:
    """One line of user text: control characters (NUL, which PostgreSQL refuses, tabs, line
    breaks) become spaces, runs of spaces one, ends stripped."""
    if not text:
        return ""
    return " ".join("".join(" " if unicodedata.category(c) == "Cc" else c for c in text).split())


def utc_text(at: dt.datetime | None) -> str | None:
    """A stored (naive UTC) time for the audit trail, unambiguous: ``2026-03-01T23:30:00Z``."""
    return None if at is None else at.isoformat(timespec="seconds") + "Z"


def snapshot(obj: object, fields: Iterable[str]) -> dict[str, Any]:
    """The audited state of ``obj``: the named attributes (dates become ISO strings later,
    in ``audit.record``)."""
    return {name: getattr(obj, name) for name in fields}


def changed(before: dict[str, Any], after: dict[str, Any]) -> bool:
    return any(before.get(k) != v for k, v in after.items())


def commit(conflict: str | LazyString) -> None:
    """Commit the change and its audit event; a unique-key race becomes ``AdminError``."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AdminError(conflict) from None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: the rows plus what the pager needs."""

    items: Sequence[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def page_number(raw: str | None) -> int:
    """``?page=`` as a positive integer; anything else is page 1 (never a 500)."""
    ok = raw is not None and raw.isascii() and raw.isdigit() and 0 < len(raw) < 7
    return int(raw) if ok and int(raw) > 0 else 1  # type: ignore[arg-type]


def paginate(stmt: Select[Any], page: int, per_page: int = PER_PAGE) -> Page[Any]:
    """Run ``stmt`` for one page (scalars), with the total count of its rows."""
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    items = db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return Page(items=items, page=page, per_page=per_page, total=total or 0)
