"""Kiosk pages.  A kiosk browser is set up once at ``/k/<id>/setup`` with the printed token;
that stores a signed, HttpOnly, SameSite=Strict device cookie checked on every page."""

from __future__ import annotations

import datetime as dt

from flask import current_app, g, redirect, render_template, request, url_for
from flask.wrappers import Response
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from surveyapp.collect import bp
from surveyapp.collect.forms import KioskSetupForm
from surveyapp.collect.survey import Context, no_store, start_page, step, thanks_page
from surveyapp.errors.handlers import render_error
from surveyapp.extensions import limiter, page_limits
from surveyapp.models import Kiosk
from surveyapp.services import kiosks
from surveyapp.services.validation import Auth


def _context(kiosk: Kiosk) -> Context:
    return Context(
        key=f"k:{kiosk.id}", centre=kiosk.centre,
        counter=kiosk.counter.code if kiosk.counter else None, channel="kiosk",
        auth=Auth(kiosk=kiosk),
        start_url=url_for("collect.kiosk_start", kiosk_id=kiosk.id),
        post_url=url_for("collect.kiosk_step", kiosk_id=kiosk.id),
        thanks_url=url_for("collect.kiosk_thanks", kiosk_id=kiosk.id), idle_reset=True,
        abandoned_before=(kiosk.last_start_at.replace(tzinfo=dt.UTC).timestamp()
                          if kiosk.last_start_at else None),
    )


def _device(kiosk_id: str) -> Kiosk | Response:
    """The kiosk this browser was set up as, or the page explaining how to set it up."""
    kiosk = kiosks.kiosk_from_cookie(kiosk_id, request.cookies.get(kiosks.COOKIE_NAME))
    if kiosk is not None:
        return kiosk
    if kiosks.get_active(kiosk_id) is None:
        body, status = render_error(404, _("Unknown kiosk"),
                                    _("This kiosk is not registered or has been switched off. "
                                      "Please ask the staff at the counter."))
    else:
        body, status = render_error(
            403, _("Kiosk not set up"),
            _("This device has not been set up as a survey kiosk yet. Staff: open the set-up "
              "page and enter the kiosk token."),
            restart_url=url_for("collect.kiosk_setup", kiosk_id=kiosk_id),
        )
    resp = no_store(body)
    resp.status_code = status
    return resp


@bp.get("/k/<kiosk_id>")
@page_limits
def kiosk_start(kiosk_id: str) -> Response:
    device = _device(kiosk_id)
    if not isinstance(device, Kiosk):
        return device
    g.lang = request.args.get("lang") if request.args.get("lang") in ("vi", "en") else "vi"
    kiosks.mark_start(device)
    return start_page(_context(device))


@bp.post("/k/<kiosk_id>/survey")
@page_limits
def kiosk_step(kiosk_id: str) -> Response:
    device = _device(kiosk_id)
    if not isinstance(device, Kiosk):
        return device
    return step(_context(device))


@bp.get("/k/<kiosk_id>/thanks")
@page_limits
def kiosk_thanks(kiosk_id: str) -> Response:
    device = _device(kiosk_id)
    if not isinstance(device, Kiosk):
        return device
    return thanks_page(_context(device))


@bp.route("/k/<kiosk_id>/setup", methods=["GET", "POST"])
@limiter.limit("20 per minute")
def kiosk_setup(kiosk_id: str) -> Response | BaseResponse:
    """GET shows the form (``?token=`` pre-fills it); POST checks the token, sets the cookie."""
    if kiosks.get_active(kiosk_id) is None:
        body, status = render_error(404, _("Unknown kiosk"),
                                    _("This kiosk is not registered or has been switched off."))
        resp = no_store(body)
        resp.status_code = status
        return resp
    form = KioskSetupForm()
    error = None
    if request.method == "GET" and request.args.get("token"):
        form.token.data = request.args.get("token", "")[:200]
    if form.validate_on_submit():
        kiosk = kiosks.check_token(kiosk_id, form.token.data or "")
        if kiosk is not None:
            done = redirect(url_for("collect.kiosk_start", kiosk_id=kiosk_id), code=303)
            done.set_cookie(
                kiosks.COOKIE_NAME, kiosks.cookie_value(kiosk),
                max_age=int(current_app.config["KIOSK_COOKIE_MAX_AGE_DAYS"]) * 86400,
                httponly=True, samesite="Strict", secure=bool(current_app.config["COOKIE_SECURE"]),
                path="/",
            )
            return no_store(done)
        error = _("The token does not match this kiosk.")
    status = 403 if error else 200
    resp = no_store(render_template("collect/setup.html", form=form, kiosk_id=kiosk_id,
                                    error=error, page_kind="setup"))
    resp.status_code = status
    return resp
