"""Plain data the charts draw, built from a ``ProvinceReport`` (no ORM objects inside)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

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


#: Units per chart on a PDF page: a hundred communes or three hundred centres in one picture
#: shrink to illegible type once fitted to A4, so the PDF draws them a page at a time.
PER_PAGE = 40


@dataclass
class Forest:
    title: str
    units: list[Estimate]
    reference: Estimate | None  # the province, drawn as a line with its interval
    xlim: tuple[float, float] | None = None  # shared by a chart's pages (None: fit these units)


@dataclass
class Heatmap:
    title: str
    columns: list[str]  # variable codes (C1..C5, SIPAS)
    rows: list[str]  # unit names
    cells: list[list[Estimate]]
    scale: tuple[float, float] | None = None  # colour range shared by a chart's pages


def page_slices(n: int, per_page: int | None = None) -> list[slice]:
    """``n`` rows in the fewest pages of at most ``per_page`` (default ``PER_PAGE``), the
    pages equally full."""
    pages = max(1, math.ceil(n / (per_page or PER_PAGE)))
    size = math.ceil(n / pages) if n else 0
    return [slice(i * size, min(n, (i + 1) * size)) for i in range(pages)]


def _page_title(title: str, i: int, pages: int) -> str:
    return title if pages == 1 else f"{title} ({i + 1}/{pages})"


def forest_range(units: list[Estimate], reference: Estimate | None) -> tuple[float, float]:
    """The x range that shows every interval (and the province's band), in [0, 1]."""
    shown = [u for u in units if u.estimate is not None]
    lows = [u.low for u in shown if u.low is not None] + [0.9]
    highs = [u.high for u in shown if u.high is not None] + [0.9]
    if reference and reference.low is not None:
        lows.append(reference.low)
        highs.append(reference.high or reference.low)
    return max(0.0, min(lows) - 0.04), min(1.0, max(highs) + 0.04)


def forest_pages(data: Forest, per_page: int | None = None) -> list[Forest]:
    """The forest plot split into pages on one x scale, so pages compare by eye."""
    cuts = page_slices(len(data.units), per_page)
    xlim = data.xlim or forest_range(data.units, data.reference)
    return [replace(data, title=_page_title(data.title, i, len(cuts)), units=data.units[s],
                    xlim=xlim) for i, s in enumerate(cuts)]


def heatmap_scale(cells: list[list[Estimate]]) -> tuple[float, float]:
    """Colour range of the published cells (at least 5 points wide)."""
    values = [c.estimate for row in cells for c in row if c.estimate is not None]
    vmin, vmax = (min(values), max(values)) if values else (0.5, 1.0)
    return min(vmin, vmax - 0.05), max(vmax, vmin + 0.05)


def heatmap_pages(data: Heatmap, per_page: int | None = None) -> list[Heatmap]:
    """The heatmap split into pages on one colour scale."""
    cuts = page_slices(len(data.rows), per_page)
    scale = data.scale or heatmap_scale(data.cells)
    return [replace(data, title=_page_title(data.title, i, len(cuts)), rows=data.rows[s],
                    cells=data.cells[s], scale=scale) for i, s in enumerate(cuts)]


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
