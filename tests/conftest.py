"""Shared fixtures (flaskr style): ``app`` (parametrized over SQLite and PostgreSQL), ``client``,
``runner``, ``kiosk`` (id + token of a registered kiosk), ``kiosk_client`` (a browser already
set up as that kiosk), ``phone_link`` (a valid signed phone link) and ``live_server`` (the
``app`` served on 127.0.0.1 by a real HTTP server in a thread, for browser tests).

Database life cycle: per test session and backend, one database is built with the real
migrations (``flask db upgrade``) and filled by the real loaders; before each test its tables
are emptied and those rows put back, so every test starts from the same state.
PostgreSQL: each session works in its own schema ``t_<random>`` (``search_path`` set through
the connection options) and drops it at the end, so parallel runs can share one server.
Unreachable PostgreSQL skips those tests locally and fails them when ``CI=true``.

Hypothesis: in CI (``CI=true``) the property tests draw a fixed set of examples per test
(``derandomize``), so a result does not depend on the run; locally they explore at random,
which is where new counterexamples are found (then pinned as explicit tests).
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Integer, create_engine, text

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SECRET = "test-secret-key-" + "x" * 32

hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() == "true":
    hypothesis_settings.load_profile("ci")


def _compile_catalogues() -> None:
    """The catalogues are compiled by scripts/test; compile here too when run directly."""
    from surveyapp.i18n_cli import TRANSLATIONS, pybabel

    if not Path(TRANSLATIONS, "vi", "LC_MESSAGES", "messages.mo").exists():
        pybabel("compile", "-d", TRANSLATIONS)


@dataclass
class Backend:
    name: str
    url: str
    engine_options: dict[str, Any]


def _postgres_backend() -> Iterator[Backend]:
    url = os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG)
    from surveyapp.config import normalise_database_url

    url = normalise_database_url(url)
    schema = "t_" + secrets.token_hex(6)
    try:
        admin = create_engine(url, connect_args={"connect_timeout": 5})
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - any connection failure
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL at {url} unreachable in CI: {exc}")
        pytest.skip(f"PostgreSQL unreachable ({exc.__class__.__name__}); set TEST_POSTGRES_URL")
    try:
        yield Backend("postgresql", url, {"connect_args": {"options": f"-csearch_path={schema}"}})
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_backend(tmp_path_factory: pytest.TempPathFactory) -> Backend:
    path = tmp_path_factory.mktemp("sqlite") / "sipas-test.db"
    return Backend("sqlite", f"sqlite:///{path}", {})


@pytest.fixture(scope="session")
def postgresql_backend() -> Iterator[Backend]:
    yield from _postgres_backend()


def make_config(backend: Backend, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "TESTING": True,
        "SECRET_KEY": SECRET,
        "SQLALCHEMY_DATABASE_URI": backend.url,
        "SQLALCHEMY_ENGINE_OPTIONS": backend.engine_options,
        "RATELIMIT_ENABLED": False,
        "PUBLIC_BASE_URL": "http://sipas.test",
        "PASSWORD_HASH_PROFILE": "test",  # argon2id with the cheapest parameters
    }
    config.update(overrides)
    return config


_snapshots: dict[str, dict[str, list[dict[str, Any]]]] = {}


def prepare_database(app: Flask) -> None:
    """Give the test a known database state.

    First time per backend and session: ``flask db upgrade`` (the real migrations), then the
    real loaders (units, questionnaire, fields, demo centres); the resulting rows are kept.
    Every later test: empty all tables and re-insert those rows (much faster than reloading).
    """
    from flask_migrate import upgrade

    from surveyapp.extensions import db
    from surveyapp.services import refcache

    refcache.clear()  # reference rows are re-inserted below: forget any cached copies

    with app.app_context():
        key = str(db.engine.url) + repr(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        tables = list(db.metadata.sorted_tables)
        if key not in _snapshots:
            upgrade()
            _empty(tables)
            _load_reference()
            with db.engine.connect() as conn:
                _snapshots[key] = {
                    t.name: [dict(r._mapping) for r in conn.execute(t.select())] for t in tables
                }
            return
        _empty(tables)
        snapshot = _snapshots[key]
        with db.engine.begin() as conn:
            for table in tables:
                rows = snapshot[table.name]
                if rows:
                    conn.execute(table.insert(), rows)
            if db.engine.dialect.name == "postgresql":
                for table in tables:
                    if "id" in table.c and isinstance(table.c.id.type, Integer):
                        sql = (f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608
                               f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)")
                        conn.execute(text(sql))  # our own table names, not input


def _empty(tables: list[Any]) -> None:
    from surveyapp.extensions import db

    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            names = ", ".join(t.name for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                conn.execute(table.delete())


def _load_reference() -> None:
    from surveyapp.services import demo, questionnaires, reference

    reference.load_units()
    questionnaires.load_questionnaire("sipas-2023")
    demo.load_fields()
    demo.load_centres()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.getfixturevalue(f"{request.param}_backend")


@pytest.fixture
def app_factory(backend: Backend) -> Iterator[Any]:
    """Build more apps on the same (already prepared) database, e.g. with limits on."""
    from surveyapp import create_app
    from surveyapp.extensions import db

    _compile_catalogues()
    made: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        app = create_app(make_config(backend, **overrides))
        made.append(app)
        return app

    yield factory
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(app_factory: Any) -> Flask:
    app = app_factory()
    prepare_database(app)
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@dataclass(frozen=True)
class KioskInfo:
    id: str
    token: str
    centre: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Kiosk {self.id}:{self.token}"}


@pytest.fixture
def kiosk(app: Flask) -> KioskInfo:
    """A kiosk registered at the Phường Ba Đình centre (X00004)."""
    from surveyapp.services import kiosks

    with app.app_context():
        cred = kiosks.register(kiosks.find_centre("X00004"), None, "test kiosk")
    return KioskInfo(cred.id, cred.token, cred.centre_code)


@pytest.fixture
def kiosk_client(app: Flask, kiosk: KioskInfo) -> FlaskClient:
    """A browser that went through the kiosk set-up page once."""
    client = app.test_client()
    page = client.get(f"/k/{kiosk.id}/setup?token={kiosk.token}")
    assert page.status_code == 200
    csrf = extract_csrf(page.get_data(as_text=True))
    done = client.post(f"/k/{kiosk.id}/setup", data={"csrf_token": csrf, "token": kiosk.token})
    assert done.status_code == 303, done.get_data(as_text=True)
    return client


@dataclass(frozen=True)
class PhoneLink:
    centre: str
    counter: str | None
    path: str  # /s/<centre>?...
    params: dict[str, str]

    @property
    def query(self) -> str:
        return self.path.partition("?")[2]


@pytest.fixture
def phone_link(app: Flask) -> PhoneLink:
    """A valid signed phone-QR link for counter 1 of the Hà Nội provincial centre (P01)."""
    from surveyapp.services import links

    with app.test_request_context():
        link = links.make("P01", "1")
        return PhoneLink("P01", "1", f"/s/P01?{link.query()}", link.params())


def extract_csrf(html: str) -> str:
    import re

    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class _InFlight:
    """WSGI wrapper counting responses not yet closed.

    Why: werkzeug's server skips closing a response whose connection a shutdown cut, and the
    file behind a static response (``kiosk.js``) is then reported unclosed -- as an error of
    whichever test the garbage collector happens to run in. Teardown waits for these first.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.open = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Any) -> Any:
        from werkzeug.wsgi import ClosingIterator

        with self.lock:
            self.open += 1
        try:
            body = self.app(environ, start_response)
        except BaseException:
            self._closed()
            raise
        return ClosingIterator(body, [self._closed])

    def _closed(self) -> None:
        with self.lock:
            self.open -= 1

    def settle(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self.open > 0 and time.monotonic() < deadline:
            time.sleep(0.02)


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """Serve ``app`` over HTTP on a free loopback port; yields the base URL."""
    from werkzeug.serving import make_server

    counted = _InFlight(app)
    server = make_server("127.0.0.1", 0, counted, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        counted.settle()
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@dataclass(frozen=True)
class StaffInfo:
    """User names of the staff accounts made by the ``staff`` fixture."""

    admin: str = "admin"
    statistician: str = "thongke"
    province: str = "hanoi"  # province 01 (Hà Nội)
    other_province: str = "hcm"  # province 79 (Hồ Chí Minh)


@pytest.fixture
def staff(app: Flask) -> StaffInfo:
    """One account per role, all with ``tests.web.helpers.STAFF_PASSWORD``."""
    from surveyapp.extensions import db
    from surveyapp.services.accounts import create_user
    from tests.web.helpers import STAFF_PASSWORD

    info = StaffInfo()
    with app.app_context():
        create_user(info.admin, STAFF_PASSWORD, "admin")
        create_user(info.statistician, STAFF_PASSWORD, "statistician")
        create_user(info.province, STAFF_PASSWORD, "province", province_code="01")
        create_user(info.other_province, STAFF_PASSWORD, "province", province_code="79")
        db.session.commit()
    return info
