"""What the audit trail shows for each action and object: a sentence-case label in the
admin's language, and a link to the object's page when it still has one."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_babel import lazy_gettext as _l

ACTION_LABELS = {
    "login": _l("Signed in"),
    "user.create": _l("Account created"),
    "user.update": _l("Account changed"),
    "user.deactivate": _l("Account deactivated"),
    "user.reactivate": _l("Account reactivated"),
    "user.password_reset": _l("Password reset"),
    "user.unlock": _l("Account unlocked"),
    "unit.create": _l("Commune added"),
    "unit.update": _l("Commune changed"),
    "centre.create": _l("Centre created"),
    "centre.update": _l("Centre changed"),
    "centre.deactivate": _l("Centre deactivated"),
    "centre.reactivate": _l("Centre reactivated"),
    "counter.create": _l("Counter added"),
    "counter.update": _l("Counter changed"),
    "counter.deactivate": _l("Counter deactivated"),
    "counter.reactivate": _l("Counter reactivated"),
    "kiosk.register": _l("Kiosk registered"),
    "kiosk.revoke": _l("Kiosk revoked"),
    "kiosk.reload": _l("Kiosk reload requested"),
    "questionnaire.items": _l("Item texts changed"),
    "questionnaire.version.create": _l("Questionnaire version created"),
    "questionnaire.version.activate": _l("Questionnaire version activated"),
    "period.create": _l("Reporting period created"),
    "frame.import": _l("Sampling frame imported"),
    "run.create": _l("Analysis run started"),
    "run.publish": _l("Run published"),
    "run.unpublish": _l("Run unpublished"),
}

#: object type -> (endpoint, URL argument, whether the id is an integer)
_PAGES = {
    "unit": ("admin.unit", "unit_id", True),
    "centre": ("admin.centre", "centre_id", True),
    "counter": ("admin.edit_counter", "counter_id", True),
    "kiosk": ("admin.kiosk", "kiosk_id", False),
    "user": ("admin.user", "user_id", True),
}


def action_label(action: str) -> str:
    """The label of a known action; others (added later elsewhere) show their code."""
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else action


def object_url(object_type: str, object_id: str) -> str | None:
    """The admin page of the object an event is about, if there is one."""
    page = _PAGES.get(object_type)
    if page is None or not object_id:
        return None
    endpoint, arg, numeric = page
    if numeric and not (object_id.isascii() and object_id.isdigit()):
        return None
    values: dict[str, Any] = {arg: int(object_id) if numeric else object_id}
    return url_for(endpoint, **values)
