"""Configuration defaults and the layering rules.

Layers, lowest first: these defaults, ``instance/config.py``, ``SIPAS_*`` environment variables
(``app.config.from_prefixed_env("SIPAS")``).  Tests pass a mapping instead, which replaces the
instance file and the environment so that a developer's shell cannot leak into a test run.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

#: Keys that are known placeholders; refusing them outside debug/testing avoids the classic
#: "shipped with SECRET_KEY = 'dev'" mistake.
INSECURE_SECRET_KEYS = frozenset({"", "dev", "development", "secret", "changeme", "change-me"})
SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name, not a key


class DefaultConfig:
    """Safe defaults; everything here can be overridden by a later layer."""

    SECRET_KEY: str | None = None
    DATABASE_URL: str | None = None  # SIPAS_DATABASE_URL; SQLite in instance/ when unset
    REDIS_URL: str | None = None  # SIPAS_REDIS_URL; rate-limit storage when set
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {}
    SQLALCHEMY_TRACK_MODIFICATIONS = False

    # Request limits: a response is a few hundred bytes; 64 KB leaves room for long comments.
    MAX_CONTENT_LENGTH = 64 * 1024
    MAX_FORM_MEMORY_SIZE = 64 * 1024
    COMMENT_MAX_LENGTH = 2000

    # Cookies: HttpOnly everywhere, SameSite; set SIPAS_COOKIE_SECURE=true behind TLS.
    COOKIE_SECURE = False
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    KIOSK_COOKIE_MAX_AGE_DAYS = 400
    # Staff accounts: argon2id ("default"); test suites set "test" (cheapest parameters).
    PASSWORD_HASH_PROFILE = "default"  # noqa: S105 - a profile name, not a password
    REMEMBER_COOKIE_DURATION = 0  # no "remember me": staff sessions end with the browser

    # CSRF tokens outlive an idle kiosk start screen (which also reloads every few minutes).
    WTF_CSRF_TIME_LIMIT = 4 * 3600

    # Rate limits (Flask-Limiter syntax).  Memory storage unless SIPAS_REDIS_URL is set.
    RATELIMIT_ENABLED = True
    # No X-RateLimit-* headers on every response: computing them cost two extra storage (Redis)
    # round trips per request; a 429 still says when to retry (errors.handlers, Retry-After).
    RATELIMIT_HEADERS_ENABLED = False
    RATELIMIT_PAGES = "300 per minute"  # per client address, each public page route
    RATELIMIT_API = "600 per minute"  # per client address, JSON API
    RATELIMIT_KIOSK = "120 per minute"  # per kiosk: its pages, uploads and heartbeats together
    RATELIMIT_LINK = "300 per minute"  # per signed phone link: its pages and uploads together
    RATELIMIT_SWALLOW_ERRORS = True  # Redis down: count in memory, never refuse a citizen
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_STORAGE_URI: str | None = None
    RATELIMIT_KEY_PREFIX = "sipas"  # change when two deployments share one Redis

    # Quality flags (services/quality.py): flagged responses are kept; analysis decides.
    QUALITY_BURST_MAX = 5  # more than this many from one kiosk within QUALITY_BURST_SECONDS
    QUALITY_SOURCE_BURST_MAX = 12  # ... from one client address (phones share centre Wi-Fi)
    QUALITY_BURST_SECONDS = 60
    QUALITY_FAST_SECONDS = 20  # all answers identical and sent faster than this
    QUALITY_STRAIGHT_MIN_ITEMS = 5
    QUALITY_REPEAT_SECONDS = 600  # identical phone responses from one address

    # Fleet health: a kiosk is "silent" when it sent no heartbeat for 10 minutes while its
    # centre is open (Vietnam time; "mon-fri 07:30-17:00; sat 07:30-11:30" style).
    KIOSK_OPENING_HOURS = "mon-fri 07:30-17:00; sat 07:30-11:30"
    KIOSK_HEARTBEAT_SECONDS = 60

    # Trust this many proxies for X-Forwarded-For (0 = none): set behind nginx.
    PROXY_COUNT = 0

    # Survey behaviour.
    STANDARD_QUESTIONNAIRE = "sipas-2023"
    KIOSK_IDLE_SECONDS = 60
    THANKS_SECONDS = 8
    LINK_VALID_DAYS = 365
    PUBLIC_BASE_URL = "http://127.0.0.1:5000"
    TIMEZONE = "Asia/Ho_Chi_Minh"
    EXPORT_CHUNK_SIZE = 2000
    EXPORT_PARQUET_ROW_GROUP = 20_000

    LANGUAGES = ("vi", "en")
    BABEL_DEFAULT_LOCALE = "vi"
    BABEL_DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"


def load_config(app: Flask, config: Mapping[str, Any] | None) -> None:
    """Fill ``app.config`` from the layers, then derive dependent settings."""
    app.config.from_object(DefaultConfig)
    if config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("SIPAS")
    else:
        app.config.from_mapping(config)
    _derive(app)


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs (psycopg2 is not installed)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _derive(app: Flask) -> None:
    cfg = app.config
    if not cfg.get("SQLALCHEMY_DATABASE_URI"):
        url = cfg.get("DATABASE_URL") or "sqlite:///" + os.path.join(app.instance_path, "sipas.db")
        cfg["SQLALCHEMY_DATABASE_URI"] = url
    cfg["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(cfg["SQLALCHEMY_DATABASE_URI"])
    if cfg["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # up to 16 connections kept per process (opened only when used): a threaded worker
        # (gunicorn -k gthread --threads N <= 16) then never opens and closes a connection --
        # a new PostgreSQL backend process -- per request, as the default pool of 5 did
        cfg["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_size": 16,
                                            **(cfg.get("SQLALCHEMY_ENGINE_OPTIONS") or {})}
    if not cfg.get("RATELIMIT_STORAGE_URI"):
        cfg["RATELIMIT_STORAGE_URI"] = cfg.get("REDIS_URL") or "memory://"
    from surveyapp.services.fleet import parse_hours

    parse_hours(str(cfg.get("KIOSK_OPENING_HOURS") or ""))  # refuse to start on a typo
    secure = bool(cfg.get("COOKIE_SECURE"))
    cfg["SESSION_COOKIE_SECURE"] = secure
    cfg["SECRET_KEY"] = _secret_key(app)


def _secret_key(app: Flask) -> str:
    """Return the configured key, or one generated once into ``instance/secret_key``.

    A placeholder key is refused outside debug/testing: signed phone links and kiosk cookies
    would be forgeable by anyone who read the source.
    """
    key = app.config.get("SECRET_KEY")
    relaxed = app.debug or app.testing or app.config.get("TESTING")
    if key is not None:
        key = str(key)
        if (key in INSECURE_SECRET_KEYS or len(key) < 16) and not relaxed:
            raise RuntimeError(
                "SECRET_KEY is a placeholder or shorter than 16 characters; unset it to let "
                "sipas generate one into instance/secret_key, or set SIPAS_SECRET_KEY."
            )
        return key
    path = Path(app.instance_path) / SECRET_KEY_FILE
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    new_key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(new_key + "\n")
    return new_key
