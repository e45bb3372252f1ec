"""Analysis runs: a frozen, reproducible estimation of one period, and its result rows.

A run records everything needed to reproduce it (input hash, design, options, code version);
its results are plain rows (one per unit x statistic), as ``analysis`` returns them. Only
published runs are visible to province users.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from surveyapp.db import Base
from surveyapp.models.frames import Period
from surveyapp.models.users import User

RUN_STATUSES = ("queued", "running", "done", "failed")
RESULT_LEVELS = ("country", "province", "commune", "centre")


class AnalysisRun(Base):
    """One estimation of one period with one design; frozen once done."""

    __tablename__ = "analysis_run"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("period.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    progress_note: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: Design and options as given (strata, psu, weighting, calibration, exclusions, CI).
    design: Mapped[dict] = mapped_column(JSON)
    #: SHA-256 of the analysis input table (responses x design columns), for reproducibility.
    input_hash: Mapped[str | None] = mapped_column(String(64))
    code_version: Mapped[str | None] = mapped_column(String(80))
    #: Which provincial geography the results are on: "2025" (34) or "2008" (63), and whether
    #: pre-reform data were re-aggregated to the new provinces through successors.
    geography: Mapped[str] = mapped_column(String(10), default="2025")
    reaggregated: Mapped[bool] = mapped_column(Boolean, default=False)
    n_responses: Mapped[int | None] = mapped_column(Integer)
    #: Excluded responses by reason (quality flags, unweightable cells).
    excluded: Mapped[dict | None] = mapped_column(JSON)
    #: Weighting diagnostics: weight distribution, Kish deff, collapsed cells.
    diagnostics: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    published: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    period: Mapped[Period] = relationship(lazy="joined")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    published_by: Mapped[User | None] = relationship(foreign_keys=[published_by_id])
    results: WriteOnlyMapped[RunResult] = relationship(
        back_populates="run", passive_deletes=True, cascade="all, delete-orphan"
    )


class RunResult(Base):
    """One estimate: a unit (country, province, commune or centre) x statistic x variable.

    ``province_code`` is the province the unit belongs to (NULL for the country row): province
    scoping filters on it in the query layer.
    """

    __tablename__ = "run_result"
    __table_args__ = (
        CheckConstraint(
            "level IN ('country', 'province', 'commune', 'centre')", name="level"
        ),
        Index("ix_run_result_scope", "run_id", "province_code", "level"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("analysis_run.id", ondelete="CASCADE"))
    level: Mapped[str] = mapped_column(String(10))
    unit_code: Mapped[str] = mapped_column(String(32))
    province_code: Mapped[str | None] = mapped_column(String(10))
    statistic: Mapped[str] = mapped_column(String(12))  # criterion, content, sipas
    variable: Mapped[str] = mapped_column(String(20))  # C1.1, C1, SIPAS
    estimate: Mapped[float | None] = mapped_column(Float)
    se: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    df: Mapped[float | None] = mapped_column(Float)
    deff: Mapped[float | None] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer, default=0)
    n_eff: Mapped[float | None] = mapped_column(Float)
    flag: Mapped[str] = mapped_column(String(10), default="ok")  # ok, review, suppress
    reason: Mapped[str] = mapped_column(String(300), default="")
    # Rank among the units of the same level in the same parent (rank 1 = highest), with a
    # joint rank interval (analysis.compare.rank_intervals); NULL where not ranked.
    rank: Mapped[int | None] = mapped_column(Integer)
    rank_low: Mapped[int | None] = mapped_column(Integer)
    rank_high: Mapped[int | None] = mapped_column(Integer)
    rank_of: Mapped[int | None] = mapped_column(Integer)
    # The unit minus the rest of its parent (analysis.compare.unit_vs_rest), Holm-adjusted
    # across the parent's units; ``below`` when significantly lower after adjustment.
    diff_rest: Mapped[float | None] = mapped_column(Float)
    diff_low: Mapped[float | None] = mapped_column(Float)
    diff_high: Mapped[float | None] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    p_holm: Mapped[float | None] = mapped_column(Float)
    below: Mapped[bool | None] = mapped_column(Boolean)

    run: Mapped[AnalysisRun] = relationship(back_populates="results")
