"""Staff accounts: argon2id password hashes, login with lockout and backoff.

After ``LOCK_AFTER`` consecutive failures an account is locked for ``LOCK_BASE`` seconds,
doubling with every further failure up to ``LOCK_MAX``; a success resets the count. Unknown
user names cost the same hashing time as known ones, so timing does not reveal which exist.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app, has_app_context
from sqlalchemy import select

from surveyapp.extensions import db
from surveyapp.models import AdminUnit, User
from surveyapp.models.users import ROLES

LOCK_AFTER = 5
LOCK_BASE = dt.timedelta(minutes=1)
LOCK_MAX = dt.timedelta(hours=1)
MIN_PASSWORD_LENGTH = 10

_STRONG = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (argon2-cffi default)
#: Test suites only (config PASSWORD_HASH_PROFILE = "test"): hashing fast enough for fixtures.
_CHEAP = PasswordHasher.from_parameters(profiles.CHEAPEST)
_DUMMY: dict[int, str] = {}  # per hasher, made on first use (not at import: ~0.3 s each)


def _hasher() -> PasswordHasher:
    if has_app_context() and current_app.config.get("PASSWORD_HASH_PROFILE") == "test":
        return _CHEAP
    return _STRONG


class AccountError(ValueError):
    """A user-facing problem with an account operation (message is an English msgid)."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Password must have at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher().hash(password)


def verify_password(user: User | None, password: str) -> bool:
    hasher = _hasher()
    if user is None and id(hasher) not in _DUMMY:
        _DUMMY[id(hasher)] = hasher.hash("not a real password, only for timing")
    try:
        return hasher.verify(user.password_hash if user else _DUMMY[id(hasher)], password) and (
            user is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    locked_for: dt.timedelta | None = None  # set when the account is locked right now


def authenticate(username: str, password: str, now: dt.datetime | None = None) -> LoginResult:
    """Check credentials, applying lockout; commits the failure count either way."""
    now = now or utcnow()
    user = db.session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is not None and user.locked_until and user.locked_until > now:
        verify_password(None, password)  # same cost as a real attempt
        return LoginResult(None, user.locked_until - now)
    ok = verify_password(user, password)
    if user is None or not user.active:
        return LoginResult(None)
    if not ok:
        user.failed_logins += 1
        if user.failed_logins >= LOCK_AFTER:
            extra = user.failed_logins - LOCK_AFTER
            user.locked_until = now + min(LOCK_BASE * (2**extra), LOCK_MAX)
        db.session.commit()
        return LoginResult(None)
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    db.session.commit()
    return LoginResult(user)


def create_user(username: str, password: str, role: str, *, province_code: str | None = None,
                display_name: str = "") -> User:
    """Create an account (not committed). Province users name their province by its code."""
    username = username.strip().lower()
    if not username or len(username) > 80 or not username.replace(".", "").replace(
        "-", "").replace("_", "").isalnum():
        raise AccountError("User name: letters, digits, '.', '-' or '_' only")
    if role not in ROLES:
        raise AccountError(f"Unknown role {role!r}; use one of {', '.join(ROLES)}")
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AccountError(f"User {username!r} already exists")
    unit = None
    if role == "province":
        if not province_code:
            raise AccountError("A province user needs --province CODE")
        unit = current_province(province_code)
        if unit is None:
            raise AccountError(f"No current province with code {province_code!r}")
    elif province_code:
        raise AccountError("Only province users are tied to a province")
    user = User(username=username, display_name=display_name or username,
                password_hash=hash_password(password), role=role, unit=unit, active=True,
                failed_logins=0, created_at=utcnow(), session_version=1)
    db.session.add(user)
    return user


def current_province(code: str, day: dt.date | None = None) -> AdminUnit | None:
    """The province-level unit with ``code`` valid on ``day`` (today by default)."""
    day = day or utcnow().date()
    units = db.session.scalars(
        select(AdminUnit).where(AdminUnit.level == "province", AdminUnit.code == code)
    ).all()
    return next((u for u in units if u.valid_on(day)), None)
