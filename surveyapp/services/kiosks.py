"""Kiosk registration and authentication.

A kiosk gets a random 32-byte token once, at registration; only its SHA-256 digest is stored
(the token has full entropy, so a slow password hash adds nothing and would cap API throughput).
Browsers hold a signed, HttpOnly cookie instead of the token: it names the kiosk and a
fingerprint of the token digest, so re-registering (new token) or revoking invalidates it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import bindparam, select, update

from surveyapp.extensions import db
from surveyapp.models import Counter, Kiosk, ServiceCentre
from surveyapp.models.centres import is_code
from surveyapp.services.questionnaires import utcnow

COOKIE_NAME = "sipas_kiosk"
_COOKIE_SALT = "sipas.kiosk-device"


@dataclass(frozen=True)
class KioskCredentials:
    """What ``kiosk-register`` prints once: the id and the clear-text token."""

    id: str
    token: str
    centre_code: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_kiosk_id() -> str:
    """``k-`` plus 8 lowercase base32 characters: short enough to type, unguessable enough."""
    raw = base64.b32encode(secrets.token_bytes(5)).decode("ascii").lower()
    return f"k-{raw}"


def register(
    centre: ServiceCentre, counter: Counter | None = None, label: str = "", *, commit: bool = True
) -> KioskCredentials:
    """Create a kiosk for ``centre`` and return its one-time credentials.

    ``commit=False`` leaves the transaction open, so a caller (the admin pages) can add its
    audit event and commit both together.
    """
    token = secrets.token_urlsafe(32)
    kiosk_id = new_kiosk_id()
    while db.session.get(Kiosk, kiosk_id) is not None:  # pragma: no cover - 2**40 ids
        kiosk_id = new_kiosk_id()
    kiosk = Kiosk(
        id=kiosk_id, centre=centre, counter=counter, label=label,
        token_hash=hash_token(token), registered_at=utcnow(),
    )
    db.session.add(kiosk)
    if commit:
        db.session.commit()
    return KioskCredentials(id=kiosk_id, token=token, centre_code=centre.code)


def mark_start(kiosk: Kiosk) -> None:
    """Record that the kiosk's start screen is showing: any survey begun earlier on this
    device was abandoned (idle reset, or submitted and reset), and may not be continued."""
    now = utcnow()
    db.session.execute(update(Kiosk).where(Kiosk.id == kiosk.id).values(last_start_at=now))
    db.session.commit()
    kiosk.last_start_at = now


def revoke(kiosk: Kiosk, *, commit: bool = True) -> None:
    """Switch a kiosk off; its token and device cookie stop working at once."""
    kiosk.revoked_at = utcnow()
    if commit:
        db.session.commit()


def get_active(kiosk_id: str) -> Kiosk | None:
    """The kiosk if it exists, is not revoked and its centre is active."""
    if not is_code(kiosk_id) or len(kiosk_id) > 20:
        return None
    kiosk = db.session.get(Kiosk, kiosk_id)
    if kiosk is None or kiosk.revoked or not kiosk.centre.active:
        return None
    return kiosk


@dataclass(frozen=True)
class KioskRef:
    """The API's view of a kiosk: enough to authorise a submission, read without the ORM."""

    id: str
    centre_id: int


_K, _C = Kiosk.__table__.c, ServiceCentre.__table__.c
#: Built once (a Core statement on the tables with a bound parameter): building and hashing
#: the statement on every request cost more CPU than running it.
_API_TOKEN = (
    select(_K.id, _K.centre_id, _K.token_hash)
    .join(ServiceCentre.__table__, _K.centre_id == _C.id)
    .where(_K.id == bindparam("kiosk_id"), _K.revoked_at.is_(None), _C.active.is_(True))
)


def check_api_token(kiosk_id: str, token: str) -> KioskRef | None:
    """``check_token`` for the submission API: one Core query, nothing cached (a revoked
    kiosk or deactivated centre is refused on its next request)."""
    if not is_code(kiosk_id) or len(kiosk_id) > 20 or not token:
        return None
    row = db.session.connection().execute(_API_TOKEN, {"kiosk_id": kiosk_id}).first()
    if row is None or not hmac.compare_digest(row.token_hash, hash_token(token)):
        return None
    return KioskRef(row.id, row.centre_id)


def check_token(kiosk_id: str, token: str) -> Kiosk | None:
    """Constant-time check of a clear-text token against the stored digest."""
    kiosk = get_active(kiosk_id)
    if kiosk is None or not token:
        return None
    if not hmac.compare_digest(kiosk.token_hash, hash_token(token)):
        return None
    return kiosk


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_COOKIE_SALT)


def cookie_value(kiosk: Kiosk) -> str:
    return _serializer().dumps({"k": kiosk.id, "f": kiosk.token_hash[:16]})


def cookie_kiosk_id(value: str) -> str | None:
    """The kiosk id a cookie claims (verified signature, not yet checked against the DB)."""
    try:
        data = _serializer().loads(value)
    except BadSignature:
        return None
    return data.get("k") if isinstance(data, dict) and isinstance(data.get("k"), str) else None


def kiosk_from_cookie(kiosk_id: str, value: str | None) -> Kiosk | None:
    """The kiosk named by a valid device cookie for ``kiosk_id``, else None."""
    if not value:
        return None
    max_age = int(current_app.config["KIOSK_COOKIE_MAX_AGE_DAYS"]) * 86400
    try:
        data = _serializer().loads(value, max_age=max_age)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("k") != kiosk_id:
        return None
    kiosk = get_active(kiosk_id)
    if kiosk is None or not hmac.compare_digest(str(data.get("f")), kiosk.token_hash[:16]):
        return None
    return kiosk


def find_centre(code: str) -> ServiceCentre | None:
    if not is_code(code):
        return None
    return db.session.scalar(select(ServiceCentre).where(ServiceCentre.code == code))
