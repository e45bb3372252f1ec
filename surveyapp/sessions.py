"""The staff session cookie, left alone on the device API.

Kiosks and phone pages authenticate every upload and heartbeat by kiosk token, device cookie or
link signature (``surveyapp/api/auth.py``), never by the signed session cookie; so on those
routes the session is neither read nor written: no cookie parsing, no ``Vary: Cookie``, no
``Set-Cookie`` -- measurable on the busiest route (``benchmarks/README.md``, "Ingest").
"""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask.wrappers import Response

#: Path prefixes of the device API (uploads and heartbeats). The staff results API under
#: /api/v1/results uses the session and is not listed.
DEVICE_API = ("/api/v1/responses", "/api/v1/kiosks/")


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, except on device API requests: an empty session that
    is never saved (nothing on those routes writes to it)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(DEVICE_API):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        from flask import request

        if request.path.startswith(DEVICE_API):
            return
        super().save_session(app, session, response)
