"""The multi-step survey without JavaScript: state travels in a signed hidden field.

Why not a server-side draft: nothing is written until the citizen submits, abandoned surveys
leave no rows to clean up, and a kiosk reset simply drops the page.  The state is signed (and
time-limited) so it cannot be edited in the browser; on submit it goes through exactly the same
validation as the JSON API.  The response UUID is made when the first page is shown and sits in
the state, so submitting twice stores one response.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from surveyapp.extensions import db
from surveyapp.models import Item, ProcedureField, QuestionnaireVersion
from surveyapp.services import questionnaires

_SALT = "sipas.survey-state"
#: A survey page older than this cannot be continued (the kiosk resets long before).
STATE_MAX_AGE = 3 * 3600
VALUES = ("1", "2", "3", "4", "5", "na")


@dataclass
class State:
    """Everything a half-finished survey needs; lives only in the page."""

    rid: str
    ctx: str
    version: str
    started: int
    lang: str = "vi"
    step: int = 0
    field: str | None = None
    answers: dict[str, str] = dc_field(default_factory=dict)
    comment: str = ""
    honeypot: bool = False

    def dump(self) -> str:
        data = {"r": self.rid, "x": self.ctx, "v": self.version, "t": self.started,
                "l": self.lang, "s": self.step, "f": self.field, "a": self.answers,
                "c": self.comment, "h": int(self.honeypot)}
        return _serializer().dumps(data)

    def answer_value(self, item: Item) -> str | None:
        return self.answers.get(item.code)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def new_state(ctx: str, version: QuestionnaireVersion, lang: str) -> State:
    return State(rid=str(uuid.uuid4()), ctx=ctx, version=version.key,
                 started=int(time.time()), lang=lang if lang in ("vi", "en") else "vi")


def load_state(token: str | None, ctx: str) -> State | None:
    """The state from a page, or None when it is missing, forged, stale or for another device."""
    if not token:
        return None
    try:
        data = _serializer().loads(token, max_age=STATE_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("x") != ctx:
        return None
    try:
        return State(rid=str(data["r"]), ctx=ctx, version=str(data["v"]), started=int(data["t"]),
                     lang=str(data["l"]), step=int(data["s"]), field=data.get("f"),
                     answers={str(k): str(v) for k, v in dict(data.get("a") or {}).items()},
                     comment=str(data.get("c") or ""), honeypot=bool(data.get("h")))
    except (KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Page:
    """What one step shows: the field choice, one content's items, or the comment box."""

    kind: str  # "field", "content", "comment"
    index: int
    total: int
    content_code: str | None = None
    items: tuple[Item, ...] = ()


def pages(version: QuestionnaireVersion, with_fields: bool) -> list[Page]:
    contents = version.contents()
    out: list[Page] = []
    total_contents = len(contents)
    if with_fields:
        out.append(Page("field", 0, total_contents))
    for i, (code, items) in enumerate(contents, start=1):
        out.append(Page("content", i, total_contents, code, tuple(items)))
    out.append(Page("comment", total_contents + 1, total_contents))
    return out


def active_fields() -> list[ProcedureField]:
    return list(db.session.scalars(
        select(ProcedureField).where(ProcedureField.active.is_(True))
        .order_by(ProcedureField.position, ProcedureField.code)
    ))


def version_for(state: State) -> QuestionnaireVersion | None:
    return questionnaires.by_key(state.version)


def absorb(state: State, page: Page, form: Any) -> None:
    """Copy this page's inputs into the state; unknown values are ignored, never stored."""
    for item in page.items:
        value = form.get(f"i{item.id}")
        if value in VALUES and (value != "na" or item.allow_na):
            state.answers[item.code] = value
    if page.kind == "comment":
        state.comment = (form.get("comment") or "")[: int(current_app.config["COMMENT_MAX_LENGTH"])]
    if form.get("website"):
        state.honeypot = True


def payload(state: State, centre: str, counter: str | None, channel: str) -> dict[str, Any]:
    """The JSON-API-shaped payload for ``services.validation.validate``."""
    answers: dict[str, Any] = {
        code: ("na" if value == "na" else int(value)) for code, value in state.answers.items()
    }
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(state.started))
    return {"id": state.rid, "centre": centre, "counter": counter, "channel": channel,
            "questionnaire": state.version, "field": state.field, "answers": answers,
            "comment": state.comment or None, "started_at": started}
