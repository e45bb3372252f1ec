"""Security headers and client-address handling, applied to every response in one place."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from flask import Flask, current_app, request
from flask.wrappers import Response
from werkzeug.middleware.proxy_fix import ProxyFix

#: Strict CSP: no inline script or style anywhere; everything comes from /static on this host.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)


def init_app(app: Flask) -> None:
    if app.config.get("PROXY_COUNT"):
        n = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    app.after_request(_headers)


#: Set on every response unless the view set its own.
_ALWAYS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    # same-origin, not no-referrer: over HTTPS Flask-WTF checks that a form POST's Referer is
    # this host, and no page links to another host anyway (so links never leak elsewhere).
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


def _headers(response: Response) -> Response:
    # one pass over the headers, not one Headers.setdefault (a scan each) per header
    h = response.headers
    present = {key.lower() for key in h.keys()}
    h.extend([(key, value) for key, value in _ALWAYS if key.lower() not in present])
    if request.is_secure and "strict-transport-security" not in present:
        h["Strict-Transport-Security"] = "max-age=31536000"
    return response


def source_hash(day: dt.date | None = None) -> str | None:
    """A day-salted HMAC of the client address: lets burst checks group submissions from one
    device on one day without storing (or being able to recover) the address."""
    addr = request.remote_addr
    if not addr:
        return None
    day = day or dt.datetime.now(dt.UTC).date()
    key = hashlib.sha256(
        f"{current_app.config['SECRET_KEY']}|source|{day.isoformat()}".encode()
    ).digest()
    return hmac.new(key, addr.encode(), hashlib.sha256).hexdigest()[:32]
