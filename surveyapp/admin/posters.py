"""Printable QR posters of a centre's (or counter's) signed phone link, from the centre page.

The same A4 PDF as ``flask links --posters`` (``surveyapp/exports/posters.py``); the link is
signed when the poster is downloaded and valid for ``LINK_VALID_DAYS``.
"""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask.wrappers import Response
from flask_babel import gettext as _

from surveyapp.admin import bp
from surveyapp.admin.common import base_url, get_or_404
from surveyapp.exports.posters import poster_pdf
from surveyapp.models import ServiceCentre
from surveyapp.services import links


def phone_url(centre: ServiceCentre, counter_code: str | None = None) -> tuple[str, links.Link]:
    """The signed phone address a poster encodes, and its link (for the expiry date)."""
    link = links.make(centre.code, counter_code)
    return f"{base_url()}/s/{centre.code}?{link.query()}", link


@bp.get("/centres/<int:centre_id>/poster.pdf")
def centre_poster(centre_id: int) -> ResponseReturnValue:
    centre = get_or_404(ServiceCentre, centre_id)
    code = request.args.get("counter") or None
    counter = next((c for c in centre.counters if c.code == code), None)
    if code is not None and (counter is None or not counter.active):
        abort(404)
    if not centre.active:
        flash(_("Centre %(code)s is deactivated; reactivate it first.", code=centre.code),
              "error")
        return redirect(url_for("admin.centre", centre_id=centre.id), code=303)
    url, link = phone_url(centre, code)
    name = centre.code + (f"-quay-{counter.code}" if counter is not None else "")
    return Response(poster_pdf(centre, counter, url, link.expires), mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}.pdf"',
                             "Cache-Control": "no-store"})
