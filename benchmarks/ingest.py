#!/usr/bin/env python3
"""Ingest benchmark: ``POST /api/v1/responses`` under 50 concurrent kiosks, beside a Flask
hello-world ceiling served by the same gunicorn processes, measured in the same run.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/ingest.py [--seconds 30] [--clients 50] [--workers 4]

Steps (all on this machine, loopback only, bounded in time):
1. create a fresh PostgreSQL database ``sipas_bench_<random>`` (dropped at the end), build it
   with ``flask db upgrade`` and ``flask demo``, register ``--kiosks`` kiosks (tokens in memory);
2. start gunicorn on 127.0.0.1 serving ``surveyapp`` with ``/__hello`` (a plain Flask
   hello-world app) mounted beside it by ``DispatcherMiddleware`` -- same processes, same config;
3. for each target: ``--warmup`` s unmeasured, then ``--seconds`` s with ``--clients``
   keep-alive connections (asyncio streams, a minimal HTTP/1.1 client so the load generator
   takes as little of the 2 cores as possible), each sending its next request when the last
   one is answered (closed loop).  Every submission has a fresh UUID and is a valid kiosk
   response (19 answers, some "na", some comments), authenticated by one of the kiosk tokens;
4. afterwards, count the rows: every acknowledged id (201) must be stored once, nothing else
   stored (timeouts are reported separately, as "maybe stored").

Rate limits stay on as in production when ``--redis`` is given (Flask-Limiter on Redis, every
limit checked on every request), with the per-address and per-kiosk budgets raised: all
clients share one address here and each kiosk sends far faster than a person could, and the
check costs the same whatever the budget. By default they are off so the numbers measure
ingest, not the limiter. The CPU each part used during each target is reported in cores
(gunicorn workers, this database's PostgreSQL backends, the load generator, the rest of the
machine: other people's work on a shared box).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's surveyapp, also for the in-process set-up
VENV_BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
QUESTIONNAIRE = "sipas-2023.v1"
COMMENTS = ["Cán bộ nhiệt tình.", "Thời gian chờ hơi lâu.", "Nên có thêm ghế ngồi.", None, None,
            None, None, None]
FIELDS = ["dat-dai", "ho-tich", "chung-thuc", "xay-dung", None]
#: The 19 item codes of ``QUESTIONNAIRE``.
ITEMS = [f"C1.{i}" for i in range(1, 5)] + [f"C2.{i}" for i in range(1, 5)] + \
    [f"C3.{i}" for i in range(1, 6)] + [f"C4.{i}" for i in range(1, 4)] + \
    [f"C5.{i}" for i in range(1, 4)]


# --- the app gunicorn serves ----------------------------------------------------------------
def wsgi_app() -> Any:
    """``surveyapp`` plus a hello-world Flask app at ``/__hello`` in the same process."""
    from flask import Flask
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    from surveyapp import create_app

    hello = Flask("hello")

    @hello.get("/")
    def hello_world() -> str:
        return "Hello, World!"

    app = create_app()
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/__hello": hello})  # type: ignore[method-assign]
    return app


# --- database set-up -----------------------------------------------------------------------
def _pg(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def create_database() -> tuple[str, str]:
    import psycopg

    name = "sipas_bench_" + secrets.token_hex(4)
    with psycopg.connect(_pg(PG_ADMIN), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = _pg(PG_ADMIN).rsplit("/", 1)[0]
    return name, f"{base}/{name}"


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(_pg(PG_ADMIN), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flask(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([str(VENV_BIN / "flask"), "--app", "surveyapp", *args], env=env,
                         cwd=ROOT, check=True, capture_output=True, text=True)
    return out.stdout


@dataclass(frozen=True)
class KioskCred:
    id: str
    token: str
    centre: str


def register_kiosks(url: str, secret: str, n: int) -> list[KioskCred]:
    """``n`` kiosks spread over the demo centres, registered through the service layer."""
    from sqlalchemy import select

    from surveyapp import create_app
    from surveyapp.extensions import db
    from surveyapp.models import ServiceCentre
    from surveyapp.services import kiosks

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secret})
    with app.app_context():
        centres = list(db.session.scalars(select(ServiceCentre).order_by(ServiceCentre.code)))
        creds = [kiosks.register(centres[i % len(centres)], None, "bench") for i in range(n)]
        db.session.remove()
        db.engine.dispose()
    return [KioskCred(c.id, c.token, c.centre_code) for c in creds]


# --- gunicorn ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_gunicorn(env: dict[str, str], port: int, args: argparse.Namespace) -> subprocess.Popen:
    cmd = [str(VENV_BIN / "gunicorn"), "--chdir", str(ROOT), "-b", f"127.0.0.1:{port}",
           "-w", str(args.workers), "-k", args.worker_class, "--threads", str(args.threads),
           "--backlog", "2048", "--keep-alive", "5", "--log-level", "warning",
           "benchmarks.ingest:wsgi_app()"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
    deadline = time.monotonic() + 180  # each worker imports the whole app; slow on a busy box
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if b"200 OK" in sock.recv(200):
                    return proc
        except OSError:
            time.sleep(0.2)
        if proc.poll() is not None:
            break
    proc.terminate()
    raise RuntimeError("gunicorn did not start")


# --- CPU accounting ------------------------------------------------------------------------
_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (Linux /proc; 0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                kids.append(int(entry.name))
    return kids


def _backends(url: str, name: str) -> list[int]:
    import psycopg

    with psycopg.connect(url) as conn:
        me = conn.execute("SELECT pg_backend_pid()").fetchone()
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))
        return [int(r[0]) for r in rows if me is None or r[0] != me[0]]


def _machine_busy() -> float:
    """CPU seconds the whole machine spent busy (all cores, /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / _TICK


def cpu_snapshot(gunicorn: int, url: str, name: str) -> dict[str, float]:
    """CPU seconds so far of the gunicorn workers, this database's PostgreSQL backends, the
    load generator (this process) and the whole machine."""
    return {"gunicorn": sum(_proc_cpu(p) for p in [gunicorn, *_children(gunicorn)]),
            "postgres": sum(_proc_cpu(p) for p in _backends(url, name)),
            "loadgen": _proc_cpu(os.getpid()), "machine": _machine_busy()}


def cpu_shares(before: dict[str, float], after: dict[str, float],
               seconds: float) -> dict[str, float]:
    """Cores used on average by each part (2.0 = both cores), and by everything else."""
    used = {k: (after[k] - before[k]) / seconds for k in before}
    used["rest"] = max(used["machine"] - used["gunicorn"] - used["postgres"] - used["loadgen"],
                       0.0)
    return {k: round(v, 2) for k, v in used.items()}


# --- load generator ----------------------------------------------------------------------------
@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    acked: set[str] = field(default_factory=set)  # ids answered 201/200
    maybe: set[str] = field(default_factory=set)  # ids whose request failed without an answer
    measured: float = 0.0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, close = 0, lines[0].startswith("HTTP/1.0")
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection":
            close = value.strip().lower() == "close"
    body = await reader.readexactly(length) if length else b""
    return status, close, body


def submission(kiosk: KioskCred, items: list[str], rng: random.Random) -> tuple[str, bytes]:
    rid = str(uuid.uuid4())
    answers: dict[str, Any] = {}
    for code in items:
        roll = rng.random()
        answers[code] = "na" if roll < 0.08 else rng.choice((2, 3, 4, 4, 4, 5, 5))
    body = {"id": rid, "centre": kiosk.centre, "counter": None, "channel": "kiosk",
            "questionnaire": QUESTIONNAIRE, "field": rng.choice(FIELDS), "answers": answers,
            "comment": rng.choice(COMMENTS),
            "client_time": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())}
    return rid, json.dumps(body, ensure_ascii=False).encode()


async def client(n: int, clients: int, port: int, target: str, kiosks: list[KioskCred],
                 items: list[str], measure_from: float, stop_at: float, stats: Stats,
                 timeout: float) -> None:
    rng = random.Random(n)  # noqa: S311 - load shape, not security
    mine = kiosks[n % len(kiosks)::clients] or kiosks  # each kiosk used by one client only
    reader = writer = None
    while time.monotonic() < stop_at:
        rid = None
        if target == "hello":
            request = (f"GET /__hello/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").encode()
        else:
            kiosk = mine[rng.randrange(len(mine))]
            rid, body = submission(kiosk, items, rng)
            request = (
                f"POST /api/v1/responses HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: application/json\r\nAuthorization: Kiosk {kiosk.id}:{kiosk.token}"
                f"\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body
        started = time.monotonic()
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), timeout)
            assert reader is not None
            writer.write(request)
            status, close, payload = await asyncio.wait_for(read_response(reader), timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            if rid:
                stats.maybe.add(rid)
            if started >= measure_from:
                stats.error(type(exc).__name__)
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        elapsed = time.monotonic() - started
        if rid and status in (200, 201):
            stats.acked.add(rid)
        if started >= measure_from:
            stats.latencies.append(elapsed)
            stats.statuses[status] = stats.statuses.get(status, 0) + 1
            if status not in (200, 201):
                stats.error(f"HTTP {status}")
        if close:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def run_load(port: int, target: str, kiosks: list[KioskCred], items: list[str],
                   clients: int, warmup: float, seconds: float, timeout: float) -> Stats:
    stats = Stats()
    now = time.monotonic()
    measure_from, stop_at = now + warmup, now + warmup + seconds
    await asyncio.gather(*(client(n, clients, port, target, kiosks, items, measure_from,
                                  stop_at, stats, timeout) for n in range(clients)))
    stats.measured = seconds
    return stats


# --- report ------------------------------------------------------------------------------------
def summary(name: str, stats: Stats) -> dict[str, Any]:
    lat = sorted(stats.latencies)
    ok = sum(v for k, v in stats.statuses.items() if k in (200, 201))

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    return {"target": name, "ok_per_s": ok / stats.measured, "requests": len(lat), "ok": ok,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "mean_ms": statistics.fmean(lat) * 1000 if lat else float("nan"),
            "errors": sum(stats.errors.values()), "error_kinds": dict(stats.errors)}


def count_rows(url: str) -> tuple[set[str], int]:
    import psycopg

    with psycopg.connect(url) as conn:
        ids = {str(r[0]) for r in conn.execute("SELECT id FROM response")}
        answers = conn.execute("SELECT count(*) FROM answer").fetchone()
    return ids, int(answers[0]) if answers else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measured time per target")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--kiosks", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--redis", default=None,
                        help="Redis URL: keep rate limits on, stored there (as in production)")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    parser.add_argument("--py-spy", type=Path, default=None, metavar="FILE",
                        help="sample the gunicorn workers with py-spy during the ingest run "
                             "(collapsed stacks into FILE, summary printed)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.seconds > 300 or args.clients > 500:
        parser.error("keep it bounded: --seconds <= 300, --clients <= 500")

    name, url = create_database()
    print(f"database {name}", flush=True)
    proc = None
    try:
        secret = secrets.token_hex(32)
        env = dict(os.environ, SIPAS_DATABASE_URL=url, SIPAS_SECRET_KEY=secret,
                   FLASK_APP="surveyapp", SIPAS_RATELIMIT_ENABLED="true" if args.redis else "false")
        if args.redis:
            # The limiter does the same work whatever the budget; here every client is one
            # address (127.0.0.1) and each kiosk sends far faster than a person can, so the
            # per-address and per-kiosk budgets are raised to stay out of the way.
            env["SIPAS_REDIS_URL"] = args.redis
            env["SIPAS_RATELIMIT_API"] = env["SIPAS_RATELIMIT_KIOSK"] = "1000000 per minute"
        flask(env, "translate", "compile")
        flask(env, "db", "upgrade")
        flask(env, "demo", "--responses", "50")
        kiosks = register_kiosks(url, secret, args.kiosks)
        items = ITEMS
        before_ids, before_answers = count_rows(url)
        port = free_port()
        proc = start_gunicorn(env, port, args)
        load = os.getloadavg()[0]
        results, all_stats = [], {}
        cpu: dict[str, dict[str, float]] = {}
        for target in ("hello", "ingest"):
            spy = None
            if target == "ingest" and args.py_spy:
                spy = subprocess.Popen(
                    [str(VENV_BIN / "py-spy"), "record", "--subprocesses", "--nonblocking",
                     "-r", "200", "-f", "raw", "-d", str(int(args.warmup + args.seconds)),
                     "-p", str(proc.pid), "-o", str(args.py_spy)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cpu0, t0 = cpu_snapshot(proc.pid, url, name), time.monotonic()
            stats = asyncio.run(run_load(port, target, kiosks, items, args.clients, args.warmup,
                                         args.seconds, args.timeout))
            cpu[target] = cpu_shares(cpu0, cpu_snapshot(proc.pid, url, name),
                                     time.monotonic() - t0)
            if spy is not None:
                spy.wait(timeout=60)
            all_stats[target] = stats
            results.append(summary(target, stats) | {"cores": cpu[target]})
            print(json.dumps(results[-1]), flush=True)
        stats = all_stats["ingest"]
        ids, answers = count_rows(url)
        added = ids - before_ids
        lost = stats.acked - added
        unexpected = added - stats.acked - stats.maybe
        check = {"acknowledged": len(stats.acked), "rows_added": len(added),
                 "lost": len(lost), "unexpected": len(unexpected),
                 "maybe_stored_after_error": len(stats.maybe & added),
                 "answer_rows_added": answers - before_answers,
                 "answer_rows_expected": len(added) * len(items)}
        print(json.dumps(check), flush=True)
        report(results, check, args, load)
        if args.py_spy:
            print(profile_summary(args.py_spy))
        if args.json:
            args.json.write_text(json.dumps({"results": results, "check": check,
                                             "config": vars(args) | {"json": str(args.json)},
                                             "loadavg_before": load}, indent=1, default=str))
        good = not lost and not unexpected and \
            check["answer_rows_added"] == check["answer_rows_expected"]
        return 0 if good else 1
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not args.keep_db:
            drop_database(name)


#: Where a request's CPU time goes, by the function that spends it (inclusive), in order.
PROFILE_PARTS = [
    ("authenticate (kiosk token)", "authenticate (surveyapp/api/auth.py"),
    ("validate (lookups, answers)", "validate (surveyapp/services/validation.py"),
    ("store: insert + commit", "store (surveyapp/services/submissions.py"),
    ("body: reload after commit", "body (surveyapp/services/submissions.py"),
    ("JSON in/out", "jsonify ("),
    ("SQLAlchemy + psycopg (all of the above)", "sqlalchemy/"),
    ("the request handler (create_response)", "create_response (surveyapp/api/routes.py"),
    ("Flask + Werkzeug + gunicorn per request", "handle_request (gunicorn/"),
]


def profile_summary(path: Path) -> str:
    """Share of the workers' busy samples spent inside each part (py-spy collapsed stacks)."""
    totals = dict.fromkeys((label for label, _ in PROFILE_PARTS), 0)
    busy = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        if "create_response" not in stack and "handle_request" not in stack:
            continue  # the gunicorn arbiter, idle loops
        busy += n
        for label, needle in PROFILE_PARTS:
            if needle in stack:
                totals[label] += n
    lines = [f"py-spy: {busy} busy samples in request handling"]
    lines += [f"  {label:45s} {100 * n / max(busy, 1):5.1f} %" for label, n in totals.items()]
    return "\n".join(lines)


def report(results: list[dict[str, Any]], check: dict[str, Any], args: argparse.Namespace,
           load: float) -> None:
    hello = results[0]
    print()
    print(f"gunicorn -w {args.workers} -k {args.worker_class} --threads {args.threads}; "
          f"{args.clients} clients, {args.seconds:.0f} s each; rate limits "
          f"{'on (Redis)' if args.redis else 'off'}; load average before: {load:.2f}")
    print("| endpoint | ok req/s | p50 ms | p99 ms | errors | vs ceiling "
          "| cores: gunicorn / PG / load gen / rest |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        label = "hello-world (ceiling)" if r["target"] == "hello" else "POST /api/v1/responses"
        c = r.get("cores", {})
        cores = " / ".join(f"{c.get(k, float('nan')):.2f}"
                           for k in ("gunicorn", "postgres", "loadgen", "rest"))
        print(f"| {label} | {r['ok_per_s']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
              f"{r['errors']} | {r['ok_per_s'] / hello['ok_per_s']:.2f} | {cores} |")
    print(f"rows: {check['acknowledged']} acknowledged (warm-up included), "
          f"{check['rows_added']} added, {check['lost']} lost, {check['unexpected']} unexpected; "
          f"answer rows {check['answer_rows_added']} (expected {check['answer_rows_expected']})")


if __name__ == "__main__":
    raise SystemExit(main())
