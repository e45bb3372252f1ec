"""Phone pages, reached through a signed link per centre (and optionally counter)."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import g, request, url_for
from flask.wrappers import Response
from flask_babel import gettext as _

from surveyapp.collect import bp
from surveyapp.collect.survey import Context, no_store, start_page, step, thanks_page
from surveyapp.errors.handlers import render_error
from surveyapp.extensions import page_limits
from surveyapp.services import kiosks, links
from surveyapp.services.validation import Auth

LINK_PARAMS = ("c", "ch", "exp", "sig")


def _refuse(status: int, title: str, message: str) -> Response:
    body, code = render_error(status, title, message)
    resp = no_store(body)
    resp.status_code = code
    return resp


def _context(centre_code: str) -> Context | Response:
    """Verify the link in the query string; a refusal is a clear page, never a 500."""
    centre = kiosks.find_centre(centre_code[:40])
    if centre is None or not centre.active:
        return _refuse(404, _("Survey point not found"),
                       _("This survey link does not belong to any service centre. Please scan "
                         "the QR code displayed at the centre again."))
    args = {k: request.args.get(k, "") for k in LINK_PARAMS if k in request.args}
    link, problem = links.verify(centre.code, args)
    if problem is links.LinkProblem.EXPIRED:
        return _refuse(403, _("This survey link has expired"),
                       _("Please scan the newest QR code displayed at the service centre, or "
                         "ask the staff for a new link."))
    if problem is not None or link is None:
        return _refuse(403, _("The survey link is not valid"),
                       _("The link may have been copied incompletely or changed. Please scan "
                         "the QR code displayed at the service centre again."))
    if link.counter and not any(c.code == link.counter for c in centre.counters):
        return _refuse(404, _("Survey point not found"),
                       _("The counter in this link no longer exists. Please scan the QR code "
                         "displayed at the service centre again."))
    query = urlencode(link.params())
    return Context(
        key=f"s:{centre.code}:{link.counter or ''}:{link.channel}", centre=centre,
        counter=link.counter, channel=link.channel_name, auth=Auth(link=link),
        start_url=url_for("collect.phone_start", centre_code=centre.code) + "?" + query,
        post_url=url_for("collect.phone_step", centre_code=centre.code) + "?" + query,
        thanks_url=url_for("collect.phone_thanks", centre_code=centre.code) + "?" + query,
        idle_reset=False,
    )


@bp.get("/s/<centre_code>")
@page_limits
def phone_start(centre_code: str) -> Response:
    ctx = _context(centre_code)
    if not isinstance(ctx, Context):
        return ctx
    g.lang = request.args.get("lang") if request.args.get("lang") in ("vi", "en") else "vi"
    return start_page(ctx)


@bp.post("/s/<centre_code>/survey")
@page_limits
def phone_step(centre_code: str) -> Response:
    ctx = _context(centre_code)
    if not isinstance(ctx, Context):
        return ctx
    return step(ctx)


@bp.get("/s/<centre_code>/thanks")
@page_limits
def phone_thanks(centre_code: str) -> Response:
    ctx = _context(centre_code)
    if not isinstance(ctx, Context):
        return ctx
    return thanks_page(ctx)
