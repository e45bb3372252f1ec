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
