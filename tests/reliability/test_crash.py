"""Never lose an answer: gunicorn is killed with SIGKILL (master and workers) in the middle of
concurrent kiosk uploads, restarted on the same database, and the kiosks retry.

Checked on PostgreSQL and on a SQLite file in WAL mode:

* in the crashed state (no server running): every acknowledged submission is stored, every
  stored response has all its answer rows (a request cut off mid-transaction left nothing),
  nothing is stored that no client sent, and SQLite really was in WAL mode;
* after the restart and the retries: acknowledged ids == stored ids, each stored once with all
  its answers; a 200 ("already stored") only ever answers a retry; no other status than 201/200;
* the test cannot pass vacuously: some requests were sent before the kill and never answered,
  and clients saw connection errors.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import _postgres_backend
from tests.reliability.crash_kit import (
    Gunicorn,
    KioskClient,
    Ledger,
    build_database,
    free_port,
    server_env,
)

CLIENTS = 16
WORKERS = 2
CLIENT_DEADLINE = 240.0  # s; far above a normal run, only stops runaway threads

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class CrashDb:
    kind: str
    url: str  # usable both in process and as SIPAS_DATABASE_URL for gunicorn
    sqlite_path: Path | None = None


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def crash_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CrashDb]:
    """A database of its own: a SQLite file in tmp_path, or a fresh PostgreSQL schema (the
    search path goes in the URL, so the gunicorn processes use it too), dropped afterwards."""
    if request.param == "sqlite":
        path = tmp_path / "crash.db"
        yield CrashDb("sqlite", f"sqlite:///{path}", path)
        return
    for backend in _postgres_backend():  # skips locally / fails in CI when unreachable
        options = backend.engine_options["connect_args"]["options"]  # -csearch_path=t_...
        yield CrashDb("postgresql", f"{backend.url}?options={options.replace('=', '%3D')}")


def stored_answers(url: str) -> tuple[dict[str, int], int]:
    """Every stored response id with its number of answer rows, and all answer rows."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT r.id, count(a.response_id) FROM response r "
                "LEFT JOIN answer a ON a.response_id = r.id GROUP BY r.id")).all()
            total = conn.execute(text("SELECT count(*) FROM answer")).scalar_one()
    finally:
        engine.dispose()
    return {str(uuid.UUID(str(rid))): int(n) for rid, n in rows}, int(total)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def test_sigkill_mid_upload_loses_no_acknowledged_answer(crash_db: CrashDb,
                                                          tmp_path: Path) -> None:
    kiosk, items = build_database(crash_db.url, {})
    assert len(items) == 19
    port = free_port()
    server = Gunicorn(server_env(crash_db.url), port, WORKERS, tmp_path / "gunicorn.log")
    ledger, accepting = Ledger(), threading.Event()

    def acked() -> int:
        with ledger.lock:
            return len(ledger.acked)

    try:
        server.start()
        accepting.set()
        started = time.monotonic()
        clients = [KioskClient(n, port, kiosk, items, ledger, accepting,
                               started + CLIENT_DEADLINE) for n in range(CLIENTS)]
        for c in clients:
            c.start()
        wait_until(lambda: acked() >= 10 and time.monotonic() - started >= 1.0, 120,
                   "the first acknowledgements")

        # --- power cut ---------------------------------------------------------------------
        killed_at = time.monotonic()
        victims = server.kill()
        assert victims == WORKERS + 1, server.tail()
        with ledger.lock:
            acked_before = set(ledger.acked)
        if crash_db.sqlite_path is not None:  # before any reader checkpoints the WAL away
            assert Path(f"{crash_db.sqlite_path}-wal").exists(), "no write-ahead log"
            with sqlite3.connect(crash_db.sqlite_path) as plain:  # no pragmas of ours
                assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        at_crash, answers_at_crash = stored_answers(crash_db.url)
        with ledger.lock:
            sent_before = set(ledger.sent)
        half = {rid: n for rid, n in at_crash.items() if n != len(items)}
        assert not half, f"half-stored responses after the crash: {half}"
        assert answers_at_crash == len(at_crash) * len(items), "orphan answer rows"
        assert acked_before <= set(at_crash), "acknowledged but lost in the crash"
        assert set(at_crash) <= sent_before, "stored although never sent"

        # --- restart; the kiosks retry and keep sending ------------------------------------
        server.start()
        after_restart = acked()
        wait_until(lambda: acked() >= after_restart + 2 * CLIENTS, 120,
                   "acknowledgements after the restart")
        accepting.clear()
        for c in clients:
            c.join(timeout=max(1.0, started + CLIENT_DEADLINE - time.monotonic()))
        assert not any(c.is_alive() for c in clients), "clients still retrying at the deadline"
    finally:
        accepting.clear()
        server.stop()

    final, answers_total = stored_answers(crash_db.url)
    assert ledger.pending == 0
    assert set(ledger.acked) == ledger.sent, "sent but never acknowledged"
    assert set(final) == set(ledger.acked), (
        f"lost: {set(ledger.acked) - set(final)}, unexpected: {set(final) - set(ledger.acked)}")
    assert all(n == len(items) for n in final.values()), "a response without all its answers"
    assert answers_total == len(final) * len(items)
    assert set(ledger.statuses) <= {200, 201}, f"unexpected statuses {ledger.statuses}"
    repeats = {rid for rid, status in ledger.acked.items() if status == 200}
    assert repeats <= set(ledger.failed), "200 'already stored' for an id sent only once"
    cut_off = {rid for rid, at in ledger.in_flight_lost.items() if at < killed_at}
    assert cut_off, "no request was in flight at the kill: the test proved nothing"
    assert sum(ledger.errors.values()) >= len(cut_off)
    committed_unanswered = set(at_crash) - acked_before
    print(f"{crash_db.kind}: {len(final)} stored = acknowledged; {len(acked_before)} acknowledged "
          f"before the kill; {len(cut_off)} requests cut off by it, of which "
          f"{len(committed_unanswered & set(cut_off))} had committed (answered 200 on retry: "
          f"{len(repeats)}); client errors {ledger.errors}")
