"""The audit trail: one call per change, made in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from flask_login import current_user

from surveyapp.extensions import db
from surveyapp.models import AuditEvent
from surveyapp.services.accounts import utcnow


def record(action: str, object_type: str = "", object_id: object = "", *,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
           note: str = "", user: Any = None) -> AuditEvent:
    """Add an audit event (committed with the caller's transaction).

    ``user`` defaults to the logged-in user; command-line actions pass ``None`` and are
    recorded as ``cli``.
    """
    actor = user if user is not None else (current_user if _logged_in() else None)
    event = AuditEvent(
        at=utcnow(), user_id=getattr(actor, "id", None),
        username=getattr(actor, "username", "cli"), action=action, object_type=object_type,
        object_id=str(object_id), before=_jsonable(before), after=_jsonable(after), note=note,
    )
    db.session.add(event)
    return event


def _logged_in() -> bool:
    try:
        return bool(current_user and current_user.is_authenticated)
    except RuntimeError:  # outside a request (CLI)
        return False


def _jsonable(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {k: (v if isinstance(v, (str, int, float, bool, type(None), list, dict)) else str(v))
            for k, v in value.items()}
