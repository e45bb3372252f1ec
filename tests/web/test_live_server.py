"""The ``live_server`` fixture serves the real app over HTTP (used by the browser tests)."""

from __future__ import annotations

import json
import urllib.request


def test_live_server_serves_pages_and_api(live_server, phone_link):
    with urllib.request.urlopen(f"{live_server}/healthz", timeout=10) as resp:  # noqa: S310
        assert json.load(resp) == {"status": "ok"}
    with urllib.request.urlopen(f"{live_server}{phone_link.path}", timeout=10) as resp:  # noqa: S310
        assert "Đánh giá mức độ hài lòng" in resp.read().decode("utf-8")
