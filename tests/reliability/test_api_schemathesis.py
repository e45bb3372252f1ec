"""Schemathesis against the app's own OpenAPI description (``GET /api/v1/openapi.json``).

Every operation is fuzzed in process (WSGI) with data that fits the schema and data that does
not, on SQLite and PostgreSQL, with real credentials (a registered kiosk's token, a signed
phone link, a signed-in province user) so requests get past authentication. Checks: never a
server error, every status and body as documented (errors included), JSON everywhere. After
the fuzzing, nothing stored is garbage: every stored answer is 1–5 or "not applicable" for an
item of the response's questionnaire version.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from tests.conftest import KioskInfo, PhoneLink, StaffInfo
from tests.web.helpers import ITEMS, VERSION, sign_in
from tests.web.reports_data import make_runs

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
EXAMPLES = 30  # per operation and mode: the whole module stays well under a minute


def _schema(app: Flask) -> Any:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    schema.config.generation.update(deterministic=False, allow_x00=True)
    return schema


def _fuzz(operation: Any, mode: GenerationMode, call: Callable[[Any], Any], **fixed: Any
          ) -> Counter[int]:
    """Run ``EXAMPLES`` generated cases of ``operation``; returns the statuses answered."""
    statuses: Counter[int] = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    def run(case: Any) -> None:
        response = call(case)
        case.validate_response(response, checks=CHECKS)
        statuses[response.status_code] += 1

    run()
    return statuses


def plausible(case: Any, centre: str, channel: str) -> None:
    """Make a schema-valid body reach the store: this credential's centre and channel, the
    real questionnaire version, generated answers moved onto real item codes (their
    generated values, comment and times kept) and a fresh id (generated ids repeat, and a
    repeated id is answered 200 without storing)."""
    body = case.body
    if not isinstance(body, dict):
        return
    body.update(id=str(uuid.uuid4()), centre=centre, channel=channel, questionnaire=VERSION)
    body.pop("counter", None)
    if body.get("field") is not None:
        body["field"] = "ho-tich"
    answers = body.get("answers") or {}
    body["answers"] = {ITEMS[i % len(ITEMS)]: v for i, v in enumerate(answers.values())}


def assert_nothing_stored_is_garbage(app: Flask) -> None:
    """Every stored response has a known centre and version, and each of its answers is an
    item of that version with 1–5 (or NULL marked not applicable)."""
    from surveyapp.extensions import db
    from surveyapp.models import Answer, Item, Response

    with app.app_context():
        rows = db.session.execute(
            select(Answer.value, Answer.not_applicable, Item.version_id, Response.version_id,
                   Item.scale_min, Item.scale_max, Response.comment)
            .join(Item, Answer.item_id == Item.id)
            .join(Response, Answer.response_id == Response.id)).all()
        for value, na, item_version, response_version, lo, hi, comment in rows:
            assert item_version == response_version
            assert (na and value is None) or (not na and lo <= value <= hi)
            assert comment is None or "\x00" not in comment
        answered = select(Answer.response_id).distinct()
        comments = db.session.scalars(select(Response.comment).where(
            Response.id.not_in(answered))).all()
        assert all(c for c in comments), "a response with neither answers nor a comment"


def _uploader(headers: dict[str, str], centre: str, channel: str) -> Callable[[Any], Any]:
    """Upload each case; every other positive case made :func:`plausible` (the others stay
    as generated). By count, not by anything in the case: which examples hypothesis draws
    can change with what ran before in the process (a selection by the body's length once
    left 2 plausible cases of 30)."""
    positive = 0

    def upload(case: Any) -> Any:
        nonlocal positive
        if case.meta is None or case.meta.generation.mode is GenerationMode.POSITIVE:
            positive += 1
            if positive % 2:
                plausible(case, centre, channel)
        return case.call(headers=headers)

    return upload


@pytest.mark.parametrize("credential", ["kiosk", "link"])
def test_response_upload(app: Flask, kiosk: KioskInfo, phone_link: PhoneLink,
                         credential: str) -> None:
    op = _schema(app)["/responses"]["POST"]
    if credential == "kiosk":
        headers, centre, channel = kiosk.auth, kiosk.centre, "kiosk"
    else:
        headers = {"Authorization": f"Link {phone_link.query}"}
        centre, channel = phone_link.centre, "phone-qr"
    positive = _fuzz(op, GenerationMode.POSITIVE, _uploader(headers, centre, channel))
    negative = _fuzz(op, GenerationMode.NEGATIVE, lambda case: case.call(headers=headers))
    assert positive[201] >= 3, positive  # past authentication and validation, into the store
    assert not negative.keys() & {200, 201}, negative  # nothing off-schema is stored
    assert_nothing_stored_is_garbage(app)


def test_heartbeat(app: Flask, kiosk: KioskInfo) -> None:
    op = _schema(app)["/kiosks/{kiosk_id}/heartbeat"]["POST"]
    own = _fuzz(op, GenerationMode.POSITIVE, lambda case: case.call(headers=kiosk.auth),
                path_parameters={"kiosk_id": kiosk.id})
    assert own[200] >= EXAMPLES // 2, own
    _fuzz(op, GenerationMode.POSITIVE, lambda case: case.call(headers=kiosk.auth))
    negative = _fuzz(op, GenerationMode.NEGATIVE, lambda case: case.call(headers=kiosk.auth),
                     path_parameters={"kiosk_id": kiosk.id})
    assert 200 not in negative, negative


@pytest.mark.parametrize("path", ["/results/runs", "/results/runs/{run_id}",
                                  "/results/runs/{run_id}/provinces/{unit}", "/openapi.json"])
def test_staff_reads_as_province_user(app: Flask, staff: StaffInfo, path: str) -> None:
    runs = make_runs(app)
    browser = app.test_client()
    assert sign_in(browser, staff.province).status_code == 302
    # Flask-Login's strong session protection ties the session to the browser's address and
    # User-Agent: calls go through that test client, with its cookie and User-Agent
    cookie = {"session": browser.get_cookie("session").value}
    agent = {"User-Agent": browser.environ_base["HTTP_USER_AGENT"]}

    def call(case: Any) -> Any:
        return case.call(session=browser, cookies=cookie, headers=agent)

    op = _schema(app)[path]["GET"]
    fixed = {k: v for k, v in {"run_id": runs["current"].id, "unit": "01"}.items()
             if "{" + k + "}" in path}
    statuses = _fuzz(op, GenerationMode.POSITIVE, call, path_parameters=fixed)
    assert statuses[200] >= 1, statuses
    if op.path_parameters:  # anything else in the path: 404, never someone else's data
        _fuzz(op, GenerationMode.POSITIVE, call)
        _fuzz(op, GenerationMode.NEGATIVE, call)
