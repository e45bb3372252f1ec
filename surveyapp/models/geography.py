"""Administrative units, effective-dated so that both geographies live side by side.

The 63 provinces valid until 2025-06-30 and the 34 valid from 2025-07-01 are separate rows; a
code alone is ambiguous across the reform (code 24 was Bắc Giang and is now Bắc Ninh), so rows
are unique on (level, code, valid_from) and old units point at their ``successor``.
"""

from __future__ import annotations

import datetime as dt
import unicodedata

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from surveyapp.db import Base

LEVELS = ("province", "commune")
#: Reform date: the two-tier local government starts here (Resolution 202/2025/QH15).
REFORM_DATE = dt.date(2025, 7, 1)
#: Start of the 63-province geography (Hà Tây merged into Hà Nội on 2008-08-01).
OLD_GEOGRAPHY_FROM = dt.date(2008, 8, 1)


def nfc(text: str) -> str:
    """Vietnamese names are stored NFC so that equal-looking names compare equal."""
    return unicodedata.normalize("NFC", text.strip())


class AdminUnit(Base):
    """A province- or commune-level unit as it existed from ``valid_from`` (inclusive) to
    ``valid_to`` (exclusive, NULL = still valid)."""

    __tablename__ = "admin_unit"
    __table_args__ = (
        UniqueConstraint("level", "code", "valid_from"),
        CheckConstraint("level IN ('province', 'commune')", name="level"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="validity"),
        Index("ix_admin_unit_code_level", "code", "level"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(10))  # "01", "00004": strings, never integers
    level: Mapped[str] = mapped_column(String(10))
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # province, city, xa, phuong, dac-khu
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    successor_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)

    parent: Mapped[AdminUnit | None] = relationship(
        remote_side=[id], foreign_keys=[parent_id], lazy="joined"
    )
    successor: Mapped[AdminUnit | None] = relationship(
        remote_side=[id], foreign_keys=[successor_id]
    )

    @validates("name_vi", "name_en")
    def _normalise(self, _key: str, value: str) -> str:
        return nfc(value)

    def valid_on(self, day: dt.date) -> bool:
        """True when this unit version is in force on ``day``."""
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)

    @property
    def province(self) -> AdminUnit:
        """The province-level unit this unit belongs to (itself for a province)."""
        return self if self.level == "province" or self.parent is None else self.parent

    def __repr__(self) -> str:
        return f"<AdminUnit {self.level} {self.code} {self.name_vi} from {self.valid_from}>"
