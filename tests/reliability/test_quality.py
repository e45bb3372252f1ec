"""Quality flags: bursts, straight-lining at impossible speed, repeated phone submissions.

Flagged responses are always stored (flag, never drop); the analysis can exclude them by code
and counts what it excluded.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from surveyapp.models import QualityFlag, Response
from tests.web.helpers import ITEMS, URL, count, iso, now, payload, post


def flags_of(app: Flask, code: str) -> dict[str, str]:
    from surveyapp.extensions import db

    with app.app_context():
        rows = db.session.execute(select(QualityFlag.response_id, QualityFlag.reason)
                                  .where(QualityFlag.code == code)).all()
        return {str(rid): reason for rid, reason in rows}


def varied(shift: int = 0) -> dict[str, Any]:
    return {code: (i + shift) % 5 + 1 for i, code in enumerate(ITEMS)}


def test_burst_from_one_kiosk_flags_every_response_in_the_window(app, client, kiosk):
    app.config.update(QUALITY_BURST_MAX=3, QUALITY_BURST_SECONDS=60)
    ids = []
    for n in range(5):
        body = payload(answers=varied(n), client_time=iso(now()))
        assert post(client, body, kiosk.auth).status_code == 201
        ids.append(body["id"])
    flagged = flags_of(app, "burst")
    assert set(flagged) == set(ids)  # the first three too, once the fourth crossed the line
    assert "more than 3" in flagged[ids[-1]]
    assert count(app, Response) == 5  # flagged, never dropped


def test_kiosk_under_the_limit_is_not_flagged(app, client, kiosk):
    app.config.update(QUALITY_BURST_MAX=3, QUALITY_BURST_SECONDS=60)
    for n in range(3):
        assert post(client, payload(answers=varied(n)), kiosk.auth).status_code == 201
    assert flags_of(app, "burst") == {}


def test_offline_queue_uploaded_at_once_is_not_a_burst(app, client, kiosk):
    """A kiosk back online sends a day's answers in seconds; their device times are spread
    out, and the device time is what counts."""
    app.config.update(QUALITY_BURST_MAX=3, QUALITY_BURST_SECONDS=60)
    start = now() - dt.timedelta(hours=3)
    for n in range(8):
        when = start + dt.timedelta(minutes=4 * n)
        body = payload(answers=varied(n), client_time=iso(when),
                       started_at=iso(when - dt.timedelta(minutes=2)))
        assert post(client, body, kiosk.auth).status_code == 201
    assert flags_of(app, "burst") == {}


def test_queued_burst_is_still_a_burst(app, client, kiosk):
    app.config.update(QUALITY_BURST_MAX=3, QUALITY_BURST_SECONDS=60)
    start = now() - dt.timedelta(hours=3)
    for n in range(4):
        body = payload(answers=varied(n), client_time=iso(start + dt.timedelta(seconds=5 * n)))
        assert post(client, body, kiosk.auth).status_code == 201
    assert len(flags_of(app, "burst")) == 4


@pytest.mark.parametrize(("seconds", "answers", "flagged"), [
    pytest.param(6, dict.fromkeys(ITEMS, 5), True, id="identical-fast"),
    pytest.param(90, dict.fromkeys(ITEMS, 5), False, id="identical-slow"),
    pytest.param(6, None, False, id="varied-fast"),
    pytest.param(6, dict.fromkeys(ITEMS[:3], 1), False, id="too-few-items"),
])
def test_straight_lining_at_impossible_speed(app, client, kiosk, seconds, answers, flagged):
    sent = now()
    body = payload(answers=answers if answers is not None else varied(),
                   client_time=iso(sent), started_at=iso(sent - dt.timedelta(seconds=seconds)))
    r = post(client, body, kiosk.auth)
    assert r.status_code == 201, r.get_json()
    found = flags_of(app, "straight_fast")
    assert (body["id"] in found) is flagged
    if flagged:
        assert "19 answers '5'" in found[body["id"]]


def phone(phone_link: Any, **overrides: Any) -> dict[str, Any]:
    return payload(centre="P01", counter=None, channel="phone-qr", field=None, **overrides)


def test_repeated_identical_phone_submission_is_flagged(app, client, phone_link):
    auth = {"Authorization": f"Link {phone_link.query}"}
    first = phone(phone_link, comment="Rất tốt")
    second = phone(phone_link, comment="Rất tốt")
    other = phone(phone_link, comment="Rất tốt", answers=varied(2))
    for body in (first, second, other):
        assert post(client, body, auth).status_code == 201
    repeats = flags_of(app, "repeat")
    assert set(repeats) == {second["id"]}
    assert first["id"][:8] in repeats[second["id"]]


def test_same_answers_from_another_address_are_not_a_repeat(app, client, phone_link):
    auth = {"Authorization": f"Link {phone_link.query}"}
    assert post(client, phone(phone_link), auth).status_code == 201
    other = client.post(URL, data=json.dumps(phone(phone_link)), headers=auth,
                        content_type="application/json",
                        environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert other.status_code == 201
    assert flags_of(app, "repeat") == {}


def test_burst_from_one_address_on_phone_links(app, client, phone_link):
    app.config.update(QUALITY_SOURCE_BURST_MAX=2)
    auth = {"Authorization": f"Link {phone_link.query}"}
    for n in range(3):
        assert post(client, phone(phone_link, answers=varied(n)), auth).status_code == 201
    assert len(flags_of(app, "burst")) == 3
    assert "one client address" in next(iter(flags_of(app, "burst").values()))


def test_html_survey_burst_is_flagged_too(app, kiosk_client, kiosk):
    from tests.web.helpers import walk_survey

    app.config.update(QUALITY_BURST_MAX=1)
    for _ in range(2):
        walk_survey(kiosk_client, f"/k/{kiosk.id}", f"/k/{kiosk.id}/survey")
    assert len(flags_of(app, "burst")) == 2


def test_flag_codes_reach_the_design_page_and_the_run_counts_exclusions(app, client, kiosk,
                                                                         staff):
    """The statistician sees the new codes with their counts, can exclude them, and the run
    records how many responses each exclusion removed."""
    from surveyapp.extensions import db
    from surveyapp.services import run_demo, runs
    from tests.web.helpers import sign_in

    app.config.update(QUALITY_BURST_MAX=2)
    ids = []
    for n in range(3):
        body = payload(answers=varied(n))
        assert post(client, body, kiosk.auth).status_code == 201
        ids.append(uuid.UUID(body["id"]))
    with app.app_context():
        period = run_demo.demo_period(responses=150)
        inside = dt.datetime.combine(period.start_date, dt.time(3, 0))
        for rid in ids:
            row = db.session.get(Response, rid)
            row.submitted_at = row.client_time = inside
        db.session.commit()
        code = period.code
    sign_in(client, staff.statistician)
    page = client.get(f"/analysis/periods/{code}/design").get_data(as_text=True)
    assert 'name="exclude_burst"' in page
    with app.app_context():
        period = run_demo.frames.get_period(code)
        run = runs.run_now(period, {"exclude_flags": ["honeypot", "burst"]})
        assert run.status == "done", run.error
        assert run.excluded["flag:burst"] == 3
