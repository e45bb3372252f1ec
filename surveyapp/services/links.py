"""Signed phone links: ``/s/<centre>?c=<counter>&ch=<q|r>&exp=<YYYYMMDD>&sig=<hmac>``.

The signature is an HMAC-SHA256 (key derived from SECRET_KEY) over centre, counter, channel and
expiry date, so none of them can be changed without invalidating the link.  Links expire at the
end of ``exp`` (Vietnam time); posters are reprinted with a new date.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import current_app

CHANNEL_CODES = {"q": "phone-qr", "r": "receipt-link"}


class LinkProblem(Enum):
    """Why a link was refused (distinct values: equal values would make enum aliases)."""

    INVALID = "invalid"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Link:
    centre: str
    counter: str | None
    channel: str  # "q" or "r"
    exp: str  # YYYYMMDD

    def params(self) -> dict[str, str]:
        out = {}
        if self.counter:
            out["c"] = self.counter
        if self.channel != "q":
            out["ch"] = self.channel
        out["exp"] = self.exp
        out["sig"] = sign(self)
        return out

    def query(self) -> str:
        return urlencode(self.params())

    @property
    def channel_name(self) -> str:
        return CHANNEL_CODES[self.channel]

    @property
    def expires(self) -> dt.date:
        return dt.datetime.strptime(self.exp, "%Y%m%d").date()  # noqa: DTZ007 - a date


def _key() -> bytes:
    return hashlib.sha256(f"{current_app.config['SECRET_KEY']}|phone-link".encode()).digest()


def sign(link: Link) -> str:
    msg = "\x1f".join((link.centre, link.counter or "", link.channel, link.exp)).encode()
    digest = hmac.new(_key(), msg, hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode("ascii")


def make(centre: str, counter: str | None = None, channel: str = "q",
         valid_days: int | None = None, today: dt.date | None = None) -> Link:
    days = valid_days if valid_days is not None else int(current_app.config["LINK_VALID_DAYS"])
    start = today or local_today()
    expires = (start + dt.timedelta(days=days)).strftime("%Y%m%d")
    return Link(centre, counter or None, channel, expires)


def local_today() -> dt.date:
    return dt.datetime.now(ZoneInfo(current_app.config["TIMEZONE"])).date()


def verify(centre: str, args: dict[str, str]) -> tuple[Link | None, LinkProblem | None]:
    """Check a link's parameters; returns the link, or the reason it is refused.

    Signature first, then expiry: a forged expiry date is "invalid", not "expired".
    """
    counter = args.get("c") or None
    channel = args.get("ch") or "q"
    exp = args.get("exp") or ""
    sig = args.get("sig") or ""
    if channel not in CHANNEL_CODES or len(exp) != 8 or not exp.isdigit() or len(sig) > 64:
        return None, LinkProblem.INVALID
    link = Link(centre, counter, channel, exp)
    if not hmac.compare_digest(sign(link).encode(), sig.encode("utf-8", "replace")):
        return None, LinkProblem.INVALID
    try:
        expires = link.expires
    except ValueError:
        return None, LinkProblem.INVALID
    if local_today() > expires:
        return link, LinkProblem.EXPIRED
    return link, None
