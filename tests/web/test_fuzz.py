"""Property test: whatever JSON arrives, the API answers with a 2xx/4xx and never a 500, and
nothing it refuses is stored."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surveyapp.models import Response
from tests.web.helpers import ITEMS, payload

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10), st.floats(allow_nan=True),
                    st.text(max_size=30), st.sampled_from(["na", "NA", "5", "", "\x00"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)
answers = st.dictionaries(st.sampled_from([*ITEMS, "C9.9", "", "\x00"]), values, max_size=6)
fields = st.fixed_dictionaries({}, optional={
    "id": st.one_of(st.uuids().map(str), values),
    "centre": st.one_of(st.sampled_from(["X00004", "P01", "X99999", ""]), values),
    "counter": st.one_of(st.sampled_from(["1", "9"]), values),
    "channel": st.one_of(st.sampled_from(["kiosk", "assisted", "phone-qr", "fax"]), values),
    "questionnaire": st.one_of(st.just("sipas-2023.v1"), values),
    "field": st.one_of(st.just("ho-tich"), values),
    "answers": st.one_of(answers, values),
    "comment": st.one_of(st.text(max_size=50), values),
    "client_time": st.one_of(st.just("2026-11-20T09:00:00+07:00"), st.text(max_size=25), values),
})


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=st.one_of(fields, values))
def test_api_never_500(app, client, kiosk, body):
    before = _count(app)
    r = client.post("/api/v1/responses", data=json.dumps(body), headers=kiosk.auth,
                    content_type="application/json")
    assert r.status_code in (200, 201, 400, 401, 403, 413, 415, 422), r.get_data(as_text=True)
    data = r.get_json()
    if r.status_code >= 400:
        assert set(data["error"]) == {"code", "field", "message"}
        assert _count(app) == before
    else:
        assert data["status"] == "stored"


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=st.dictionaries(st.sampled_from(ITEMS), st.sampled_from([1, 2, 3, 4, 5, "na"]),
                                min_size=1))
def test_valid_answers_always_stored(app, client, kiosk, mutation):
    r = client.post("/api/v1/responses", data=json.dumps(payload(answers=mutation)),
                    headers=kiosk.auth, content_type="application/json")
    assert r.status_code == 201


def _count(app) -> int:
    from sqlalchemy import func, select

    from surveyapp.extensions import db

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Response))
