"""The report-data layer: one province's results in one run, ready for pages and files.

Everything goes through ``surveyapp.access`` (``get_run_or_404``, ``require_province``,
``results_visible``, ``runs_visible``): this module only *selects* the requested province
among the rows the user may see, so the dashboard, the charts, the downloads, the CLI and the
JSON API show the same numbers and none can reach past the user's scope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import abort
from sqlalchemy import or_, select

from surveyapp.access import get_run_or_404, require_province, results_visible, runs_visible
from surveyapp.extensions import db
from surveyapp.models import (
    AdminUnit,
    AnalysisRun,
    Item,
    Period,
    QuestionnaireVersion,
    RunResult,
    ServiceCentre,
)
from surveyapp.models.geography import OLD_GEOGRAPHY_FROM, REFORM_DATE
from surveyapp.reports.labels import CONTENTS

#: One stored result row: a ``RunResult`` object or a plain row of its columns (``build``
#: reads plain rows); both have the same attribute names.
ResultRow = Any


@dataclass
class UnitResults:
    """One unit (country, province, commune or centre) with its rows by variable."""

    level: str
    code: str
    name: str
    rows: dict[str, ResultRow] = field(default_factory=dict)

    @property
    def sipas(self) -> ResultRow | None:
        return self.rows.get("SIPAS")

    def sort_key(self) -> tuple[int, float, str]:
        row = self.sipas
        if row is None or row.flag == "suppress" or row.estimate is None:
            return (1, 0.0, self.name)
        return (0, row.rank if row.rank is not None else -row.estimate, self.name)


@dataclass
class ProvinceReport:
    run: AnalysisRun
    code: str
    name: str
    lang: str
    country: UnitResults
    province: UnitResults
    communes: list[UnitResults]
    centres: list[UnitResults]
    criteria: list[tuple[str, str, str]]  # (code, content code, text)
    contents: list[str]
    history: Any = None  # surveyapp.reports.history.History, filled by build()

    @property
    def geography(self) -> str:
        return result_geography(self.run)


def result_geography(run: AnalysisRun) -> str:
    """The provincial geography the run's rows are on (re-aggregated runs are on 2025's)."""
    return "2025" if run.reaggregated else (run.geography or "2025")


def published_runs(user: Any = None) -> list[AnalysisRun]:
    """Published, finished runs the user may open, newest period first."""
    stmt = (runs_visible(user).join(Period, AnalysisRun.period_id == Period.id)
            .where(AnalysisRun.published.is_(True), AnalysisRun.status == "done")
            .order_by(Period.start_date.desc(), AnalysisRun.published_at.desc(),
                      AnalysisRun.id.desc()))
    return list(db.session.scalars(stmt))


def latest_per_period(runs: list[AnalysisRun]) -> list[AnalysisRun]:
    """The newest published run of each period (runs sorted newest period first)."""
    seen: set[int] = set()
    out = []
    for run in runs:
        if run.period_id not in seen:
            seen.add(run.period_id)
            out.append(run)
    return out


def open_run(run_id: int, user: Any = None) -> AnalysisRun:
    """A finished run the user may see (404 otherwise, including unfinished runs)."""
    run = get_run_or_404(run_id, user)
    if run.status != "done":
        abort(404)
    return run


def provinces_in(run: AnalysisRun, lang: str, user: Any = None) -> list[tuple[str, str]]:
    """(code, name) of the provinces with results in ``run`` that the user may see."""
    stmt = (results_visible(run, user).where(RunResult.level == "province",
                                             RunResult.variable == "SIPAS")
            .order_by(RunResult.unit_code))
    codes = [r.unit_code for r in db.session.scalars(stmt)]
    names = province_names(codes, run, lang)
    return sorted(((c, names.get(c, c)) for c in codes), key=lambda t: t[1])


def province_names(codes: list[str], run: AnalysisRun, lang: str) -> dict[str, str]:
    day = REFORM_DATE if result_geography(run) == "2025" else OLD_GEOGRAPHY_FROM
    units = db.session.scalars(select(AdminUnit).where(
        AdminUnit.level == "province", AdminUnit.code.in_(codes), AdminUnit.valid_from == day))
    return {u.code: (u.name_en if lang == "en" else u.name_vi) for u in units}


def _commune_names(codes: set[str], run: AnalysisRun, lang: str) -> dict[str, str]:
    if not codes:
        return {}
    new = result_geography(run) == "2025"
    units = db.session.scalars(select(AdminUnit).where(
        AdminUnit.level == "commune", AdminUnit.code.in_(codes)))
    out: dict[str, str] = {}
    for u in sorted(units, key=lambda u: (u.valid_from >= REFORM_DATE) == new):
        out[u.code] = u.name_en if lang == "en" else u.name_vi  # the matching geography wins
    return out


def _centre_names(codes: set[str], lang: str) -> dict[str, str]:
    if not codes:
        return {}
    centres = db.session.scalars(select(ServiceCentre).where(ServiceCentre.code.in_(codes)))
    return {c.code: c.name(lang) for c in centres}


def criteria_texts(run: AnalysisRun, lang: str) -> dict[str, tuple[str, str]]:
    """Criterion code -> (content code, text) from the run's questionnaire version."""
    key = (run.design or {}).get("questionnaire") or (run.design or {}).get("questionnaire_version")
    stmt = select(QuestionnaireVersion)
    stmt = (stmt.where(QuestionnaireVersion.key == key) if key
            else stmt.order_by(QuestionnaireVersion.id.desc()))
    version = db.session.scalars(stmt.limit(1)).first()
    if version is None:
        return {}
    items = db.session.scalars(select(Item).where(Item.version_id == version.id)
                               .order_by(Item.position))
    return {i.code: (i.content_code, i.text(lang)) for i in items}


def build(run_id: int, code: str, lang: str = "vi", user: Any = None,
          with_history: bool = True) -> ProvinceReport:
    """Everything one province's dashboard or file shows (404 when out of scope)."""
    run = open_run(run_id, user)
    require_province(code, user)
    stmt = results_visible(run, user).where(
        or_(RunResult.province_code == code, RunResult.level == "country"))
    # plain rows, not ORM objects: a large province has ~33,000 of them (0.7 s as objects)
    rows = list(db.session.execute(stmt.with_only_columns(*RunResult.__table__.columns)))
    if not any(r.level == "province" and r.unit_code == code for r in rows):
        abort(404)
    units: dict[tuple[str, str], UnitResults] = {}
    for row in rows:
        if row.level == "province" and row.unit_code != code:
            continue
        key = (row.level, row.unit_code)
        unit = units.setdefault(key, UnitResults(row.level, row.unit_code, row.unit_code))
        unit.rows[row.variable] = row
    names = province_names([code], run, lang)
    communes = _commune_names({c for lv, c in units if lv == "commune"}, run, lang)
    centres = _centre_names({c for lv, c in units if lv == "centre"}, lang)
    for (level, unit_code), unit in units.items():
        unit.name = {"province": names, "commune": communes, "centre": centres}.get(
            level, {}).get(unit_code, unit_code)
    country = next((u for (lv, _c), u in units.items() if lv == "country"),
                   UnitResults("country", "", ""))
    country.name = "Cả nước" if lang == "vi" else "Country"
    texts = criteria_texts(run, lang)
    province = units[("province", code)]
    crit_codes = [v for v, r in province.rows.items() if r.statistic == "criterion"]
    crit_codes.sort(key=_natural)
    criteria = [(c, texts.get(c, (c.split(".")[0], c))[0], texts.get(c, ("", c))[1])
                for c in crit_codes]
    present = [c for c in CONTENTS if c in province.rows] + sorted(
        v for v, r in province.rows.items() if r.statistic == "content" and v not in CONTENTS)
    report = ProvinceReport(
        run=run, code=code, name=names.get(code, code), lang=lang, country=country,
        province=province,
        communes=sorted((u for (lv, _c), u in units.items() if lv == "commune"),
                        key=UnitResults.sort_key),
        centres=sorted((u for (lv, _c), u in units.items() if lv == "centre"),
                       key=UnitResults.sort_key),
        criteria=criteria, contents=present)
    if with_history:
        from surveyapp.reports.history import history

        report.history = history(report, user)
    return report


def _natural(code: str) -> tuple[Any, ...]:
    head, _sep, tail = code.partition(".")
    return (head, int(tail) if tail.isdigit() else tail)
