"""The device API leaves the staff session alone (``surveyapp/sessions.py``): an upload neither
reads nor writes the session cookie, even from a browser signed in as staff, while staff pages
and the staff results API keep their session."""

from __future__ import annotations

import json

from tests.web.helpers import payload, sign_in


def test_upload_neither_reads_nor_writes_the_session(app, client, kiosk, staff):
    assert sign_in(client, staff.admin).status_code == 302
    r = client.post("/api/v1/responses", data=json.dumps(payload()), headers=kiosk.auth,
                    content_type="application/json")
    assert r.status_code == 201, r.get_json()
    assert "Cookie" not in r.headers.get("Vary", "")  # the session was not even read
    assert "Set-Cookie" not in r.headers
    beat = client.post(f"/api/v1/kiosks/{kiosk.id}/heartbeat", data="{}",
                       headers=kiosk.auth, content_type="application/json")
    assert beat.status_code < 500
    assert "Set-Cookie" not in beat.headers
    # the staff session survived the uploads: the session-authenticated results API still
    # answers, and a staff page still reads the session
    assert client.get("/api/v1/results/runs").status_code == 200
    page = client.get("/admin/")
    assert page.status_code == 200
    assert "Cookie" in page.headers.get("Vary", "")
