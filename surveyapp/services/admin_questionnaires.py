"""Questionnaire versions for the admin pages: overview, item texts, new drafts, activation.

The freezing rules live in ``surveyapp.services.questionnaires``; this module only adds the
audit events and the checks an admin needs to see as sentences (a frozen version's items are
never edited: the admin makes a new draft from it instead).
"""

from __future__ import annotations

from collections import Counter as Tally
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from surveyapp.extensions import db
from surveyapp.models import Item, Questionnaire, QuestionnaireVersion, Response
from surveyapp.services import audit, questionnaires
from surveyapp.services.admin_common import AdminError, commit
from surveyapp.services.questionnaires import FrozenVersionError

TEXT_MAX = 1000
EDITABLE = ("text_vi", "text_en", "allow_na")


@dataclass(frozen=True)
class VersionRow:
    """One line of the versions overview."""

    version: QuestionnaireVersion
    responses: int
    per_content: list[tuple[str, int]]


def overview() -> list[tuple[Questionnaire, list[VersionRow]]]:
    """Every questionnaire with its versions, newest first, and their response counts."""
    counts = dict(db.session.execute(
        select(Response.version_id, func.count()).group_by(Response.version_id)).all())
    out = []
    for q in db.session.scalars(select(Questionnaire).order_by(Questionnaire.code)):
        rows = [VersionRow(v, counts.get(v.id, 0),
                           sorted(Tally(it.content_code for it in v.items).items()))
                for v in reversed(q.versions)]
        out.append((q, rows))
    return out


def response_count(version: QuestionnaireVersion) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Response).where(Response.version_id == version.id)) or 0


def version_state(version: QuestionnaireVersion) -> dict[str, Any]:
    return {"key": version.key, "status": version.status, "frozen": version.frozen,
            "items": len(version.items)}


def update_items(version: QuestionnaireVersion, changes: dict[int, dict[str, Any]]) -> int:
    """Apply new texts / N/A flags (``{item id: {field: value}}``) to an unfrozen version.

    One audit event lists the changed items before and after; returns how many changed.
    """
    db.session.refresh(version)
    if version.frozen:
        raise AdminError(_l("This version has been answered and can no longer be edited. "
                            "Make a new version from it instead."))
    items = {it.id: it for it in version.items}
    for item_id, fields in changes.items():  # check everything before changing anything
        item = items.get(item_id)
        for name in ("text_vi", "text_en"):
            text = fields.get(name)
            if item is not None and text is not None and not text:
                raise AdminError(_l("Item %(code)s: the text may not be empty.", code=item.code))
            if item is not None and text is not None and len(text) > TEXT_MAX:
                raise AdminError(_l("Item %(code)s: the text is too long (at most 1000 "
                                    "characters).", code=item.code))
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for item_id, fields in changes.items():
        item = items.get(item_id)
        if item is None:
            continue
        old = {k: getattr(item, k) for k in EDITABLE}
        new = {k: fields.get(k, old[k]) for k in EDITABLE}
        if new != old:
            before[item.code], after[item.code] = old, new
            for k, v in new.items():
                setattr(item, k, v)
    if not after:
        return 0
    try:
        audit.record("questionnaire.items", "questionnaire_version", version.key,
                     before=before, after=after)
        db.session.flush()
    except FrozenVersionError:  # a response froze it a moment ago
        db.session.rollback()
        raise AdminError(_l("This version has been answered and can no longer be edited. "
                            "Make a new version from it instead.")) from None
    db.session.commit()
    return len(after)


def new_draft(version: QuestionnaireVersion) -> QuestionnaireVersion:
    """A draft copy of ``version`` to edit and later activate."""
    draft = questionnaires.copy_to_draft(version)
    db.session.flush()
    audit.record("questionnaire.version.create", "questionnaire_version", draft.key,
                 before=None, after=version_state(draft) | {"copied_from": version.key})
    commit(_l("Another version was made at the same moment; please try again."))
    return draft


def activate(version: QuestionnaireVersion) -> bool:
    """Make ``version`` the active one; False when it already is (nothing recorded)."""
    if version.status == "active":
        return False
    if not version.items:
        raise AdminError(_l("A version without items cannot be activated."))
    before = {v.key: v.status for v in version.questionnaire.versions if v.status == "active"}
    before[version.key] = version.status
    retired = questionnaires.activate(version)
    after = {v.key: v.status for v in retired} | {version.key: version.status}
    audit.record("questionnaire.version.activate", "questionnaire_version", version.key,
                 before=before, after=after)
    db.session.commit()
    return True


def items_by_id(version: QuestionnaireVersion) -> dict[int, Item]:
    return {it.id: it for it in version.items}
