"""One province report as flat rows, for the CSV and XLSX files.

Suppressed cells keep their sample size, flag and reason but lose every number derived from
the estimate (estimate, interval, SE, design effect, rank, difference): a file can never show a
number the standard says not to publish.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _

from surveyapp.reports.data import ProvinceReport, UnitResults
from surveyapp.reports.labels import (
    LEVEL_LABELS,
    flag_label,
    reason_text,
    variable_name,
)
from surveyapp.reports.notes import reaggregation_note

#: (key, is a proportion shown as %)
COLUMNS: list[tuple[str, bool]] = [
    ("level", False), ("unit_code", False), ("unit_name", False), ("variable", False),
    ("variable_name", False), ("estimate", True), ("ci_low", True), ("ci_high", True),
    ("se", True), ("n", False), ("n_eff", False), ("deff", False), ("rank", False),
    ("rank_low", False), ("rank_high", False), ("rank_of", False), ("diff_rest", True),
    ("diff_low", True), ("diff_high", True), ("p_holm", False), ("below", False),
    ("flag", False), ("reason", False), ("note", False),
]
_HIDDEN_WHEN_SUPPRESSED = {"estimate", "ci_low", "ci_high", "se", "n_eff", "deff", "rank",
                           "rank_low", "rank_high", "rank_of", "diff_rest", "diff_low",
                           "diff_high", "p_holm", "below"}


def headers() -> list[str]:
    names = {
        "level": _("Level"), "unit_code": _("Unit code"), "unit_name": _("Unit"),
        "variable": _("Index code"), "variable_name": _("Index"),
        "estimate": _("Satisfied"), "ci_low": _("95% CI low"), "ci_high": _("95% CI high"),
        "se": _("Standard error"), "n": _("Respondents"), "n_eff": _("Effective n"),
        "deff": _("Design effect"), "rank": _("Rank"), "rank_low": _("Rank interval from"),
        "rank_high": _("Rank interval to"), "rank_of": _("Units ranked"),
        "diff_rest": _("Difference from the rest of the province"),
        "diff_low": _("Difference 95% CI low"), "diff_high": _("Difference 95% CI high"),
        "p_holm": _("Holm-adjusted p"), "below": _("Significantly below the rest"),
        "flag": _("Reliability"), "reason": _("Reason"), "note": _("Note"),
    }
    return [names[k] for k, _pct in COLUMNS]


@dataclass
class Row:
    values: dict[str, Any]
    suppressed: bool


def _row(report: ProvinceReport, unit: UnitResults, variable: str, criteria: dict[str, str],
         note: str) -> Row | None:
    r = unit.rows.get(variable)
    if r is None:
        return None
    suppressed = r.flag == "suppress" or r.estimate is None
    values: dict[str, Any] = {
        "level": str(LEVEL_LABELS.get(unit.level, unit.level)), "unit_code": unit.code,
        "unit_name": unit.name, "variable": variable,
        "variable_name": variable_name(variable, report.lang, criteria),
        "estimate": r.estimate, "ci_low": r.ci_low, "ci_high": r.ci_high, "se": r.se,
        "n": r.n, "n_eff": r.n_eff, "deff": r.deff, "rank": r.rank, "rank_low": r.rank_low,
        "rank_high": r.rank_high, "rank_of": r.rank_of, "diff_rest": r.diff_rest,
        "diff_low": r.diff_low, "diff_high": r.diff_high, "p_holm": r.p_holm,
        "below": (_("yes") if r.below else _("no")) if r.below is not None else None,
        "flag": flag_label(r.flag), "reason": reason_text(r, report.lang), "note": note,
    }
    if suppressed:
        for key in _HIDDEN_WHEN_SUPPRESSED:
            values[key] = None
    return Row(values, suppressed)


def rows(report: ProvinceReport, part: str = "all") -> Iterator[Row]:
    """``part``: all, summary (country + province indices), communes, centres, criteria."""
    criteria = {code: text for code, _content, text in report.criteria}
    indices = ["SIPAS", *report.contents]
    note = reaggregation_note(report.run)
    plan: list[tuple[UnitResults, list[str]]] = []
    if part in ("all", "summary"):
        plan += [(report.country, indices), (report.province, indices)]
    if part in ("all", "communes"):
        plan += [(u, indices) for u in report.communes]
    if part in ("all", "centres"):
        plan += [(u, indices) for u in report.centres]
    if part in ("all", "criteria"):
        codes = [c for c, _content, _text in report.criteria]
        plan += [(report.province, codes), (report.country, codes)]
    for unit, variables in plan:
        for variable in variables:
            row = _row(report, unit, variable, criteria, note)
            if row is not None:
                yield row
