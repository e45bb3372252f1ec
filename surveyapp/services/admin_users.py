"""Staff accounts for the admin pages: create, change role or province, deactivate,
reactivate, reset a password, unlock — each with one audit event.

Anything that takes rights away (deactivation, new role or province, new password) bumps
``session_version``, which ends the user's open sessions. An admin can neither deactivate nor
demote their own account, so there is always at least one admin who can sign in.
Audit events never contain password hashes.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, select

from surveyapp.extensions import db
from surveyapp.models import User
from surveyapp.models.users import ROLES
from surveyapp.services import audit
from surveyapp.services.accounts import (
    MIN_PASSWORD_LENGTH,
    AccountError,
    create_user,
    current_province,
    hash_password,
)
from surveyapp.services.admin_common import AdminError, commit, snapshot, utc_text

USERNAME = re.compile(r"[a-z0-9._-]{1,80}")
PROVINCE_CODE = re.compile(r"[0-9]{2}")
PASSWORD_MAX = 200


@dataclass(frozen=True)
class UserInput:
    display_name: str
    role: str
    province_code: str


def user_state(user: User) -> dict[str, Any]:
    state = snapshot(user, ("username", "display_name", "role", "active"))
    state["province"] = user.unit.code if user.unit is not None else None
    return state


def users(role: str = "", status: str = "all") -> Select[User]:
    stmt = select(User)
    if role in ROLES:
        stmt = stmt.where(User.role == role)
    if status in ("active", "inactive"):
        stmt = stmt.where(User.active.is_(status == "active"))
    return stmt.order_by(User.username)


def _check_role(data: UserInput) -> None:
    if data.role not in ROLES:
        raise AdminError(_l("Please choose a role."), "role")
    if data.role == "province" and not data.province_code:
        raise AdminError(_l("A province user needs a province."), "province")
    if data.role == "province" and (not PROVINCE_CODE.fullmatch(data.province_code)
                                    or current_province(data.province_code) is None):
        raise AdminError(_l("No province with code %(code)s is in force today.",
                            code=data.province_code), "province")


def _check_password(password: str, confirm: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AdminError(_l("The password must have at least %(n)s characters.",
                            n=MIN_PASSWORD_LENGTH), "password")
    if len(password) > PASSWORD_MAX:
        raise AdminError(_l("The password is too long (at most 200 characters)."), "password")
    if password != confirm:
        raise AdminError(_l("The two passwords are not the same."), "confirm")


def create(username: str, data: UserInput, password: str, confirm: str) -> User:
    """A new account; every problem is reported in the admin's language before writing."""
    username = username.strip().lower()
    if not USERNAME.fullmatch(username):
        raise AdminError(_l("User name: lower-case letters, digits, '.', '-' or '_' only."),
                         "username")
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AdminError(_l("User name %(name)s is already taken.", name=username), "username")
    _check_role(data)
    _check_password(password, confirm)
    try:
        user = create_user(username, password, data.role,
                           province_code=data.province_code if data.role == "province" else None,
                           display_name=data.display_name)
    except AccountError:  # pragma: no cover - every rule is checked above
        db.session.rollback()
        raise AdminError(_l("The account could not be created; please check the form.")) from None
    db.session.flush()
    audit.record("user.create", "user", user.id, after=user_state(user))
    commit(_l("User name %(name)s is already taken.", name=username))
    return user


def update(user: User, actor: User, data: UserInput) -> bool:
    """Change display name, role and province; False when nothing changed."""
    _check_role(data)
    if user.id == actor.id and data.role != "admin":
        raise AdminError(_l("You cannot take the administrator role from your own account. "
                            "Ask another administrator."), "role")
    before = user_state(user)
    unit = current_province(data.province_code) if data.role == "province" else None
    rights_change = data.role != user.role or (unit.id if unit else None) != user.unit_id
    user.display_name = data.display_name or user.username
    user.role, user.unit = data.role, unit
    after = user_state(user)
    if after == before:
        return False
    if rights_change:
        user.session_version += 1
    audit.record("user.update", "user", user.id, before=before, after=after)
    db.session.commit()
    return True


def set_active(user: User, actor: User, active: bool) -> bool:
    """Deactivate (ending every session) or reactivate; False when already so."""
    if user.id == actor.id and not active:
        raise AdminError(_l("You cannot deactivate your own account. Ask another "
                            "administrator."))
    if user.active == active:
        return False
    before = user_state(user)
    user.active = active
    if not active:
        user.session_version += 1
    else:
        user.failed_logins, user.locked_until = 0, None
    audit.record("user.reactivate" if active else "user.deactivate", "user", user.id,
                 before=before, after=user_state(user))
    db.session.commit()
    return True


def reset_password(user: User, password: str, confirm: str) -> None:
    """Set a new password chosen by the admin; ends the user's sessions and any lockout."""
    _check_password(password, confirm)
    before = {"locked_until": utc_text(user.locked_until), "failed_logins": user.failed_logins}
    user.password_hash = hash_password(password)
    user.session_version += 1
    user.failed_logins, user.locked_until = 0, None
    audit.record("user.password_reset", "user", user.id, before=before,
                 after={"locked_until": None, "failed_logins": 0})
    db.session.commit()


def unlock(user: User, now: dt.datetime) -> bool:
    """Lift a lockout early (the user remembered the password); False when not locked."""
    if not (user.locked_until and user.locked_until > now) and not user.failed_logins:
        return False
    before = {"locked_until": utc_text(user.locked_until), "failed_logins": user.failed_logins}
    user.failed_logins, user.locked_until = 0, None
    audit.record("user.unlock", "user", user.id, before=before,
                 after={"locked_until": None, "failed_logins": 0})
    db.session.commit()
    return True
