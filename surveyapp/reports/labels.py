"""Names and sentences the reports show: contents, flags and reliability reasons.

Reason codes come from ``analysis.reliability`` (stable, ``;``-joined, most serious first);
each becomes a sentence in the reader's language, filled with the row's own numbers, so a
suppressed cell always says *why* instead of showing a number.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from surveyapp.reports import fmt

#: The five SIPAS contents (sipas-reference §2), in order, with the overall index last.
CONTENTS = ("C1", "C2", "C3", "C4", "C5")
CONTENT_NAMES = {
    "C1": {"vi": "Tiếp cận dịch vụ hành chính công", "en": "Access to the service"},
    "C2": {"vi": "Thủ tục hành chính", "en": "Administrative procedures"},
    "C3": {"vi": "Công chức trực tiếp giải quyết công việc",
           "en": "Civil servants handling the case"},
    "C4": {"vi": "Kết quả cung ứng dịch vụ hành chính công", "en": "Results of the service"},
    "C5": {"vi": "Tiếp nhận, xử lý góp ý, phản ánh, kiến nghị",
           "en": "Handling of comments, feedback and petitions"},
    "SIPAS": {"vi": "Chỉ số hài lòng chung (SIPAS)", "en": "Overall satisfaction index (SIPAS)"},
}
#: Legacy 2017 contents use other codes; they keep their code as the name.
FLAG_LABELS = {"ok": _l("Reliable"), "review": _l("Use with caution"),
               "suppress": _l("Not reliable enough to publish")}
LEVEL_LABELS = {"country": _l("Country"), "province": _l("Province"), "commune": _l("Commune"),
                "centre": _l("Service centre")}


def content_name(code: str, lang: str) -> str:
    names = CONTENT_NAMES.get(code)
    return names.get(lang, names["vi"]) if names else code


def variable_name(code: str, lang: str, criteria: dict[str, str] | None = None) -> str:
    """Content/overall names from the reference; criterion texts from the questionnaire."""
    if code in CONTENT_NAMES:
        return content_name(code, lang)
    if criteria and code in criteria:
        return criteria[code]
    return code


def flag_label(flag: str) -> str:
    return str(FLAG_LABELS.get(flag, flag))


def _reason_sentence(code: str, row: Any, lang: str) -> str | None:
    n_eff = fmt.number(getattr(row, "n_eff", None), lang, 1) or "?"
    df = fmt.number(getattr(row, "df", None), lang, 0) or "?"
    n = fmt.number(getattr(row, "n", None), lang, 0) or "?"
    texts = {
        "no_answers": lambda: _("No answers here: there is nothing to estimate."),
        "effective_n_below_30": lambda: _(
            "The effective sample size (%(n_eff)s) is below 30 (NCHS standard).", n_eff=n_eff),
        "ci_width_at_least_0.30": lambda: _(
            "The %(level)s confidence interval is 30 percentage points wide or more "
            "(NCHS standard).", level="95%"),
        "relative_ci_width_above_130pct": lambda: _(
            "The %(level)s confidence interval is wider than %(limit)s of the estimate "
            "(NCHS standard).", level="95%", limit="130%"),
        "complement_relative_ci_width_above_130pct": lambda: _(
            "The confidence interval is wide compared with the share not satisfied: read with "
            "caution (NCHS standard)."),
        "df_below_8": lambda: _(
            "Only %(df)s degrees of freedom (fewer than 8): to be reviewed by a statistician "
            "(NCHS standard).", df=df),
        "estimate_is_0_or_1": lambda: _(
            "Everyone gave the same kind of answer (%(p)s): the interval comes from the "
            "number of respondents only; to be reviewed.",
            p=fmt.pct(getattr(row, "estimate", None), lang, 0) or "0/100%"),
        "zero_design_variance": lambda: _(
            "All answers come from one sampling unit, so the design gives no variance: the "
            "interval assumes a simple random sample of %(n)s respondents.", n=n),
        "partial_composite": lambda: _(
            "Computed from only some of its criteria: the others had no answers here."),
    }
    make = texts.get(code)
    return make() if make else None


def reason_sentences(row: Any, lang: str = "vi") -> list[str]:
    """Sentences for a result row's reason codes; a generic sentence for unknown text."""
    raw = (getattr(row, "reason", "") or "").strip()
    out: list[str] = []
    for code in (c.strip() for c in raw.split(";")):
        if not code:
            continue
        sentence = _reason_sentence(code, row, lang)
        if sentence is None:
            sentence = (_("Does not meet the reliability standard (NCHS 2017).")
                        if getattr(row, "flag", "ok") == "suppress"
                        else _("Flagged for review by the reliability standard (NCHS 2017)."))
        if sentence not in out:
            out.append(sentence)
    if not out and getattr(row, "flag", "ok") == "suppress":
        out.append(_("Does not meet the reliability standard (NCHS 2017)."))
    return out


def reason_text(row: Any, lang: str = "vi") -> str:
    return " ".join(reason_sentences(row, lang))
