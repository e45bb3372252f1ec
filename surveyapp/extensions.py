"""Extension objects, created unbound at import and bound in ``create_app`` via ``init_app``."""

from __future__ import annotations

from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

from surveyapp.db import db

__all__ = ["babel", "csrf", "db", "limiter", "migrate"]


def client_key() -> str:
    """Rate-limit key: the client address (after ProxyFix); never stored in the database."""
    return request.remote_addr or "unknown"


babel = Babel()
csrf = CSRFProtect()
migrate = Migrate()
limiter = Limiter(key_func=client_key)
