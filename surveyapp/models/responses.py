"""Responses, their answers and quality flags.  No personal data is stored here.

``Response.id`` is the UUID made when the form is shown (or by an offline kiosk); it is the
primary key, so a retried submit collides on it and is answered with the stored row.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from surveyapp.db import Base
from surveyapp.models.centres import Counter, Kiosk, ProcedureField, ServiceCentre
from surveyapp.models.geography import AdminUnit
from surveyapp.models.questionnaires import Item, QuestionnaireVersion

CHANNELS = ("kiosk", "phone-qr", "receipt-link", "assisted")


class Response(Base):
    """One citizen's rating of one service visit."""

    __tablename__ = "response"
    __table_args__ = (
        CheckConstraint(
            "channel IN ('kiosk', 'phone-qr', 'receipt-link', 'assisted')", name="channel"
        ),
        Index("ix_response_submitted_at_id", "submitted_at", "id"),
        Index("ix_response_province_submitted", "province_id", "submitted_at"),
        # quality flags (services/quality.py): a kiosk's or an address's recent responses
        Index("ix_response_kiosk_client_time", "kiosk_id", "client_time"),
        Index("ix_response_kiosk_submitted", "kiosk_id", "submitted_at"),
        Index("ix_response_source_submitted", "source_hash", "submitted_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("service_centre.id"), index=True)
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counter.id"))
    kiosk_id: Mapped[str | None] = mapped_column(ForeignKey("kiosk.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    version_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_version.id"))
    field_id: Mapped[int | None] = mapped_column(ForeignKey("procedure_field.id"))
    #: The unit (commune, else province) the centre belonged to on the interview date.
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id"))
    province_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id"))
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime)  # server clock, UTC
    client_time: Mapped[dt.datetime | None] = mapped_column(DateTime)  # device clock, UTC
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # form shown, UTC
    comment: Mapped[str | None] = mapped_column(Text)
    #: Day-salted HMAC of the client address, for burst flags only; never the address itself.
    source_hash: Mapped[str | None] = mapped_column(String(32))

    centre: Mapped[ServiceCentre] = relationship()
    counter: Mapped[Counter | None] = relationship()
    kiosk: Mapped[Kiosk | None] = relationship()
    version: Mapped[QuestionnaireVersion] = relationship()
    field: Mapped[ProcedureField | None] = relationship()
    unit: Mapped[AdminUnit] = relationship(foreign_keys=[unit_id])
    province: Mapped[AdminUnit] = relationship(foreign_keys=[province_id])
    answers: WriteOnlyMapped[Answer] = relationship(
        back_populates="response", passive_deletes=True
    )
    flags: WriteOnlyMapped[QualityFlag] = relationship(
        back_populates="response", passive_deletes=True
    )


class Answer(Base):
    """A value 1–5, or "not applicable" as its own code (``value`` NULL, ``not_applicable``).

    N/A is never stored as 3: averaging ``value`` skips it by construction.
    """

    __tablename__ = "answer"
    __table_args__ = (
        CheckConstraint("value IS NULL OR (value >= 1 AND value <= 5)", name="value_range"),
        CheckConstraint(
            "(not_applicable AND value IS NULL) OR (NOT not_applicable AND value IS NOT NULL)",
            name="value_or_na",
        ),
    )

    response_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("response.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), primary_key=True, index=True)
    value: Mapped[int | None] = mapped_column(SmallInteger)
    not_applicable: Mapped[bool] = mapped_column(Boolean, default=False)

    response: Mapped[Response] = relationship(back_populates="answers")
    item: Mapped[Item] = relationship()


class QualityFlag(Base):
    """A reason to doubt a response.  Flagged responses are kept; analysis decides."""

    __tablename__ = "quality_flag"
    __table_args__ = (UniqueConstraint("response_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("response.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)

    response: Mapped[Response] = relationship(back_populates="flags")
