"""API authentication: a kiosk token, a kiosk device cookie, or a phone link's signature.

* ``Authorization: Kiosk <kiosk-id>:<token>`` — the token printed by ``kiosk-register``.
* ``Authorization: Link c=<counter>&ch=<q|r>&exp=<YYYYMMDD>&sig=<sig>`` — the query string of
  the signed link the phone page was opened with; the centre is the body's ``centre``.
* the ``sipas_kiosk`` device cookie of a set-up kiosk browser (SameSite=Strict, and the API
  only takes ``application/json``, which a cross-site form cannot send without a preflight).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from flask import request
from flask_babel import gettext as _

from surveyapp.services import kiosks, links
from surveyapp.services.validation import Auth, SubmissionError


def _unauthenticated(message: str) -> SubmissionError:
    return SubmissionError(401, "unauthenticated", None, message)


def authenticate(payload: Any) -> Auth:
    """Resolve the request's credential; raise 401/403 ``SubmissionError`` when it fails."""
    header = request.headers.get("Authorization", "")
    scheme, _sep, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "kiosk":
        kiosk_id, _sep2, token = value.strip().partition(":")
        kiosk = kiosks.check_api_token(kiosk_id, token)
        if kiosk is None:
            raise _unauthenticated(_("Unknown kiosk or wrong token."))
        return Auth(kiosk=kiosk)
    if scheme == "link":
        params = dict(parse_qsl(value.strip(), keep_blank_values=True))
        centre = payload.get("centre") if isinstance(payload, dict) else None
        if not isinstance(centre, str):
            raise SubmissionError(400, "missing", "centre", _("Field %(f)s is required.",
                                                              f="centre"))
        link, problem = links.verify(centre, params)
        if problem is links.LinkProblem.EXPIRED:
            raise SubmissionError(403, "link_expired", None, _("This survey link has expired."))
        if problem is not None or link is None:
            raise SubmissionError(403, "link_invalid", None, _("The survey link is not valid."))
        return Auth(link=link)
    if header:
        raise _unauthenticated(_("Unsupported authorization scheme."))
    cookie = request.cookies.get(kiosks.COOKIE_NAME)
    if cookie:
        claimed = kiosks.cookie_kiosk_id(cookie)
        kiosk = kiosks.kiosk_from_cookie(claimed, cookie) if claimed else None
        if kiosk is not None:
            return Auth(kiosk=kiosk)
    raise _unauthenticated(_("Authentication required: a kiosk token or a signed link."))

