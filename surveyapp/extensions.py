"""Extension objects, created unbound at import and bound in ``create_app`` via ``init_app``.

Rate limits (Flask-Limiter; counters in Redis when ``SIPAS_REDIS_URL`` is set, so every
gunicorn worker and every server shares them; in memory otherwise). Three keys, each with its
own budget, so one noisy party cannot use up another's:

* **per client address** (``RATELIMIT_PAGES`` per public page route, ``RATELIMIT_API`` on the
  JSON API) -- one bot behind one address;
* **per kiosk** (``RATELIMIT_KIOSK``, shared by the kiosk's pages, its uploads and heartbeats)
  -- a kiosk is one touch screen, a person cannot tap faster than a few surveys a minute; an
  offline kiosk emptying its queue simply waits for ``Retry-After``;
* **per signed link** (``RATELIMIT_LINK``, shared by the link's pages and uploads) -- a
  poster link copied onto the internet and driven from many addresses.

Over the limit: 429 with ``Retry-After``, a Vietnamese page or a JSON error
(``surveyapp/errors/handlers.py``). If Redis is down the limiter falls back to memory rather
than refusing citizens (``RATELIMIT_SWALLOW_ERRORS``, ``RATELIMIT_IN_MEMORY_FALLBACK_ENABLED``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

from surveyapp.db import db

__all__ = ["api_limits", "babel", "csrf", "db", "limiter", "migrate", "page_limits",
           "retry_after"]

F = TypeVar("F", bound=Callable[..., Any])


def client_key() -> str:
    """Rate-limit key: the client address (after ProxyFix); never stored in the database."""
    return "addr:" + (request.remote_addr or "unknown")


def kiosk_key() -> str:
    """``kiosk:<id>`` from the URL (``/k/<id>/...``), the ``Kiosk`` header or the device cookie
    (its signature checked, not the database); empty when the request names no kiosk."""
    if "rl_kiosk" not in g:
        from surveyapp.services.kiosks import COOKIE_NAME, cookie_kiosk_id

        kiosk_id = (request.view_args or {}).get("kiosk_id")
        header = request.headers.get("Authorization", "")
        if not kiosk_id and header[:6].lower() == "kiosk ":
            kiosk_id = header[6:].partition(":")[0].strip()
        if not kiosk_id and not header and request.cookies.get(COOKIE_NAME):
            kiosk_id = cookie_kiosk_id(request.cookies[COOKIE_NAME])
        g.rl_kiosk = f"kiosk:{str(kiosk_id)[:20]}" if kiosk_id else ""
    return str(g.rl_kiosk)


def link_key() -> str:
    """``link:<signature>`` of a phone link (query string or ``Link`` header); else empty."""
    if "rl_link" not in g:
        sig = request.args.get("sig", "") if request.path.startswith("/s/") else ""
        header = request.headers.get("Authorization", "")
        if not sig and header[:5].lower() == "link ":
            from urllib.parse import parse_qs

            sig = (parse_qs(header[5:].strip()).get("sig") or [""])[0]
        g.rl_link = f"link:{sig[:64]}" if sig else ""
    return str(g.rl_link)


def retry_after() -> int | None:
    """Seconds until the limit that refused this request resets: a 429's ``Retry-After``
    (``RATELIMIT_HEADERS_ENABLED`` is off, so Flask-Limiter does not set it)."""
    current = limiter.current_limit
    if current is None:
        return None
    try:
        return max(1, math.ceil(current.reset_at - time.time()))
    except Exception:  # noqa: BLE001 - storage gone meanwhile: the window length is an upper bound
        return max(1, int(current.limit.get_expiry()))


def _setting(name: str) -> Callable[[], str]:
    return lambda: str(current_app.config[name])


def _stack(per_client: str) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        view = limiter.shared_limit(_setting("RATELIMIT_LINK"), scope="link", key_func=link_key,
                                    exempt_when=lambda: not link_key())(view)
        view = limiter.shared_limit(_setting("RATELIMIT_KIOSK"), scope="kiosk",
                                    key_func=kiosk_key, exempt_when=lambda: not kiosk_key())(view)
        return limiter.limit(_setting(per_client), key_func=client_key)(view)
    return decorate


#: Public survey pages (kiosk and phone): per address, per kiosk, per link.
page_limits = _stack("RATELIMIT_PAGES")
#: Device API (uploads, heartbeats): per address, per kiosk, per link.
api_limits = _stack("RATELIMIT_API")

babel = Babel()
csrf = CSRFProtect()
migrate = Migrate()
limiter = Limiter(key_func=client_key)  # key prefix: RATELIMIT_KEY_PREFIX
