"""Questionnaires as data: versions of items with their content grouping and texts.

A version is frozen (``frozen_at`` set) by the first response that uses it; from then on its
items are immutable (enforced in ``surveyapp.services.questionnaires``) and edits go to a new
version.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from surveyapp.db import Base

VERSION_STATUSES = ("draft", "active", "retired")


class Questionnaire(Base):
    """A questionnaire family, e.g. ``sipas-2023``; its versions hold the items."""

    __tablename__ = "questionnaire"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_vi: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str] = mapped_column(String(300))

    versions: Mapped[list[QuestionnaireVersion]] = relationship(
        back_populates="questionnaire", order_by="QuestionnaireVersion.number"
    )


class QuestionnaireVersion(Base):
    """One immutable-once-used form; ``key`` (e.g. ``sipas-2023.v1``) is its public id."""

    __tablename__ = "questionnaire_version"
    __table_args__ = (
        UniqueConstraint("questionnaire_id", "number"),
        CheckConstraint("status IN ('draft', 'active', 'retired')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    questionnaire_id: Mapped[int] = mapped_column(ForeignKey("questionnaire.id"))
    number: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(60), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    frozen_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    questionnaire: Mapped[Questionnaire] = relationship(back_populates="versions")
    items: Mapped[list[Item]] = relationship(
        back_populates="version", order_by="Item.position", cascade="all, delete-orphan"
    )

    @property
    def frozen(self) -> bool:
        return self.frozen_at is not None

    def contents(self) -> list[tuple[str, list[Item]]]:
        """Items grouped by content code, in questionnaire order."""
        groups: dict[str, list[Item]] = {}
        for item in self.items:
            groups.setdefault(item.content_code, []).append(item)
        return list(groups.items())


class Item(Base):
    """One criterion: rated on ``scale_min``..``scale_max`` (1–5), optionally "not applicable"."""

    __tablename__ = "item"
    __table_args__ = (
        UniqueConstraint("version_id", "code"),
        CheckConstraint(
            "scale_min >= 1 AND scale_max <= 5 AND scale_min < scale_max", name="scale"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_version.id"))
    code: Mapped[str] = mapped_column(String(20))
    content_code: Mapped[str] = mapped_column(String(10))
    content_vi: Mapped[str] = mapped_column(String(300))
    content_en: Mapped[str] = mapped_column(String(300))
    content_note_vi: Mapped[str | None] = mapped_column(Text)
    content_note_en: Mapped[str | None] = mapped_column(Text)
    text_vi: Mapped[str] = mapped_column(Text)
    text_en: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer)
    scale_min: Mapped[int] = mapped_column(SmallInteger, default=1)
    scale_max: Mapped[int] = mapped_column(SmallInteger, default=5)
    allow_na: Mapped[bool] = mapped_column(Boolean, default=True)

    version: Mapped[QuestionnaireVersion] = relationship(back_populates="items")

    def text(self, lang: str) -> str:
        return self.text_en if lang == "en" and self.text_en else self.text_vi

    def content(self, lang: str) -> str:
        return self.content_en if lang == "en" and self.content_en else self.content_vi

    def content_note(self, lang: str) -> str | None:
        return self.content_note_en if lang == "en" else self.content_note_vi
