"""Plain data the charts draw, built from a ``ProvinceReport`` (no ORM objects inside)."""

from __future__ import annotations

from dataclasses import dataclass, field

from surveyapp.reports.data import ProvinceReport, UnitResults
from surveyapp.reports.labels import CONTENTS


@dataclass(frozen=True)
class Estimate:
    label: str
    estimate: float | None  # None when suppressed
    low: float | None
    high: float | None
    flag: str = "ok"
    below: bool = False


@dataclass
class Forest:
    title: str
    units: list[Estimate]
    reference: Estimate | None  # the province, drawn as a line with its interval


@dataclass
class Heatmap:
    title: str
    columns: list[str]  # variable codes (C1..C5, SIPAS)
    rows: list[str]  # unit names
    cells: list[list[Estimate]]


@dataclass
class Trend:
    title: str
    periods: list[str]
    province: list[Estimate]
    country: list[Estimate]
    breaks: list[int] = field(default_factory=list)  # index i: break between i-1 and i
    reaggregated: list[bool] = field(default_factory=list)


def estimate(label: str, row: object | None) -> Estimate:
    if row is None:
        return Estimate(label, None, None, None, "suppress")
    flag = getattr(row, "flag", "ok")
    if flag == "suppress" or getattr(row, "estimate", None) is None:
        return Estimate(label, None, None, None, "suppress")
    return Estimate(label, row.estimate, row.ci_low, row.ci_high, flag,  # type: ignore[attr-defined]
                    bool(getattr(row, "below", False)))


def forest(report: ProvinceReport, level: str, title: str) -> Forest:
    units: list[UnitResults] = report.communes if level == "commune" else report.centres
    return Forest(title, [estimate(u.name, u.sipas) for u in units],
                  estimate(report.name, report.province.sipas))


def heatmap(report: ProvinceReport, level: str, title: str) -> Heatmap:
    units = report.communes if level == "commune" else report.centres
    cols = [c for c in CONTENTS if c in report.contents] + ["SIPAS"]
    return Heatmap(title, cols, [u.name for u in units],
                   [[estimate(u.name, u.rows.get(c)) for c in cols] for u in units])


def trend(report: ProvinceReport, title: str) -> Trend:
    points = report.history.trend if report.history else []
    return Trend(
        title, [p.run.period.label(report.lang) for p in points],
        [estimate(report.name, p.province) for p in points],
        [estimate("", p.country) for p in points],
        [i for i, p in enumerate(points) if p.break_before],
        [bool(p.run.reaggregated) for p in points])
