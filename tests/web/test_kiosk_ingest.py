"""Kiosk uploads once the questionnaire version is frozen: on PostgreSQL one statement stores
them (``services/kiosk_ingest.py``); everything it refuses falls back to the general path, so
both databases must give the same answers, rows and flags."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select

from surveyapp.models import Answer, QualityFlag, Response
from tests.web.helpers import (
    ITEMS,
    assert_concurrent_duplicates_store_one,
    count,
    iso,
    now,
    payload,
    post,
)


@contextmanager
def statements(app: Flask, backend: Any, monkeypatch: Any) -> Iterator[list[str]]:
    """The SQL statements sent meanwhile: psycopg's cursor on PostgreSQL (it also sees what
    bypasses SQLAlchemy), the engine's events on SQLite."""
    seen: list[str] = []
    if backend.name == "postgresql":
        import psycopg

        execute = psycopg.Cursor.execute

        def counted(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            seen.append(str(query))
            return execute(self, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", counted)
        yield seen
        monkeypatch.undo()
        return
    from surveyapp.extensions import db

    def note(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(sql)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def flags(app: Flask, rid: str) -> dict[str, str]:
    from surveyapp.extensions import db

    with app.app_context():
        return dict(db.session.execute(select(QualityFlag.code, QualityFlag.reason).where(
            QualityFlag.response_id == uuid.UUID(rid))).all())


@pytest.fixture
def frozen(app: Flask, client: Any, kiosk: Any) -> str:
    """One upload stored first: it freezes the questionnaire version (the general path) and
    fills the per-process reference cache for today."""
    body = payload(answers={code: (i % 5) + 1 for i, code in enumerate(ITEMS)},
                   client_time=iso(now()))
    assert post(client, body, kiosk.auth).status_code == 201
    return str(body["id"])


def test_upload_is_one_statement_on_postgresql(app, client, kiosk, frozen, backend,
                                               monkeypatch):
    sent = now()
    body = payload(client_time=iso(sent), started_at=iso(sent - dt.timedelta(minutes=3)))
    with statements(app, backend, monkeypatch) as seen:
        r = post(client, body, kiosk.auth)
    assert r.status_code == 201, r.get_json()
    if backend.name == "postgresql":
        assert len(seen) == 1, seen
        assert seen[0].lstrip().startswith("WITH k AS")
    else:
        assert len(seen) > 1  # SQLite keeps the general path
    rid = uuid.UUID(body["id"])
    assert r.get_json()["id"] == body["id"]
    from surveyapp.extensions import db

    with app.app_context():
        stored = db.session.get(Response, rid)
        assert (stored.kiosk_id, stored.channel, stored.counter.code, stored.field.code,
                stored.unit.code, stored.province.code) == (kiosk.id, "kiosk", "1", "ho-tich",
                                                             "00004", "01")
        assert stored.comment == "Cán bộ nhiệt tình."
        assert stored.client_time == sent.replace(microsecond=0)
        assert stored.source_hash
        answers = dict(db.session.execute(select(Answer.item_id, Answer.value).where(
            Answer.response_id == rid)).all())
    assert len(answers) == len(ITEMS)
    assert sorted(v for v in answers.values() if v is not None) == sorted(
        (i % 5) + 1 for i in range(len(ITEMS) - 1))
    assert count(app, Answer, Answer.response_id == rid, Answer.not_applicable) == 1
    assert flags(app, body["id"]) == {}


def test_flags_written_by_the_one_statement(app, client, kiosk, frozen):
    app.config.update(QUALITY_BURST_MAX=3, QUALITY_BURST_SECONDS=60)
    sent = now()
    fast = payload(answers=dict.fromkeys(ITEMS, 5), client_time=iso(sent),
                   started_at=iso(sent - dt.timedelta(seconds=5)))
    ids = [frozen]
    for body in (fast, payload(client_time=iso(sent)), payload(client_time=iso(sent)),
                 payload(client_time=iso(sent))):
        assert post(client, body, kiosk.auth).status_code == 201
        ids.append(body["id"])
    # device clock far off: stored at server time, its own window counts the five above
    far = payload(client_time="2020-01-01T08:00:00Z")
    assert post(client, far, kiosk.auth).status_code == 201
    assert "19 answers '5'" in flags(app, fast["id"])["straight_fast"]
    label = f"kiosk {kiosk.id} within 60 s (more than 3)"
    assert flags(app, far["id"]) == {
        "client_clock": "device time 2020-01-01T08:00:00Z far from server time "
                        + flags(app, far["id"])["client_clock"].split("server time ")[1],
        "burst": f"6 responses from {label}"}
    # the fourth in the window crossed the line and flagged the three before it; the
    # fifth flagged itself, and the others kept their first reason
    assert flags(app, ids[3])["burst"] == f"4 responses from {label}"
    assert flags(app, ids[4])["burst"] == f"5 responses from {label}"
    for rid in ids[:3]:
        assert flags(app, rid)["burst"] == f"4 responses from {label}", rid
    assert count(app, QualityFlag, QualityFlag.code == "burst") == 6


@pytest.mark.parametrize(("change", "status", "code"), [
    pytest.param({"Authorization": "Kiosk {id}:wrong-token"}, 401, "unauthenticated",
                 id="wrong-token"),
    pytest.param({"Authorization": "Kiosk k-aaaaaaaa:{token}"}, 401, "unauthenticated",
                 id="unknown-kiosk"),
    pytest.param({"body": {"centre": "P01", "counter": None}}, 403, "forbidden_centre",
                 id="other-centre"),
    pytest.param({"body": {"channel": "phone-qr"}}, 403, "forbidden_channel",
                 id="phone-channel"),
    pytest.param({"Authorization": "Kiosk {id}:wrong-token", "body": {"answers": []}}, 401,
                 "unauthenticated", id="wrong-token-and-bad-body"),
])
def test_refused_as_on_the_general_path(app, client, kiosk, frozen, change, status, code):
    headers = {"Authorization": change.get("Authorization", "Kiosk {id}:{token}")
               .format(id=kiosk.id, token=kiosk.token)}
    r = post(client, payload(**change.get("body", {})), headers)
    assert r.status_code == status, r.get_json()
    assert r.get_json()["error"]["code"] == code
    assert count(app, Response) == 1  # only the first upload


def test_revoked_kiosk_and_inactive_centre_are_refused_at_once(app, client, kiosk, frozen):
    from surveyapp.extensions import db
    from surveyapp.models import Kiosk, ServiceCentre
    from surveyapp.services import kiosks

    other = None
    with app.app_context():
        other = kiosks.register(kiosks.find_centre("X00004"), None, "second kiosk")
        kiosks.revoke(db.session.get(Kiosk, kiosk.id))
    assert post(client, payload(), kiosk.auth).status_code == 401
    auth = {"Authorization": f"Kiosk {other.id}:{other.token}"}
    assert post(client, payload(), auth).status_code == 201
    with app.app_context():
        db.session.scalar(select(ServiceCentre).where(ServiceCentre.code == "X00004")) \
            .active = False
        db.session.commit()
    assert post(client, payload(), auth).status_code == 401
    assert count(app, Response) == 2


def test_repeats_answer_200_with_the_first_body(app, client, kiosk, frozen):
    body = payload()
    first = post(client, body, kiosk.auth)
    changed = post(client, dict(body, comment="khác"), kiosk.auth)
    assert (first.status_code, changed.status_code) == (201, 200)
    assert first.get_json() == changed.get_json()
    from surveyapp.extensions import db

    with app.app_context():
        assert db.session.get(Response, uuid.UUID(body["id"])).comment == "Cán bộ nhiệt tình."
    assert count(app, Answer, Answer.response_id == uuid.UUID(body["id"])) == len(ITEMS)


def test_concurrent_duplicates_store_exactly_one(app, kiosk, frozen):
    assert_concurrent_duplicates_store_one(app, kiosk.auth)


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)],
                         indirect=True)
def test_array_literals_read_back_unchanged(app, backend):
    """The statement receives its arrays as PostgreSQL literals built in Python (PostgreSQL
    only: SQLite takes the ORM path)."""
    assert backend.name == "postgresql"
    from sqlalchemy import text

    from surveyapp.extensions import db
    from surveyapp.services.kiosk_ingest import _int_array, _text_array

    words = ["a b", 'say "hi"', "back\\slash", "", "{x,y}", "NULL", "Cán bộ 'na'"]
    with app.app_context():
        got = db.session.execute(text("SELECT CAST(:t AS text[]), CAST(:i AS smallint[])"),
                                 {"t": _text_array(words), "i": _int_array([5, None, 1])}).one()
    assert list(got[0]) == words
    assert list(got[1]) == [5, None, 1]
