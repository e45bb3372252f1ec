"""Small helpers for web tests: valid payloads and the HTML survey walk."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import uuid
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

ITEMS = ["C1.1", "C1.2", "C1.3", "C1.4", "C2.1", "C2.2", "C2.3", "C2.4", "C3.1", "C3.2",
         "C3.3", "C3.4", "C3.5", "C4.1", "C4.2", "C4.3", "C5.1", "C5.2", "C5.3"]
VERSION = "sipas-2023.v1"
URL = "/api/v1/responses"


def payload(**overrides: Any) -> dict[str, Any]:
    """A valid kiosk submission for centre X00004 (Phường Ba Đình)."""
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "centre": "X00004",
        "counter": "1",
        "channel": "kiosk",
        "questionnaire": VERSION,
        "field": "ho-tich",
        "answers": {code: (i % 5) + 1 for i, code in enumerate(ITEMS)} | {"C5.3": "na"},
        "comment": "Cán bộ nhiệt tình.",
        "client_time": "2026-11-20T09:15:00+07:00",
    }
    body.update(overrides)
    return body


def post(client: Any, body: Any, headers: dict[str, str], **kw: Any) -> Any:
    """``POST /api/v1/responses`` with ``body`` as JSON."""
    return client.post(URL, data=json.dumps(body), headers=headers,
                       content_type="application/json", **kw)


def iso(when: dt.datetime) -> str:
    return when.replace(microsecond=0).isoformat() + "Z"


def now() -> dt.datetime:
    """Naive UTC, as the database stores it."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def assert_concurrent_duplicates_store_one(app: Flask, headers: dict[str, str]) -> None:
    """Eight clients send one body at the same moment: one 201, seven 200, one stored row."""
    from surveyapp.models import Answer, Response

    body = payload()
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        client = app.test_client()
        barrier.wait()
        statuses.append(post(client, body, headers).status_code)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 7 + [201]
    assert count(app, Response, Response.id == uuid.UUID(body["id"])) == 1
    assert count(app, Answer, Answer.response_id == uuid.UUID(body["id"])) == len(ITEMS)


def count(app: Flask, model: Any, *where: Any) -> int:
    from surveyapp.extensions import db

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def state_of(html: str) -> str:
    match = re.search(r'name="state" type="hidden" value="([^"]*)"', html)
    assert match, "no survey state on the page"
    return match.group(1)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def radio_names(html: str) -> list[str]:
    """The answer inputs on a page, in order (``i<item id>``)."""
    return list(dict.fromkeys(re.findall(r'type="radio" id="[^"]+" name="(i\d+)"', html)))


def walk_survey(client: FlaskClient, start_path: str, post_path: str, value: str = "4",
                comment: str = "", field: str | None = "dat-dai",
                extra: dict[str, str] | None = None) -> tuple[Any, list[str]]:
    """Tap through the whole survey like a citizen; returns the final response and the HTML
    of every page seen."""
    seen = walk_to_comment(client, start_path, post_path, value, field, extra)
    html = seen[-1]
    data = {"csrf_token": csrf_of(html), "state": state_of(html), "nav": "submit",
            "comment": comment}
    data.update(extra or {})
    final = client.post(post_path, data=data)
    return final, seen


def walk_to_comment(client: FlaskClient, start_path: str, post_path: str, value: str = "4",
                    field: str | None = "dat-dai", extra: dict[str, str] | None = None
                    ) -> list[str]:
    """Tap through the survey up to the comment page; returns the HTML of every page seen
    (the comment page last)."""
    seen = []
    page = client.get(start_path)
    assert page.status_code == 200, page.get_data(as_text=True)
    html = page.get_data(as_text=True)
    seen.append(html)
    resp = client.post(post_path, data={"csrf_token": csrf_of(html), "nav": "start", "lang": "vi"})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    seen.append(html)
    # field page
    data = {"csrf_token": csrf_of(html), "state": state_of(html), "field": field or ""}
    resp = client.post(post_path, data=data)
    html = resp.get_data(as_text=True)
    seen.append(html)
    for _ in range(5):
        names = radio_names(html)
        assert names, html
        data = {"csrf_token": csrf_of(html), "state": state_of(html), "nav": "next"}
        data.update({name: value for name in names})
        data.update(extra or {})
        resp = client.post(post_path, data=data)
        assert resp.status_code == 200
        html = resp.get_data(as_text=True)
        seen.append(html)
    assert 'name="comment"' in html
    return seen


# ---------------------------------------------------------------------- staff accounts
STAFF_PASSWORD = "mật khẩu đủ dài 2026"  # noqa: S105 - test fixture password


def sign_in(client: FlaskClient, username: str, password: str = STAFF_PASSWORD,
            next_url: str | None = None) -> TestResponse:
    """Sign in through the real login form (CSRF token included); returns the POST response."""
    page = client.get("/login")
    path = "/login" + (f"?next={next_url}" if next_url else "")
    return client.post(path, data={"csrf_token": csrf_of(page.get_data(as_text=True)),
                                   "username": username, "password": password})
