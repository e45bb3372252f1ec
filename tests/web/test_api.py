"""``POST /api/v1/responses``: the contract of issue 3, item 4."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from surveyapp.models import Answer, Item, QualityFlag, Response
from tests.web.helpers import (
    ITEMS,
    URL,
    VERSION,
    assert_concurrent_duplicates_store_one,
    count,
    payload,
    post,
)


def test_stores_response_with_answers(app, client, kiosk):
    body = payload()
    r = post(client, body, kiosk.auth)
    assert r.status_code == 201, r.get_json()
    data = r.get_json()
    assert data["id"] == body["id"]
    assert data["status"] == "stored"
    assert data["questionnaire"] == VERSION
    rid = uuid.UUID(body["id"])
    assert count(app, Response, Response.id == rid) == 1
    assert count(app, Answer, Answer.response_id == rid) == len(ITEMS)
    from surveyapp.extensions import db

    with app.app_context():
        stored = db.session.get(Response, rid)
        assert stored.channel == "kiosk"
        assert stored.kiosk_id == kiosk.id
        assert stored.counter.code == "1"
        assert stored.field.code == "ho-tich"
        assert stored.unit.code == "00004"
        assert stored.province.code == "01"
        assert stored.comment == "Cán bộ nhiệt tình."
        na = db.session.execute(
            select(Answer.value, Answer.not_applicable).join(Item)
            .where(Answer.response_id == rid, Item.code == "C5.3")).one()
        assert na == (None, True)  # N/A is its own code, never 3
        assert stored.source_hash
        assert "127.0.0.1" not in stored.source_hash


def test_same_id_twice_stores_one_row_and_returns_same_body(app, client, kiosk):
    body = payload()
    first = post(client, body, kiosk.auth)
    second = post(client, body, kiosk.auth)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.get_json() == second.get_json()
    assert count(app, Response, Response.id == uuid.UUID(body["id"])) == 1
    assert count(app, Answer, Answer.response_id == uuid.UUID(body["id"])) == len(ITEMS)


def test_concurrent_duplicates_store_exactly_one(app, kiosk):
    assert_concurrent_duplicates_store_one(app, kiosk.auth)


BAD_INPUTS = [
    # (description, mutation, status, error code, field)
    ("missing id", lambda b: b.pop("id"), 400, "missing", "id"),
    ("id not a string", lambda b: b.update(id=12), 400, "wrong_type", "id"),
    ("id not a uuid", lambda b: b.update(id="not-a-uuid"), 400, "invalid", "id"),
    ("nil uuid", lambda b: b.update(id=str(uuid.UUID(int=0))), 400, "invalid", "id"),
    ("unknown centre", lambda b: b.update(centre="X99999"), 422, "unknown_centre", "centre"),
    ("centre wrong type", lambda b: b.update(centre=1), 400, "wrong_type", "centre"),
    ("missing centre", lambda b: b.pop("centre"), 400, "missing", "centre"),
    ("unknown counter", lambda b: b.update(counter="99"), 422, "unknown_counter", "counter"),
    ("counter wrong type", lambda b: b.update(counter=["1"]), 400, "wrong_type", "counter"),
    ("unknown channel", lambda b: b.update(channel="fax"), 422, "invalid", "channel"),
    ("channel wrong type", lambda b: b.update(channel=5), 400, "wrong_type", "channel"),
    ("unknown questionnaire", lambda b: b.update(questionnaire="sipas-1999.v1"), 422,
     "unknown_questionnaire", "questionnaire"),
    ("questionnaire wrong type", lambda b: b.update(questionnaire=1), 400, "wrong_type",
     "questionnaire"),
    ("unknown field", lambda b: b.update(field="chan-nuoi"), 422, "unknown_field_code",
     "field"),
    ("field wrong type", lambda b: b.update(field={"a": 1}), 400, "wrong_type", "field"),
    ("unknown item", lambda b: b["answers"].update({"C9.9": 4}), 422, "unknown_item",
     "answers.C9.9"),
    ("value 0", lambda b: b["answers"].update({"C1.1": 0}), 422, "out_of_range",
     "answers.C1.1"),
    ("value 6", lambda b: b["answers"].update({"C1.1": 6}), 422, "out_of_range",
     "answers.C1.1"),
    ("value as string", lambda b: b["answers"].update({"C1.1": "5"}), 400, "wrong_type",
     "answers.C1.1"),
    ("value float", lambda b: b["answers"].update({"C1.1": 4.0}), 400, "wrong_type",
     "answers.C1.1"),
    ("value bool", lambda b: b["answers"].update({"C1.1": True}), 400, "wrong_type",
     "answers.C1.1"),
    ("value NA upper", lambda b: b["answers"].update({"C1.1": "NA"}), 400, "wrong_type",
     "answers.C1.1"),
    ("value null", lambda b: b["answers"].update({"C1.1": None}), 400, "wrong_type",
     "answers.C1.1"),
    ("answers a list", lambda b: b.update(answers=[4, 5]), 400, "wrong_type", "answers"),
    ("answers missing", lambda b: b.pop("answers"), 400, "missing", "answers"),
    ("empty response", lambda b: b.update(answers={}, comment=None), 422, "empty", "answers"),
    ("comment wrong type", lambda b: b.update(comment=5), 400, "wrong_type", "comment"),
    ("comment too long", lambda b: b.update(comment="x" * 2001), 422, "too_long", "comment"),
    ("client_time garbage", lambda b: b.update(client_time="yesterday"), 400, "invalid",
     "client_time"),
    ("client_time wrong type", lambda b: b.update(client_time=1700000000), 400, "wrong_type",
     "client_time"),
    ("unknown top-level field", lambda b: b.update(name="Nguyễn Văn A"), 400, "unknown_field",
     "name"),
    ("centre with NUL byte", lambda b: b.update(centre="X0\u00004"), 422, "unknown_centre",
     "centre"),
    ("centre 10 kB long", lambda b: b.update(centre="X" * 10_000), 422, "unknown_centre",
     "centre"),
    ("counter with NUL byte", lambda b: b.update(counter="\u0000"), 422, "unknown_counter",
     "counter"),
    ("field with NUL byte", lambda b: b.update(field="ho\u0000tich"), 422,
     "unknown_field_code", "field"),
    ("questionnaire with NUL byte", lambda b: b.update(questionnaire="sipas\u0000"), 422,
     "unknown_questionnaire", "questionnaire"),
    ("item code with NUL byte", lambda b: b["answers"].update({"C1\u0000": 4}), 422,
     "unknown_item", "answers.C1\u0000"),
    ("kiosk of another centre", lambda b: b.update(centre="P01"), 403, "forbidden_centre",
     "centre"),
    ("kiosk posting phone channel", lambda b: b.update(channel="phone-qr"), 403,
     "forbidden_channel", "channel"),
]


@pytest.mark.parametrize(("mutate", "status", "code", "field"),
                         [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUTS])
def test_bad_input_names_the_field_and_stores_nothing(app, client, kiosk, mutate, status, code,
                                                      field):
    body = payload()
    mutate(body)
    r = post(client, body, kiosk.auth)
    assert r.status_code == status, r.get_json()
    err = r.get_json()["error"]
    assert (err["code"], err["field"]) == (code, field)
    assert err["message"]
    assert count(app, Response) == 0
    assert count(app, Answer) == 0


@pytest.mark.parametrize(("raw", "content_type", "status", "code"), [
    pytest.param(b"{not json", "application/json", 400, "invalid_json", id="broken-json"),
    pytest.param(b"\xff\xfe\xfa", "application/json", 400, "invalid_json", id="bad-utf8"),
    pytest.param(b"[1, 2]", "application/json", 400, "invalid_body", id="array"),
    pytest.param(b"null", "application/json", 400, "invalid_body", id="null"),
    pytest.param(b"[" * 50000 + b"]" * 50000, "application/json", 413, "too_large",
                 id="deep-nesting-too-big"),
    pytest.param(b"[" * 30000, "application/json", 400, "invalid_json", id="deep-nesting"),
    pytest.param(b"id=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type",
                 id="form-encoded"),
    pytest.param(b"{}", "text/plain", 415, "unsupported_media_type", id="text-plain"),
])
def test_malformed_bodies(app, client, kiosk, raw, content_type, status, code):
    r = client.post(URL, data=raw, headers=kiosk.auth, content_type=content_type)
    assert r.status_code == status
    assert r.get_json()["error"]["code"] == code
    assert count(app, Response) == 0


def test_oversized_body_is_413_json(app, client, kiosk):
    body = payload(comment="a" * 70_000)
    r = post(client, body, kiosk.auth)
    assert r.status_code == 413
    assert r.get_json()["error"]["code"] == "too_large"
    assert count(app, Response) == 0


@pytest.mark.parametrize("header", [
    pytest.param(None, id="none"),
    pytest.param("Kiosk k-unknown:abc", id="unknown-kiosk"),
    pytest.param("Bearer abc", id="other-scheme"),
    pytest.param("Kiosk {id}:wrong-token", id="wrong-token"),
    pytest.param("Kiosk {id}", id="no-token"),
    pytest.param("Kiosk k-\u00e9\u00e9:x", id="non-ascii-id"),
])
def test_unauthenticated(app, client, kiosk, header):
    headers = {} if header is None else {"Authorization": header.format(id=kiosk.id)}
    r = post(client, payload(), headers)
    assert r.status_code == 401
    assert r.get_json()["error"]["code"] == "unauthenticated"
    assert count(app, Response) == 0


def test_revoked_kiosk_is_refused(app, client, kiosk):
    from surveyapp.extensions import db
    from surveyapp.models import Kiosk
    from surveyapp.services import kiosks

    with app.app_context():
        kiosks.revoke(db.session.get(Kiosk, kiosk.id))
    assert post(client, payload(), kiosk.auth).status_code == 401


def test_phone_link_signature_authenticates(app, client, phone_link):
    body = payload(centre="P01", counter=None, channel="phone-qr")
    r = post(client, body, {"Authorization": f"Link {phone_link.query}"})
    assert r.status_code == 201, r.get_json()
    from surveyapp.extensions import db

    with app.app_context():
        stored = db.session.get(Response, uuid.UUID(body["id"]))
        assert stored.counter.code == "1"  # taken from the signed link
        assert stored.channel == "phone-qr"
        assert stored.kiosk_id is None


@pytest.mark.parametrize(("change", "status", "code"), [
    pytest.param({"centre": "P48"}, 403, "link_invalid", id="other-centre"),
    pytest.param({"channel": "kiosk"}, 403, "forbidden_channel", id="other-channel"),
    pytest.param({"counter": "2"}, 403, "forbidden_counter", id="other-counter"),
])
def test_link_does_not_cover_other_targets(app, client, phone_link, change, status, code):
    body = payload(centre="P01", counter=None, channel="phone-qr") | change
    r = post(client, body, {"Authorization": f"Link {phone_link.query}"})
    assert (r.status_code, r.get_json()["error"]["code"]) == (status, code)


def test_tampered_link_signature(app, client, phone_link):
    query = phone_link.query.replace("exp=", "exp=9")
    r = post(client, payload(centre="P01", channel="phone-qr"), {"Authorization": f"Link {query}"})
    assert (r.status_code, r.get_json()["error"]["code"]) == (403, "link_invalid")


def test_expired_link(app, client):
    import datetime as dt

    from surveyapp.services import links

    with app.test_request_context():
        link = links.make("P01", None, "q", valid_days=1, today=dt.date(2020, 1, 1))
        query = link.query()
    r = post(client, payload(centre="P01", counter=None, channel="phone-qr"),
             {"Authorization": f"Link {query}"})
    assert (r.status_code, r.get_json()["error"]["code"]) == (403, "link_expired")


def test_kiosk_device_cookie_authenticates(app, kiosk_client, kiosk):
    r = post(kiosk_client, payload(), {})
    assert r.status_code == 201


def test_item_na_not_allowed(app, client, kiosk):
    from surveyapp.extensions import db
    from surveyapp.services import questionnaires

    with app.app_context():
        version = questionnaires.by_key(VERSION)
        version.items[0].allow_na = False
        db.session.commit()
    body = payload()
    body["answers"]["C1.1"] = "na"
    r = post(client, body, kiosk.auth)
    assert r.status_code == 422
    assert r.get_json()["error"] == {"code": "na_not_allowed", "field": "answers.C1.1",
                                     "message": r.get_json()["error"]["message"]}


def test_comment_control_characters_and_nul_are_stripped(app, client, kiosk):
    body = payload(comment="ok\x00<script>alert(1)</script>\x07")
    assert post(client, body, kiosk.auth).status_code == 201
    from surveyapp.extensions import db

    with app.app_context():
        assert db.session.get(Response, uuid.UUID(body["id"])).comment == (
            "ok<script>alert(1)</script>")


def test_device_clock_far_off_is_flagged_not_dropped(app, client, kiosk):
    body = payload(client_time="2001-01-01T00:00:00Z")
    assert post(client, body, kiosk.auth).status_code == 201
    assert count(app, QualityFlag, QualityFlag.code == "client_clock") == 1


def test_get_is_405_json(client):
    r = client.get(URL)
    assert r.status_code == 405
    assert r.get_json()["error"]["code"] == "method_not_allowed"


def test_deactivating_a_centre_takes_effect_at_once(app, phone_link) -> None:
    """Centres come from a per-process cache; committing an admin change forgets it, so a
    signed link (which, unlike a kiosk token, does not re-read the centre) is refused at once."""
    from surveyapp.extensions import db
    from surveyapp.models import ServiceCentre

    client = app.test_client()
    auth = {"Authorization": f"Link {phone_link.query}"}
    first = post(client, payload(centre="P01", counter=None, channel="phone-qr"), auth)
    assert first.status_code == 201, first.get_json()
    with app.app_context():
        centre = db.session.scalar(select(ServiceCentre).where(ServiceCentre.code == "P01"))
        centre.active = False
        db.session.commit()
    second = post(client, payload(centre="P01", counter=None, channel="phone-qr"), auth)
    assert second.status_code == 422
    assert second.get_json()["error"]["code"] == "unknown_centre"
