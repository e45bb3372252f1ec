"""Staff accounts and the audit trail of what they did.

Citizens never have accounts. Staff roles: ``admin`` (everything), ``statistician`` (frames,
designs, runs, publishing; every province), ``province`` (read-only, one province-level unit:
its communes, centres and published results).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, CheckConstraint, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from surveyapp.db import Base
from surveyapp.models.geography import AdminUnit

ROLES = ("admin", "statistician", "province")


class User(Base):
    """A staff account. ``password_hash`` is an argon2id hash; the password is never stored."""

    __tablename__ = "user_account"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'statistician', 'province')", name="role"),
        CheckConstraint("role != 'province' OR unit_id IS NOT NULL", name="province_unit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    #: For role 'province': the province-level unit whose data the user may see.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    #: Changed on password change or deactivation: invalidates existing sessions.
    session_version: Mapped[int] = mapped_column(Integer, default=1)

    unit: Mapped[AdminUnit | None] = relationship(lazy="joined")

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"


class AuditEvent(Base):
    """Who did what, when, with the state before and after (JSON), kept for admins to read."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    #: Kept even if the account is later renamed: the name at the time of the action.
    username: Mapped[str] = mapped_column(String(80), default="")
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str] = mapped_column(String(60), default="")
    object_id: Mapped[str] = mapped_column(String(80), default="")
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text, default="")

    user: Mapped[User | None] = relationship()
