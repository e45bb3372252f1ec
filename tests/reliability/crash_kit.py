"""Real parts for the crash test: a database built by the real migrations and loaders, gunicorn
in its own process group (so SIGKILL takes the master and every worker at once, like a power
cut), and kiosk clients in threads that keep each answer until the server acknowledges it.

The clients behave like the offline kiosk queue: one submission at a time, the oldest first,
each with a UUID made once; on any failure the same body is sent again after a short backoff.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SECRET = "crash-test-secret-" + "z" * 32
CENTRE = "X00004"  # Phường Ba Đình (demo centre)


# --- database -----------------------------------------------------------------------------
@dataclass(frozen=True)
class KioskCred:
    id: str
    token: str
    centre: str


def build_database(url: str, engine_options: dict[str, Any]) -> tuple[KioskCred, list[str]]:
    """Migrate, load the reference data and register one kiosk; returns it and the item codes
    of the standard questionnaire's active version (what a complete submission answers)."""
    from flask_migrate import upgrade

    from surveyapp import create_app
    from surveyapp.extensions import db
    from surveyapp.services import demo, kiosks, questionnaires, reference

    app = create_app({"SECRET_KEY": SECRET, "SQLALCHEMY_DATABASE_URI": url,
                      "SQLALCHEMY_ENGINE_OPTIONS": engine_options, "RATELIMIT_ENABLED": False})
    with app.app_context():
        upgrade()
        reference.load_units()
        questionnaires.load_questionnaire("sipas-2023")
        demo.load_fields()
        demo.load_centres()
        centre = kiosks.find_centre(CENTRE)
        assert centre is not None
        cred = kiosks.register(centre, None, "crash test kiosk")
        version = questionnaires.current_version(app.config["STANDARD_QUESTIONNAIRE"])
        assert version is not None
        items = [item.code for _, group in version.contents() for item in group]
        db.session.remove()
        db.engine.dispose()
    return KioskCred(cred.id, cred.token, cred.centre_code), items


def submission(kiosk: KioskCred, items: list[str], rid: str, n: int) -> bytes:
    """A valid, complete kiosk response (every item answered, a few "na")."""
    answers: dict[str, Any] = {code: "na" if (n + i) % 11 == 0 else 1 + (n + i) % 5
                               for i, code in enumerate(items)}
    body = {"id": rid, "centre": kiosk.centre, "channel": "kiosk",
            "questionnaire": "sipas-2023.v1", "answers": answers,
            "comment": "Cán bộ nhiệt tình." if n % 3 == 0 else None}
    return json.dumps(body, ensure_ascii=False).encode()


# --- gunicorn -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(database_url: str) -> dict[str, str]:
    """The process environment without the developer's SIPAS_* settings, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPAS_")}
    env.update(SIPAS_DATABASE_URL=database_url, SIPAS_SECRET_KEY=SECRET,
               SIPAS_RATELIMIT_ENABLED="false", PYTHONPATH=str(ROOT))
    return env


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, read from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()  # after "(comm)": state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry))
    return found


class Gunicorn:
    """``gunicorn -w N 'surveyapp:create_app()'`` on 127.0.0.1:<port>, in a new session."""

    def __init__(self, env: dict[str, str], port: int, workers: int, log: Path) -> None:
        self.env, self.port, self.workers, self.log = env, port, workers, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180.0) -> None:
        """Start and wait until ``/healthz`` answers 200 (every worker imports the whole app;
        slow on a loaded 2-core machine, hence the generous timeout)."""
        exe = Path(sys.executable).parent / "gunicorn"
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "gunicorn"]
        cmd += ["-w", str(self.workers), "-b", f"127.0.0.1:{self.port}", "--timeout", "120",
                "--graceful-timeout", "5", "--log-level", "warning", "surveyapp:create_app()"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, env=self.env, cwd=ROOT, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}):\n{self.tail()}")
            if self.healthy():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn not healthy after {timeout:.0f} s:\n{self.tail()}")

    def healthy(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def kill(self, timeout: float = 30.0) -> int:
        """SIGKILL the master and all workers at once; wait until none is left. Returns how
        many processes were killed."""
        assert self.proc is not None
        pgid = self.proc.pid
        victims = len(group_members(pgid))
        os.killpg(pgid, signal.SIGKILL)
        self.proc.wait(timeout=timeout)
        deadline = time.monotonic() + timeout
        while group_members(pgid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"processes of group {pgid} survived SIGKILL")
            time.sleep(0.05)
        self.proc = None
        return victims

    def stop(self) -> None:
        """Graceful stop (SIGTERM to the group), SIGKILL for anything left."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self.proc = None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# --- kiosk clients --------------------------------------------------------------------------
@dataclass
class Ledger:
    """What the clients saw, shared by all client threads (guarded by ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: set[str] = field(default_factory=set)  # every id ever sent
    acked: dict[str, int] = field(default_factory=dict)  # id -> 201/200
    failed: dict[str, int] = field(default_factory=dict)  # id -> failed attempts
    in_flight_lost: dict[str, float] = field(default_factory=dict)  # sent at, then no answer
    errors: dict[str, int] = field(default_factory=dict)  # exception name -> count
    statuses: dict[int, int] = field(default_factory=dict)  # every HTTP status received
    pending: int = 0  # ids made but not yet acknowledged, over all clients

    def error(self, rid: str, exc: BaseException, sent_at: float | None) -> None:
        with self.lock:
            name = type(exc).__name__
            self.errors[name] = self.errors.get(name, 0) + 1
            self.failed[rid] = self.failed.get(rid, 0) + 1
            if sent_at is not None:
                self.in_flight_lost[rid] = sent_at


class KioskClient(threading.Thread):
    """Sends new submissions while ``accepting`` is set, each until it is acknowledged."""

    def __init__(self, n: int, port: int, kiosk: KioskCred, items: list[str], ledger: Ledger,
                 accepting: threading.Event, give_up_at: float) -> None:
        super().__init__(name=f"kiosk-client-{n}", daemon=True)
        self.n, self.port, self.kiosk, self.items = n, port, kiosk, items
        self.ledger, self.accepting, self.give_up_at = ledger, accepting, give_up_at
        self.queue: list[tuple[str, bytes]] = []
        self.conn: http.client.HTTPConnection | None = None

    def run(self) -> None:
        made, backoff = 0, 0.05
        while time.monotonic() < self.give_up_at:
            if not self.queue:
                if not self.accepting.is_set():
                    break
                rid = str(uuid.uuid4())
                self.queue.append((rid, submission(self.kiosk, self.items, rid, self.n + made)))
                made += 1
                with self.ledger.lock:
                    self.ledger.pending += 1
            rid, body = self.queue[0]
            status = self.post(rid, body)
            if status in (200, 201):
                self.queue.pop(0)
                backoff = 0.05
                with self.ledger.lock:
                    self.ledger.acked[rid] = status
                    self.ledger.pending -= 1
            else:  # connection error or an unexpected status: same body again, later
                time.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
        if self.conn is not None:
            self.conn.close()

    def post(self, rid: str, body: bytes) -> int | None:
        headers = {"Content-Type": "application/json",
                   "Authorization": f"Kiosk {self.kiosk.id}:{self.kiosk.token}"}
        sent_at = None
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            with self.ledger.lock:
                self.ledger.sent.add(rid)
            started = time.monotonic()
            self.conn.request("POST", "/api/v1/responses", body=body, headers=headers)
            sent_at = started
            response = self.conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.ledger.error(rid, exc, sent_at)
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return None
        with self.ledger.lock:
            self.ledger.statuses[response.status] = self.ledger.statuses.get(
                response.status, 0) + 1
        if response.will_close:
            self.conn.close()
            self.conn = None
        return response.status
