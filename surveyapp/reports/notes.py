"""Method notes shown on the dashboard and in every file (XLSX sheet, PDF, CSV column).

They say what the numbers are and are not: the index definition is this platform's convention
(not MoHA's), kiosk/QR ratings are self-selected (not MoHA's SIPAS survey), how weights, the
design, intervals and suppression work, and when a pre-reform period was re-aggregated.
"""

from __future__ import annotations

import json
from typing import Any

from flask_babel import gettext as _

from surveyapp.models import AnalysisRun
from surveyapp.reports import fmt

CI_METHODS = {"logit": "logit (R svyciprop)", "beta": "beta (Korn–Graubard)",
              "wald": "Wald", "xlogit": "xlogit", "likelihood": "likelihood"}


def reaggregation_note(run: AnalysisRun) -> str:
    if not run.reaggregated:
        return ""
    return _("This period is before the 1 July 2025 reform: its results were re-aggregated to "
             "the 34 new provinces through the successor of each former unit. These are "
             "figures computed by this platform, not official ones, and the trend breaks here.")


def convention_note() -> str:
    return _("The index definition is this platform's convention, not an official method of "
             "the Ministry of Home Affairs: a criterion is the weighted share of answers "
             "\"Hài lòng\" or \"Rất hài lòng\" (4–5) among those who answered it (\"not "
             "applicable\" is left out); a content is the mean of its criteria; SIPAS is the "
             "mean of the five contents.")


def self_selection_note() -> str:
    return _("Ratings given at kiosks and by QR code are self-selected: people choose whether "
             "to answer. They are not the Ministry of Home Affairs' SIPAS survey and can "
             "differ from the official SIPAS figures.")


def _design_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) if value else "—"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def design_text(run: AnalysisRun) -> str:
    design = run.design or {}
    names = {"strata": _("strata"), "psu": _("primary sampling units"),
             "weights": _("weights"), "calibration": _("calibration"),
             "ci": _("interval method"), "ci_method": _("interval method"),
             "level": _("confidence level"), "fpc": _("finite population correction"),
             "min_cell_responses": _("smallest weighting cell"),
             "geography": _("provincial geography"),
             "exclude_flags": _("excluded quality flags"),
             "questionnaire": _("questionnaire"), "lonely_psu": _("single-PSU strata")}
    parts = [f"{names.get(k, k)}: {_design_value(v)}" for k, v in sorted(design.items())]
    return "; ".join(parts) if parts else "—"


def method_notes(run: AnalysisRun, province_n: int | None, lang: str) -> list[tuple[str, str]]:
    """(heading, paragraph) pairs, in the reader's language (call under its locale)."""
    design = run.design or {}
    ci = str(design.get("ci") or design.get("ci_method") or "logit")
    method = CI_METHODS.get(ci, ci)
    notes = [
        (_("Index definition"), convention_note()),
        (_("Who answered"), self_selection_note()),
        (_("Weighting"), _(
            "Design weight of a response = dossiers settled in its cell (centre × procedure "
            "field × period, from the sampling frame) divided by the usable responses in that "
            "cell; empty or very small cells are collapsed by the stated rule.")),
        (_("Design used in this run"), design_text(run)),
        (_("Confidence intervals"), _(
            "95%% confidence intervals by the %(method)s method; standard errors by Taylor "
            "linearization of the composite index, with degrees of freedom = primary sampling "
            "units minus strata.", method=method)),
        (_("Suppression rule"), _(
            "NCHS Data Presentation Standards for Proportions (2017): an estimate is not "
            "published when its effective sample size is below 30, its %(level)s Korn–Graubard "
            "interval is 30 percentage points wide or more, or the interval is wider than "
            "%(limit)s of the estimate; estimates with fewer than 8 degrees of freedom are "
            "marked for caution.", level="95%", limit="130%")),
        (_("Comparisons"), _(
            "Units are compared with the rest of their province, with p-values adjusted by "
            "Holm's method; rank intervals are joint %(level)s intervals (Klein, Wright & "
            "Wieczorek 2020); the change between periods treats them as independent samples "
            "(Satterthwaite degrees of freedom).", level="95%")),
        (_("Sample sizes"), _(
            "Responses used in this run: %(total)s; in this province: %(province)s.",
            total=fmt.number(run.n_responses, lang) or "—",
            province=fmt.number(province_n, lang) or "—")),
    ]
    if run.reaggregated:
        notes.append((_("Re-aggregated period"), reaggregation_note(run)))
    return notes
