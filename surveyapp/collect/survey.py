"""The survey steps, shared by kiosk and phone pages; only the ``Context`` differs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask import current_app, g, redirect, render_template, request
from flask.wrappers import Response
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from surveyapp.collect import flow
from surveyapp.collect.forms import StartForm, SurveyForm
from surveyapp.errors.handlers import render_error
from surveyapp.extensions import db
from surveyapp.models import Response as StoredResponse
from surveyapp.models import ServiceCentre
from surveyapp.security import source_hash
from surveyapp.services import questionnaires, submissions
from surveyapp.services.validation import Auth, SubmissionError, validate


@dataclass(frozen=True)
class Context:
    """Where the survey runs: device or link, and the URLs of its pages."""

    key: str  # binds the signed state to this kiosk / link
    centre: ServiceCentre
    counter: str | None
    channel: str
    auth: Auth
    start_url: str
    post_url: str
    thanks_url: str
    idle_reset: bool  # kiosks return to the start screen after idle time
    #: Kiosks: when the start screen was last shown (epoch seconds); a survey begun before it
    #: was abandoned, and its page state must not bring the previous citizen's answers back.
    abandoned_before: float | None = None


def no_store(response: Response | BaseResponse | str) -> Response:
    """Survey pages are never cached: the next citizen must not see them via Back."""
    resp = response if isinstance(response, BaseResponse) else current_app.make_response(response)
    resp.headers["Cache-Control"] = "no-store"
    return resp  # type: ignore[return-value]


def start_page(ctx: Context) -> Response:
    version = questionnaires.current_version(current_app.config["STANDARD_QUESTIONNAIRE"])
    if version is None:
        return no_store(render_error(500)[0])
    form = StartForm(lang=g.get("lang") or "vi")
    return no_store(render_template("collect/start.html", ctx=ctx, form=form,
                                    version=version, page_kind="start"))


def _expired(ctx: Context) -> Response:
    body, status = render_error(
        400, _("This page has expired"),
        _("For your security the form was reset. Please start the survey again."),
        restart_url=ctx.start_url,
    )
    resp = no_store(body)
    resp.status_code = status
    return resp


def _stale(ctx: Context, state: flow.State) -> bool:
    """A page state that must not be continued: its survey was already submitted, or (on a
    kiosk) the start screen has been shown since it began -- e.g. Back + "resend form" after
    an idle reset, which would otherwise show the previous citizen's answers again."""
    if ctx.abandoned_before is not None and state.started < int(ctx.abandoned_before):
        return True
    return _stored(state)


def _stored(state: flow.State) -> bool:
    try:
        rid = uuid.UUID(state.rid)
    except ValueError:
        return False
    return db.session.get(StoredResponse, rid) is not None


def step(ctx: Context) -> Response:
    """Handle one POST of the survey: start, move, switch language or submit."""
    form = request.form
    nav = form.get("nav", "")
    version = questionnaires.current_version(current_app.config["STANDARD_QUESTIONNAIRE"])
    if nav == "start":
        if version is None:
            return _expired(ctx)
        state = flow.new_state(ctx.key, version, form.get("lang", "vi"))
    else:
        loaded = flow.load_state(form.get("state"), ctx.key)
        version = flow.version_for(loaded) if loaded else None
        if loaded is not None and nav == "submit" and _stored(loaded):
            return _to_thanks(ctx, loaded)  # a double tap or a retried submit: stored once
        if loaded is not None and ctx.idle_reset and _stale(ctx, loaded):
            return no_store(redirect(ctx.start_url, code=303))  # kiosk: straight to the start
        if loaded is None or version is None or _stale(ctx, loaded):
            return _expired(ctx)
        state = loaded
    g.lang = state.lang
    fields = flow.active_fields()
    pages = flow.pages(version, with_fields=bool(fields))
    state.step = min(max(state.step, 0), len(pages) - 1)
    page = pages[state.step]
    if nav != "start":
        flow.absorb(state, page, form)
        if page.kind == "field" and "field" in form:
            chosen = form.get("field") or None
            state.field = chosen if chosen in {f.code for f in fields} else None
            nav = "next"
    if nav in ("lang-vi", "lang-en"):
        state.lang = g.lang = nav[-2:]
    elif nav == "next":
        state.step = min(state.step + 1, len(pages) - 1)
    elif nav == "back":
        state.step = max(state.step - 1, 0)
    elif nav == "submit":
        return _submit(ctx, state)
    page = pages[state.step]
    survey_form = SurveyForm(formdata=None, state=state.dump())
    return no_store(render_template(
        "collect/step.html", ctx=ctx, form=survey_form, state=state, page=page,
        pages=pages, fields=fields, version=version, page_kind=page.kind, scale=scale_labels(),
    ))


def scale_labels() -> list[tuple[str, str]]:
    """The five levels, worst to best as on the MoHA form; words always shown with faces."""
    return [("1", _("Very dissatisfied")), ("2", _("Dissatisfied")), ("3", _("Neutral")),
            ("4", _("Satisfied")), ("5", _("Very satisfied"))]


def _to_thanks(ctx: Context, state: flow.State) -> Response:
    thanks = ctx.thanks_url + ("&" if "?" in ctx.thanks_url else "?") + f"lang={state.lang}"
    return no_store(redirect(thanks, code=303))


def _submit(ctx: Context, state: flow.State) -> Response:
    payload = flow.payload(state, ctx.centre.code, ctx.counter, ctx.channel)
    if not payload["answers"] and not payload["comment"]:
        return _to_thanks(ctx, state)
    try:
        sub = validate(payload, ctx.auth)
    except SubmissionError as err:
        body, status = render_error(err.status if err.status < 500 else 400,
                                    message=err.message, restart_url=ctx.start_url)
        resp = no_store(body)
        resp.status_code = status
        return resp
    if state.honeypot:
        sub.flags["honeypot"] = "hidden form field was filled in"
    submissions.store(sub, source_hash=source_hash())
    return _to_thanks(ctx, state)


def thanks_page(ctx: Context) -> Response:
    return no_store(render_template("collect/thanks.html", ctx=ctx, page_kind="thanks"))
