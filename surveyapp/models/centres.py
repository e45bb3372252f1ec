"""Service centres, their counters and kiosks, and the list of procedure fields."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from surveyapp.db import Base
from surveyapp.models.geography import AdminUnit

CENTRE_KINDS = ("provincial-centre", "commune-centre")
#: Centre and counter codes appear in URLs and QR codes: keep them short and URL-safe.
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$"
_CODE_RE = re.compile(CODE_PATTERN)


def is_code(value: object) -> bool:
    """True for a plausible code; anything else (NUL bytes, spaces, 10 kB strings) is rejected
    before it reaches a query — PostgreSQL refuses NUL in text and would raise."""
    return isinstance(value, str) and _CODE_RE.fullmatch(value) is not None


class ServiceCentre(Base):
    """A provincial Public Administrative Service Centre or a commune one-stop section."""

    __tablename__ = "service_centre"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('provincial-centre', 'commune-centre')", name="kind"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_vi: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    unit: Mapped[AdminUnit] = relationship(lazy="joined")
    counters: Mapped[list[Counter]] = relationship(
        back_populates="centre", order_by="Counter.code"
    )

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_vi


class Counter(Base):
    """A service desk (quầy) inside a centre; responses may name the counter that served."""

    __tablename__ = "counter"
    __table_args__ = (UniqueConstraint("centre_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("service_centre.id"))
    code: Mapped[str] = mapped_column(String(32))
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    centre: Mapped[ServiceCentre] = relationship(back_populates="counters")

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_vi


class Kiosk(Base):
    """A registered touch device.  Only a SHA-256 digest of its random token is stored."""

    __tablename__ = "kiosk"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("service_centre.id"), index=True)
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counter.id"))
    label: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[str] = mapped_column(String(64))
    registered_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    app_version: Mapped[str | None] = mapped_column(String(40))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: When the start screen was last shown: a survey begun before it was abandoned (idle
    #: reset or a new citizen), so its signed page state is refused.
    last_start_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: Fleet health, from the kiosk's heartbeat: answers waiting on the device, its last
    #: successful submission, and an operator's request that it reload.
    queue_length: Mapped[int | None] = mapped_column(Integer)
    #: Of those, answers the server refused (4xx): kept on the device for an operator to see.
    queue_held: Mapped[int | None] = mapped_column(Integer)
    last_submit_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    reload_requested_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    centre: Mapped[ServiceCentre] = relationship(lazy="joined")
    counter: Mapped[Counter | None] = relationship()

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class ProcedureField(Base):
    """A field of administrative procedures (lĩnh vực), e.g. đất đai, hộ tịch."""

    __tablename__ = "procedure_field"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_vi
