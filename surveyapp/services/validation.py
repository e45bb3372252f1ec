"""Validation of a submitted response, shared by the JSON API and the HTML survey.

Every rule lives here so that the kiosk page, the phone page and an offline kiosk uploading its
queue are held to exactly the same contract.  Errors name the offending field.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _

from surveyapp.models import Kiosk
from surveyapp.models.centres import is_code
from surveyapp.models.responses import CHANNELS
from surveyapp.services import refcache
from surveyapp.services.kiosks import KioskRef
from surveyapp.services.links import Link
from surveyapp.services.refcache import CentreRef, ItemRef, Ref, VersionRef

ALLOWED_KEYS = frozenset(
    {"id", "centre", "counter", "channel", "questionnaire", "field", "answers", "comment",
     "client_time", "started_at"}
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class SubmissionError(Exception):
    """A rejected submission: HTTP status, machine code, the field at fault and a sentence."""

    def __init__(self, status: int, code: str, field: str | None, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.field, self.message = status, code, field, message

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "field": self.field, "message": self.message}}


@dataclass(frozen=True)
class Auth:
    """Who is submitting: a kiosk (token or device cookie) or a signed phone link."""

    kiosk: Kiosk | KioskRef | None = None
    link: Link | None = None


@dataclass
class Submission:
    """A validated response, ready to store."""

    id: uuid.UUID
    centre: CentreRef
    counter: Ref | None
    kiosk: Kiosk | KioskRef | None
    channel: str
    version: VersionRef
    field: Ref | None
    answers: dict[ItemRef, int | None]  # None = not applicable
    comment: str | None
    client_time: dt.datetime | None
    started_at: dt.datetime | None
    flags: dict[str, str] = dc_field(default_factory=dict)


def _bad(field_name: str | None, code: str, message: str, status: int = 400) -> SubmissionError:
    return SubmissionError(status, code, field_name, message)


def _wrong_type(name: str, expected: str) -> SubmissionError:
    return _bad(name, "wrong_type", _("Field %(f)s must be %(t)s.", f=name, t=expected))


def _optional_str(payload: dict[str, Any], name: str, allow_int: bool = False) -> str | None:
    value = payload.get(name)
    if value is None:
        return None
    if allow_int and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if not isinstance(value, str):
        raise _wrong_type(name, _("a string or null"))
    value = value.strip()
    if len(value) > 64:
        raise _bad(name, "too_long", _("Field %(f)s is too long.", f=name), 422)
    return value or None


def parse_uuid(value: Any) -> uuid.UUID:
    if value is None:
        raise _bad("id", "missing", _("Field %(f)s is required.", f="id"))
    if not isinstance(value, str):
        raise _wrong_type("id", _("a UUID string"))
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise _bad("id", "invalid", _("Field id must be a UUID.")) from None
    if parsed.int == 0 or len(value) > 45:
        raise _bad("id", "invalid", _("Field id must be a UUID."))
    return parsed


def parse_time(name: str, value: Any) -> dt.datetime | None:
    """ISO 8601 to naive UTC; a time without offset is read as Vietnam time."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong_type(name, _("an ISO 8601 date-time string"))
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise _bad_time(name) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(current_app.config["TIMEZONE"]))
    try:
        return parsed.astimezone(dt.UTC).replace(tzinfo=None)
    except OverflowError:
        raise _bad_time(name) from None


def _bad_time(name: str) -> SubmissionError:
    return _bad(name, "invalid", _("Field %(f)s must be an ISO 8601 date-time.", f=name))


def clean_comment(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong_type("comment", _("a string or null"))
    text = unicodedata.normalize("NFC", _CONTROL.sub("", value)).strip()
    if len(text) > int(current_app.config["COMMENT_MAX_LENGTH"]):
        raise _bad("comment", "too_long", _("The comment is too long (at most %(n)d characters).",
                                            n=int(current_app.config["COMMENT_MAX_LENGTH"])), 422)
    return text or None


def parse_answers(value: Any, version: VersionRef) -> dict[ItemRef, int | None]:
    if value is None:
        raise _bad("answers", "missing", _("Field %(f)s is required.", f="answers"))
    if not isinstance(value, dict):
        raise _wrong_type("answers", _("an object of item codes"))
    items = {it.code: it for it in version.items}
    out: dict[ItemRef, int | None] = {}
    for code, raw in value.items():
        name = f"answers.{code}"
        item = items.get(code)
        if item is None:
            raise _bad(name, "unknown_item", _("Item %(c)s is not in questionnaire %(q)s.",
                                               c=str(code)[:40], q=version.key), 422)
        if raw == "na":
            if not item.allow_na:
                raise _bad(name, "na_not_allowed",
                           _("Item %(c)s does not allow “not applicable”.", c=code), 422)
            out[item] = None
        elif isinstance(raw, int) and not isinstance(raw, bool):
            if not item.scale_min <= raw <= item.scale_max:
                raise _bad(name, "out_of_range", _("Value for %(c)s must be 1–5 or \"na\".",
                                                   c=code), 422)
            out[item] = raw
        else:
            raise _bad(name, "wrong_type", _("Value for %(c)s must be 1–5 or \"na\".", c=code))
    return out


def validate(payload: Any, auth: Auth) -> Submission:
    """Turn a decoded JSON object into a ``Submission`` or raise ``SubmissionError``."""
    if not isinstance(payload, dict):
        raise _bad(None, "invalid_body", _("The request body must be a JSON object."))
    for key in payload:
        if key not in ALLOWED_KEYS:
            raise _bad(str(key)[:40], "unknown_field", _("Unknown field %(f)s.", f=str(key)[:40]))
    rid = parse_uuid(payload.get("id"))

    channel = payload.get("channel")
    if channel is None:
        raise _bad("channel", "missing", _("Field %(f)s is required.", f="channel"))
    if not isinstance(channel, str):
        raise _wrong_type("channel", _("a string"))
    if channel not in CHANNELS:
        raise _bad("channel", "invalid", _("Unknown channel %(c)s.", c=channel[:20]), 422)

    centre_code = payload.get("centre")
    if centre_code is None:
        raise _bad("centre", "missing", _("Field %(f)s is required.", f="centre"))
    if not isinstance(centre_code, str):
        raise _wrong_type("centre", _("a string"))
    centre = refcache.centre(centre_code) if is_code(centre_code) else None
    if centre is None or not centre.active:
        raise _bad("centre", "unknown_centre", _("Unknown service centre %(c)s.",
                                                  c=centre_code[:40]), 422)

    counter_code = _optional_str(payload, "counter", allow_int=True)
    _check_auth(auth, centre, channel, counter_code)
    if counter_code is None and auth.link is not None and auth.link.counter:
        counter_code = auth.link.counter
    counter = None
    if counter_code is not None and is_code(counter_code):
        counter = refcache.counter(centre.id, counter_code)
    if counter_code is not None and counter is None:
        raise _bad("counter", "unknown_counter", _("Counter %(c)s is not in this centre.",
                                                   c=counter_code[:40]), 422)

    key = payload.get("questionnaire")
    if key is None:
        raise _bad("questionnaire", "missing", _("Field %(f)s is required.", f="questionnaire"))
    if not isinstance(key, str):
        raise _wrong_type("questionnaire", _("a string"))
    version = refcache.version(key) if is_code(key) else None
    if version is None or version.status == "draft":
        raise _bad("questionnaire", "unknown_questionnaire",
                   _("Unknown questionnaire version %(q)s.", q=key[:60]), 422)

    field_code = _optional_str(payload, "field")
    proc_field = None
    if field_code is not None and is_code(field_code):
        proc_field = refcache.field(field_code)
    if field_code is not None and proc_field is None:
        raise _bad("field", "unknown_field_code", _("Unknown procedure field %(c)s.",
                                                    c=field_code[:40]), 422)

    answers = parse_answers(payload.get("answers"), version)
    comment = clean_comment(payload.get("comment"))
    if not answers and comment is None:
        raise _bad("answers", "empty", _("The response has no answers and no comment."), 422)
    return Submission(
        id=rid, centre=centre, counter=counter, kiosk=auth.kiosk, channel=channel,
        version=version, field=proc_field, answers=answers, comment=comment,
        client_time=parse_time("client_time", payload.get("client_time")),
        started_at=parse_time("started_at", payload.get("started_at")),
    )


def _check_auth(auth: Auth, centre: CentreRef, channel: str, counter: str | None) -> None:
    """The credential must cover this centre, channel (and counter, for counter links)."""
    if auth.kiosk is not None:
        if auth.kiosk.centre_id != centre.id:
            raise _bad("centre", "forbidden_centre",
                       _("This kiosk is registered to another centre."), 403)
        if channel not in ("kiosk", "assisted"):
            raise _bad("channel", "forbidden_channel",
                       _("A kiosk may only submit kiosk or assisted responses."), 403)
    elif auth.link is not None:
        if auth.link.centre != centre.code:
            raise _bad("centre", "forbidden_centre", _("The link is for another centre."), 403)
        if channel != auth.link.channel_name:
            raise _bad("channel", "forbidden_channel",
                       _("The link is for channel %(c)s.", c=auth.link.channel_name), 403)
        if auth.link.counter and counter not in (None, auth.link.counter):
            raise _bad("counter", "forbidden_counter", _("The link is for another counter."), 403)
    else:  # pragma: no cover - the API refuses unauthenticated calls before validating
        raise _bad(None, "unauthenticated", _("Authentication required."), 401)
