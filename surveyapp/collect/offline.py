"""What a kiosk needs to keep collecting answers with the network down.

* ``GET /k/sw.js`` -- the service worker (``static/js/kiosk-sw.js``), scope ``/k/``;
* ``GET /k/<id>/offline.json`` -- the *offline pack*: the kiosk's start, question, comment
  and thank-you pages in both languages, rendered by the same templates as online but with
  placeholders for the survey state, plus the item ids/codes of every page. With the network
  down the service worker answers the survey's form POSTs from this pack (same HTML, same
  buttons, same ``survey.js``), keeps the survey state in the page as online, and on "send"
  puts the answer set (with its UUID) into the device's IndexedDB queue; ``kiosk.js`` uploads
  the queue to ``POST /api/v1/responses`` when the network returns.

The pack carries no CSRF token (an offline POST never reaches the server) and nothing of any
citizen; it changes only with the questionnaire, the fields, the kiosk's centre or the code,
so it is served with an ETag and revalidated cheaply. Fetching it records nothing (unlike the
start page, which marks the kiosk's start screen as shown).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

from flask import current_app, g, render_template, request, send_from_directory
from flask.wrappers import Response
from flask_babel import force_locale

from surveyapp.collect import bp, flow
from surveyapp.collect.forms import StartForm, SurveyForm
from surveyapp.collect.kiosk_routes import _context, _device
from surveyapp.collect.survey import Context, scale_labels
from surveyapp.extensions import page_limits
from surveyapp.models import Kiosk
from surveyapp.services import questionnaires

#: Placeholders the service worker replaces (never valid survey input, so never ambiguous).
STATE_MARK = "__SIPAS_STATE__"
COMMENT_MARK = "__SIPAS_COMMENT__"
PACK_FORMAT = 1
_CSRF = re.compile(r'(name="csrf_token" type="hidden" value=")[^"]*(")')


@bp.get("/k/sw.js")
def kiosk_service_worker() -> Response:
    """The service worker, from a path whose scope covers every kiosk page (``/k/``)."""
    resp = send_from_directory(os.path.join(current_app.static_folder or "", "js"),
                               "kiosk-sw.js", mimetype="text/javascript", max_age=0)
    resp.headers["Service-Worker-Allowed"] = "/k/"
    resp.headers["Cache-Control"] = "no-cache"
    return resp


def _blank(html: str) -> str:
    return _CSRF.sub(r"\1\2", html)


def _pages(ctx: Context, version: Any, lang: str) -> dict[str, Any]:
    """Start, every step and thank-you page in ``lang``, with placeholders for the state."""
    g.lang = lang
    fields = flow.active_fields()
    pages = flow.pages(version, with_fields=bool(fields))
    steps = []
    with force_locale(lang):
        start = render_template("collect/start.html", ctx=ctx, form=StartForm(lang=lang),
                                version=version, page_kind="start")
        for index, page in enumerate(pages):
            state = flow.State(rid="", ctx=ctx.key, version=version.key, started=0, lang=lang,
                               step=index, comment=COMMENT_MARK)
            steps.append(_blank(render_template(
                "collect/step.html", ctx=ctx, form=SurveyForm(formdata=None, state=STATE_MARK),
                state=state, page=page, pages=pages, fields=fields, version=version,
                page_kind=page.kind, scale=scale_labels())))
        thanks = render_template("collect/thanks.html", ctx=ctx, page_kind="thanks")
    return {"start": _blank(start), "steps": steps, "thanks": thanks}


def build_pack(kiosk: Kiosk) -> dict[str, Any] | None:
    """The offline pack of ``kiosk`` (None when no questionnaire is active)."""
    version = questionnaires.current_version(current_app.config["STANDARD_QUESTIONNAIRE"])
    if version is None:
        return None
    ctx = _context(kiosk)
    fields = flow.active_fields()
    pages = flow.pages(version, with_fields=bool(fields))
    html = {lang: _pages(ctx, version, lang) for lang in ("vi", "en")}
    return {
        "format": PACK_FORMAT, "kiosk": kiosk.id, "centre": kiosk.centre.code,
        "counter": ctx.counter, "channel": "kiosk", "questionnaire": version.key,
        "comment_max": int(current_app.config["COMMENT_MAX_LENGTH"]),
        "fields": [f.code for f in fields],
        "pages": [{"kind": p.kind, "items": [{"id": it.id, "code": it.code, "na": it.allow_na}
                                             for it in p.items]} for p in pages],
        "urls": {"start": ctx.start_url, "post": ctx.post_url, "thanks": ctx.thanks_url},
        "marks": {"state": STATE_MARK, "comment": COMMENT_MARK},
        "html": html,
    }


@bp.get("/k/<kiosk_id>/offline.json")
@page_limits
def kiosk_offline_pack(kiosk_id: str) -> Response:
    device = _device(kiosk_id)
    if not isinstance(device, Kiosk):
        return device
    pack = build_pack(device)
    if pack is None:
        resp = current_app.response_class(b'{"error": "no active questionnaire"}', status=503,
                                          mimetype="application/json")
        resp.headers["Cache-Control"] = "no-store"
        return resp
    body = json.dumps(pack, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    resp = current_app.response_class(body, mimetype="application/json")
    resp.set_etag(hashlib.sha256(body).hexdigest()[:32])
    resp.headers["Cache-Control"] = "private, no-cache"
    return resp.make_conditional(request)
