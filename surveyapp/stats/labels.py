"""Translated labels for the codes the engine reports (collapsing actions and reasons)."""

from flask_babel import lazy_gettext as _l

ACTIONS = {
    "weighted": _l("weighted on its own"),
    "collapsed_to_centre": _l("merged with the rest of its centre"),
    "collapsed_to_commune": _l("merged with its commune"),
    "not_weighted": _l("not weighted"),
    "not_represented": _l("dossiers not represented"),
}
CELL_REASONS = {
    "no_frame_count": _l("responses but no dossiers in the frame"),
    "no_responses": _l("dossiers but no usable response"),
    "few_responses": _l("fewer usable responses than the minimum"),
    "sibling_collapsed": _l("merged because another cell of the centre was"),
    "no_frame_in_commune": _l("no dossiers in the frame for the whole commune"),
    "no_commune": _l("the centre's commune is unknown"),
    "no_response_in_commune": _l("no usable response anywhere in the commune"),
}


def cell_reason(codes: str) -> str:
    return "; ".join(str(CELL_REASONS.get(c, c)) for c in codes.split(";") if c)


FLAGS = {"ok": _l("reliable"), "review": _l("review"), "suppress": _l("suppressed")}
#: reason codes of analysis.reliability.Reason
RELIABILITY = {
    "no_answers": _l("no answers"),
    "effective_n_below_30": _l("effective sample size below 30"),
    "ci_width_at_least_0.30": _l("interval 30 points wide or more"),
    "relative_ci_width_above_130pct": _l("interval wider than 1.3 times the estimate"),
    "complement_relative_ci_width_above_130pct": _l("interval wide relative to one minus "
                                                    "the estimate"),
    "df_below_8": _l("fewer than 8 degrees of freedom"),
    "estimate_is_0_or_1": _l("estimate is 0 or 100 percent"),
    "zero_design_variance": _l("no design-based variance"),
    "partial_composite": _l("some criteria had no answers"),
}


def reliability(codes: str) -> str:
    return "; ".join(str(RELIABILITY.get(c, c)) for c in codes.split(";") if c)
