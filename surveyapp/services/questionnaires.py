"""Questionnaire versions: loading the standard one, picking the current one, freezing.

Freezing rule: the first response that uses a version sets ``frozen_at`` in the same
transaction; a frozen version's items are never edited again — ``revise`` copies it into a new
version instead, so every stored response keeps pointing at the exact form it answered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from surveyapp.extensions import db
from surveyapp.models import Item, Questionnaire, QuestionnaireVersion
from surveyapp.services.reference import read_reference

NAMES = {
    "sipas-2023": ("Phiếu khảo sát SIPAS (từ 2022)", "SIPAS questionnaire (2022 onward)"),
    "sipas-2017": ("Phiếu khảo sát SIPAS 2017–2021", "SIPAS questionnaire 2017–2021"),
}
#: From the reference (§2): a refusal is a result too; keep this note on any form.
CONTENT_NOTES = {
    "C4": (
        "Kết quả có thể là được cấp giấy tờ hoặc bị từ chối cấp giấy tờ.",
        "The result may be a document issued or a refusal to issue it.",
    )
}


class FrozenVersionError(RuntimeError):
    """Raised when code tries to change the items of a version that responses already use."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def load_questionnaire(code: str = "sipas-2023") -> QuestionnaireVersion:
    """Load ``code`` from sipas-criteria.csv as version 1 (active); idempotent.

    When version 1 exists and is unchanged nothing happens; when the CSV differs from a frozen
    version, a new version is created rather than editing what responses already answered.
    """
    rows = [r for r in read_reference("sipas-criteria.csv") if r["questionnaire"] == code]
    if not rows:
        raise ValueError(f"no questionnaire {code!r} in sipas-criteria.csv")
    q = db.session.scalar(select(Questionnaire).where(Questionnaire.code == code))
    if q is None:
        name_vi, name_en = NAMES.get(code, (code, code))
        q = Questionnaire(code=code, name_vi=name_vi, name_en=name_en)
        db.session.add(q)
        db.session.flush()
    wanted = [_item_fields(i, r) for i, r in enumerate(rows, start=1)]
    latest = q.versions[-1] if q.versions else None
    if latest is not None and [_fields_of(it) for it in latest.items] == wanted:
        return latest
    version = _new_version(q, status="active")
    for fields in wanted:
        version.items.append(Item(**fields))
    if latest is not None and latest.status == "active":
        latest.status = "retired"
    db.session.commit()
    return version


def _item_fields(position: int, row: dict[str, str]) -> dict[str, object]:
    note = CONTENT_NOTES.get(row["content_code"], (None, None))
    return {
        "code": row["criterion_code"],
        "content_code": row["content_code"],
        "content_vi": row["content_vi"],
        "content_en": row["content_en"],
        "content_note_vi": note[0],
        "content_note_en": note[1],
        "text_vi": row["criterion_vi"],
        "text_en": row["criterion_en"] or row["criterion_vi"],
        "position": position,
        "scale_min": 1,
        "scale_max": 5,
        "allow_na": True,
    }


ITEM_FIELDS = tuple(_item_fields(1, {k: "" for k in (
    "criterion_code", "content_code", "content_vi", "content_en", "criterion_vi", "criterion_en"
)}).keys())


def _fields_of(item: Item) -> dict[str, object]:
    return {k: getattr(item, k) for k in ITEM_FIELDS}


def _new_version(q: Questionnaire, status: str) -> QuestionnaireVersion:
    number = max((v.number for v in q.versions), default=0) + 1
    version = QuestionnaireVersion(
        questionnaire=q, number=number, key=f"{q.code}.v{number}", status=status,
        created_at=utcnow(),
    )
    db.session.add(version)
    return version


def current_version(code: str) -> QuestionnaireVersion | None:
    """The active version the forms show (the newest active one)."""
    return db.session.scalar(
        select(QuestionnaireVersion)
        .join(Questionnaire)
        .where(Questionnaire.code == code, QuestionnaireVersion.status == "active")
        .order_by(QuestionnaireVersion.number.desc())
        .limit(1)
    )


def by_key(key: str) -> QuestionnaireVersion | None:
    return db.session.scalar(select(QuestionnaireVersion).where(QuestionnaireVersion.key == key))


def freeze(version: QuestionnaireVersion) -> None:
    """Mark ``version`` frozen inside the caller's transaction (no-op when already frozen)."""
    if version.frozen_at is None:
        db.session.execute(
            update(QuestionnaireVersion)
            .where(QuestionnaireVersion.id == version.id, QuestionnaireVersion.frozen_at.is_(None))
            .values(frozen_at=utcnow())
        )


def revise(
    version: QuestionnaireVersion, change: Callable[[QuestionnaireVersion], None]
) -> QuestionnaireVersion:
    """Apply ``change`` to ``version`` if it is still a draft-like unfrozen version; otherwise
    to a copy that becomes the next version (active when the original was)."""
    db.session.refresh(version)
    target = version
    if version.frozen:
        target = _new_version(version.questionnaire, status=version.status)
        for it in version.items:
            target.items.append(Item(**_fields_of(it)))
        if version.status == "active":
            version.status = "retired"
    change(target)
    db.session.commit()
    return target


def copy_to_draft(version: QuestionnaireVersion) -> QuestionnaireVersion:
    """A new draft version with the same items as ``version`` (not committed).

    Unlike ``revise`` the original keeps its status: the draft is edited first and only
    replaces the active version when it is activated.
    """
    draft = _new_version(version.questionnaire, status="draft")
    for it in version.items:
        draft.items.append(Item(**_fields_of(it)))
    return draft


def activate(version: QuestionnaireVersion) -> list[QuestionnaireVersion]:
    """Make ``version`` the one kiosks and phones show; the questionnaire's other active
    versions are retired.  Returns the retired ones (not committed)."""
    retired = [v for v in version.questionnaire.versions
               if v.id != version.id and v.status == "active"]
    for other in retired:
        other.status = "retired"
    version.status = "active"
    return retired


def install_guards() -> None:
    """Register the frozen-version guard once per process (called by ``create_app``)."""
    if not event.contains(Session, "before_flush", _guard_frozen):
        event.listen(Session, "before_flush", _guard_frozen)


def _guard_frozen(session: Session, _ctx: object, _instances: object) -> None:
    """Refuse edits to items of a frozen version, wherever they come from.

    Reads ``frozen_at`` from the database, not the (possibly stale) identity map, because the
    freezing UPDATE runs as a bulk statement inside the submitting transaction.
    """
    touched = [o for o in session.dirty if isinstance(o, Item) and session.is_modified(o)]
    touched += [o for o in session.deleted if isinstance(o, Item)]
    touched += [o for o in session.new if isinstance(o, Item)]
    version_ids = {o.version_id or (o.version.id if o.version else None) for o in touched}
    version_ids.discard(None)
    if not version_ids:
        return
    with session.no_autoflush:
        frozen = session.scalars(
            select(QuestionnaireVersion.key).where(
                QuestionnaireVersion.id.in_(version_ids),
                QuestionnaireVersion.frozen_at.is_not(None),
            )
        ).all()
    if frozen:
        raise FrozenVersionError(f"questionnaire version {frozen[0]} is frozen; use revise()")
