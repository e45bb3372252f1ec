"""A province across published periods: change from the previous period, what drove it, and
the trend with its series breaks.

Two periods are independent samples, so ``var(change) = var(now) + var(before)`` with
Welch-Satterthwaite degrees of freedom (``analysis.compare.satterthwaite_df``), as
``analysis.compare.period_change`` does on full results; here it works on the stored rows.
SIPAS is the mean of the contents, so its change is the sum of the contents' changes over
their number (``analysis.compare.change_drivers``): each content's share says what drove it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats
from sqlalchemy import or_

from analysis.compare import satterthwaite_df
from surveyapp.access import results_visible
from surveyapp.extensions import db
from surveyapp.models import AnalysisRun, RunResult
from surveyapp.reports.data import (
    ProvinceReport,
    latest_per_period,
    published_runs,
    result_geography,
)

LEVEL = 0.95
MAX_TREND_POINTS = 12


@dataclass
class Change:
    variable: str
    previous: RunResult | None
    current: RunResult | None
    change: float | None = None
    low: float | None = None
    high: float | None = None
    p_value: float | None = None
    significant: bool = False
    contribution: float | None = None

    @property
    def comparable(self) -> bool:
        return self.change is not None


@dataclass
class TrendPoint:
    run: AnalysisRun
    province: RunResult | None
    country: RunResult | None
    break_before: bool = False
    reasons: list[str] = field(default_factory=list)  # why the series breaks here


@dataclass
class History:
    previous_run: AnalysisRun | None
    changes: list[Change]
    drivers: list[Change]
    trend: list[TrendPoint]

    @property
    def sipas_change(self) -> Change | None:
        return next((c for c in self.changes if c.variable == "SIPAS"), None)


def _shown(row: RunResult | None) -> bool:
    return (row is not None and row.flag != "suppress" and row.estimate is not None
            and row.se is not None and math.isfinite(row.se))


def change_between(variable: str, cur: RunResult | None, prev: RunResult | None) -> Change:
    """The change of one index, with a t interval and p-value; none if either is suppressed."""
    out = Change(variable, prev, cur)
    if not (_shown(cur) and _shown(prev)):
        return out
    assert cur is not None
    assert prev is not None
    v1, v2 = cur.se**2, prev.se**2
    df = float(satterthwaite_df(np.array(v1), np.array(cur.df or np.inf),
                                np.array(v2), np.array(prev.df or np.inf)))
    df = df if math.isfinite(df) and df > 0 else math.inf
    se = math.sqrt(v1 + v2)
    diff = cur.estimate - prev.estimate
    q = float(stats.t.ppf((1 + LEVEL) / 2, df)) if math.isfinite(df) else float(
        stats.norm.ppf((1 + LEVEL) / 2))
    out.change, out.low, out.high = diff, diff - q * se, diff + q * se
    if se > 0:
        t = abs(diff) / se
        out.p_value = float(2 * (stats.t.sf(t, df) if math.isfinite(df) else stats.norm.sf(t)))
        out.significant = out.p_value < 1 - LEVEL
    return out


def previous_run(report: ProvinceReport, user: Any = None) -> AnalysisRun | None:
    """The newest published run of the latest earlier period on the same geography."""
    start = report.run.period.start_date
    for run in latest_per_period(published_runs(user)):
        if run.period.start_date < start and result_geography(run) == report.geography:
            return run
    return None


def _province_rows(run: AnalysisRun, code: str, variables: list[str], user: Any
                   ) -> dict[tuple[str, str], RunResult]:
    stmt = results_visible(run, user).where(
        or_(RunResult.level == "country",
            (RunResult.level == "province") & (RunResult.unit_code == code)),
        RunResult.variable.in_(variables))
    return {(r.level, r.variable): r for r in db.session.scalars(stmt)}


def _questionnaire(run: AnalysisRun, user: Any) -> tuple[str, ...]:
    """What was asked: the questionnaire named in the design, else the criteria measured."""
    design = run.design or {}
    named = design.get("questionnaire") or design.get("questionnaire_version")
    if named:
        return (str(named),)
    stmt = results_visible(run, user).where(RunResult.level == "country",
                                            RunResult.statistic == "criterion")
    return tuple(sorted({r.variable for r in db.session.scalars(stmt)}))


def history(report: ProvinceReport, user: Any = None) -> History:
    code = report.code
    variables = ["SIPAS", *report.contents]
    prev = previous_run(report, user)
    changes: list[Change] = []
    if prev is not None:
        before = _province_rows(prev, code, variables, user)
        for var in variables:
            changes.append(change_between(var, report.province.rows.get(var),
                                          before.get(("province", var))))
        contents = [c for c in changes if c.variable != "SIPAS" and c.comparable]
        for c in contents:
            c.contribution = (c.change or 0.0) / len(contents)
    drivers = sorted((c for c in changes if c.variable != "SIPAS" and c.comparable),
                     key=lambda c: -abs(c.contribution or 0.0))
    return History(prev, changes, drivers, trend(report, user))


def trend(report: ProvinceReport, user: Any = None) -> list[TrendPoint]:
    """SIPAS of the province (and country) in each published period up to the report's, on
    the same provincial geography; a break where the questionnaire or the re-aggregation
    changes (the series are not comparable across it)."""
    runs = [r for r in latest_per_period(published_runs(user))
            if r.period.start_date <= report.run.period.start_date
            and result_geography(r) == report.geography and r.period_id != report.run.period_id]
    runs = [*reversed(runs[: MAX_TREND_POINTS - 1])]
    points: list[TrendPoint] = []
    for run in [*runs, report.run]:
        if run is report.run:
            prov, country = report.province.sipas, report.country.sipas
        else:
            rows = _province_rows(run, report.code, ["SIPAS"], user)
            prov, country = rows.get(("province", "SIPAS")), rows.get(("country", "SIPAS"))
        point = TrendPoint(run, prov, country)
        if points:
            last = points[-1].run
            if _questionnaire(last, user) != _questionnaire(run, user):
                point.reasons.append("questionnaire")
            if bool(last.reaggregated) != bool(run.reaggregated):
                point.reasons.append("reaggregated")
            point.break_before = bool(point.reasons)
        points.append(point)
    return points
