"""A real server and a real browser for the browser tests and ``scripts/screenshots.py``.

* ``LiveServer``: the app from ``create_app`` on a fresh SQLite file, schema from the real
  migrations (``flask db upgrade``), the real demo loader, one extra kiosk and a signed phone
  link; served by werkzeug's threaded WSGI server on a free loopback port in a daemon thread.
  In-process on purpose: the tests read the database through the same app, and can change
  ``app.config`` (e.g. a 2 s idle time) between tests, since templates read it per request.
* ``launch_chromium``: Debian's ``/usr/bin/chromium`` driven by Playwright (never
  ``playwright install``).  ``browser_type.launch`` gives every launch a fresh, temporary
  user-data directory (Playwright refuses ``--user-data-dir`` in ``args``); every test then
  opens its own context (own cookies, cache and storage).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("SIPAS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SECRET = "browser-test-secret-" + "y" * 32
KIOSK_CENTRE = "X00004"  # Phường Ba Đình
PHONE_CENTRE = "P01"  # Hà Nội provincial centre, counter 1


def chromium_path() -> str | None:
    """The Debian chromium binary, or None when it is not installed."""
    path = CHROMIUM if os.path.isabs(CHROMIUM) else shutil.which(CHROMIUM)
    return path if path and os.access(path, os.X_OK) else None


def launch_chromium(playwright: Any) -> Any:
    path = chromium_path()
    if path is None:
        raise FileNotFoundError(
            f"chromium not found at {CHROMIUM}; run scripts/install-system-deps")
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _quiet_handler() -> type:
    from werkzeug.serving import WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        """No access log lines: the tests check pages, not the log."""

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            return None

    return Quiet


@dataclass(frozen=True)
class Kiosk:
    id: str
    token: str


class LiveServer:
    """The app on a fresh SQLite database with demo data, served on 127.0.0.1:<free port>."""

    def __init__(self, workdir: Path, demo_responses: int = 20, **config: Any) -> None:
        from surveyapp import create_app

        workdir.mkdir(parents=True, exist_ok=True)
        self.db_path = workdir / "sipas-browser.db"
        settings: dict[str, Any] = {
            "SECRET_KEY": SECRET,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{self.db_path}",
            "RATELIMIT_ENABLED": False,
            "PUBLIC_BASE_URL": "http://127.0.0.1",
        }
        settings.update(config)
        self.app = create_app(settings)
        self._prepare(demo_responses)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def _prepare(self, demo_responses: int) -> None:
        from flask_migrate import upgrade

        from surveyapp.i18n_cli import TRANSLATIONS, pybabel
        from surveyapp.services import demo, kiosks, links

        if not Path(TRANSLATIONS, "vi", "LC_MESSAGES", "messages.mo").exists():
            pybabel("compile", "-d", TRANSLATIONS)
        with self.app.app_context():
            upgrade()
            demo.load(responses=demo_responses, seed=7)
            cred = kiosks.register(kiosks.find_centre(KIOSK_CENTRE), None, "browser test kiosk")
            self.kiosk = Kiosk(cred.id, cred.token)
        with self.app.test_request_context():
            self.phone_query = links.make(PHONE_CENTRE, "1").query()

    def start(self) -> LiveServer:
        from werkzeug.serving import make_server

        port = free_port()
        self._server = make_server("127.0.0.1", port, self.app, threaded=True,
                                   request_handler=_quiet_handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-server",
                                        daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        from surveyapp.extensions import db

        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()

    # Addresses ---------------------------------------------------------------------------
    @property
    def kiosk_url(self) -> str:
        return f"{self.url}/k/{self.kiosk.id}"

    @property
    def kiosk_setup_url(self) -> str:
        return f"{self.url}/k/{self.kiosk.id}/setup?token={self.kiosk.token}"

    @property
    def phone_url(self) -> str:
        return f"{self.url}/s/{PHONE_CENTRE}?{self.phone_query}"

    # Database ----------------------------------------------------------------------------
    def response_ids(self) -> set[str]:
        from sqlalchemy import select

        from surveyapp.extensions import db
        from surveyapp.models import Response

        with self.app.app_context():
            ids = {str(i) for i in db.session.scalars(select(Response.id))}
            db.session.remove()
            return ids

    def response(self, response_id: str) -> dict[str, Any]:
        """One stored response as plain data: its columns that matter and its answers."""
        import uuid

        from sqlalchemy import select

        from surveyapp.extensions import db
        from surveyapp.models import Answer, Item, ProcedureField, Response

        with self.app.app_context():
            resp = db.session.get(Response, uuid.UUID(response_id))
            assert resp is not None
            rows = db.session.execute(
                select(Item.code, Answer.value, Answer.not_applicable)
                .join(Answer, Answer.item_id == Item.id).where(Answer.response_id == resp.id)
            ).all()
            field = db.session.get(ProcedureField, resp.field_id) if resp.field_id else None
            out = {
                "channel": resp.channel,
                "centre": resp.centre.code,
                "counter": resp.counter.code if resp.counter else None,
                "kiosk": resp.kiosk_id,
                "field": field.code if field else None,
                "comment": resp.comment,
                "answers": {code: ("na" if na else str(value)) for code, value, na in rows},
            }
            db.session.remove()
            return out

    def contents(self) -> list[Content]:
        """The standard questionnaire's contents in page order, as the survey shows them."""
        from surveyapp.services import questionnaires

        with self.app.app_context():
            version = questionnaires.current_version(self.app.config["STANDARD_QUESTIONNAIRE"])
            assert version is not None
            out = [
                Content(code, items[0].content_vi, items[0].content_en,
                        tuple(ItemInfo(i.id, i.code, i.allow_na, i.text_vi, i.text_en)
                              for i in items))
                for code, items in version.contents()
            ]
            from surveyapp.extensions import db

            db.session.remove()
            return out


@dataclass(frozen=True)
class ItemInfo:
    id: int
    code: str
    allow_na: bool
    text_vi: str
    text_en: str


@dataclass(frozen=True)
class Content:
    code: str
    name_vi: str
    name_en: str
    items: tuple[ItemInfo, ...]
