"""Reporting periods and the sampling frame: dossiers settled per centre, field and period.

The frame is what design weights come from: a response's weight is the number of dossiers
settled in its (centre, field, period) cell divided by the usable responses in that cell
(``analysis.frame_weights``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from surveyapp.db import Base
from surveyapp.models.centres import ProcedureField, ServiceCentre


class Period(Base):
    """A reporting period, e.g. ``2026-Q1``: responses submitted on ``start <= day < end``."""

    __tablename__ = "period"
    __table_args__ = (CheckConstraint("end_date > start_date", name="dates"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    label_vi: Mapped[str] = mapped_column(String(100))
    label_en: Mapped[str] = mapped_column(String(100))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)  # exclusive

    def label(self, lang: str) -> str:
        return self.label_en if lang == "en" else self.label_vi


class FrameCount(Base):
    """Dossiers settled in one (centre, procedure field, period) cell.

    ``field_id`` NULL means the centre reported one count for all fields together.
    """

    __tablename__ = "frame_count"
    __table_args__ = (
        UniqueConstraint("period_id", "centre_id", "field_id"),
        CheckConstraint("dossiers >= 0", name="dossiers"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("period.id"), index=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("service_centre.id"), index=True)
    field_id: Mapped[int | None] = mapped_column(ForeignKey("procedure_field.id"))
    dossiers: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime)

    period: Mapped[Period] = relationship()
    centre: Mapped[ServiceCentre] = relationship()
    field: Mapped[ProcedureField | None] = relationship()
