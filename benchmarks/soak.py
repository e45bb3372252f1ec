#!/usr/bin/env python3
"""Soak: kiosk uploads for minutes on gunicorn + PostgreSQL, with one server restart in the
middle; every acknowledged submission must end up stored exactly once.

    .venv/bin/python benchmarks/soak.py [--seconds 300] [--clients 50] [--workers 4]
        [--restart-at 150] [--restart kill|graceful] [--json FILE]

Set-up as ``benchmarks/ingest.py`` (fresh database ``sipas_bench_<random>``, dropped at the
end; ``flask db upgrade`` + ``flask demo``; ``--kiosks`` kiosks; rate limits off).  gunicorn
serves ``surveyapp:create_app()`` in its own process group.  ``--clients`` closed-loop kiosk
clients (asyncio, keep-alive) each send one valid submission at a time with a fresh UUID and
keep it until it is acknowledged (201, or 200 "already stored"); any failure -- refused or
reset connection, timeout, non-2xx -- is retried with the kiosk's own schedule (equal-jitter
exponential backoff, 2 s doubling to 5 min, as ``surveyapp/static/js/kiosk.js``).

At ``--restart-at`` seconds the server is restarted: ``kill`` = SIGKILL to the master and all
workers (a crash or power cut), ``graceful`` = SIGTERM to the master (workers finish their
request), then the same command again on the same port.  New submissions stop at
``--seconds``; the clients then drain what they still hold.  Report: acknowledged
submissions/s, p50/p99 of acknowledged requests, errors by kind, the downtime (server and as
clients saw it), and the database check: rows added == acknowledged ids, each with all its
answers, none lost, none unexpected.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import ingest  # noqa: E402  (after the path: this checkout's modules)

#: The kiosk's retry schedule (surveyapp/static/js/kiosk.js: BASE_MS, CAP_MS).
BACKOFF_BASE, BACKOFF_CAP = 2.0, 300.0
#: The 19 item codes of ``ingest.QUESTIONNAIRE``: every submission answers all of them.
ITEMS = [f"C1.{i}" for i in range(1, 5)] + [f"C2.{i}" for i in range(1, 5)] + \
    [f"C3.{i}" for i in range(1, 6)] + [f"C4.{i}" for i in range(1, 4)] + \
    [f"C5.{i}" for i in range(1, 4)]


# --- the server --------------------------------------------------------------------------------
class Server:
    """gunicorn in a new session, so a kill reaches the master and every worker at once."""

    def __init__(self, env: dict[str, str], port: int, args: argparse.Namespace,
                 log: Path) -> None:
        self.env, self.port, self.args, self.log = env, port, args, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180.0) -> float:
        """Start and wait for ``/healthz`` 200; returns the seconds that took."""
        began = time.monotonic()
        cmd = [str(ingest.VENV_BIN / "gunicorn"), "--chdir", str(ROOT),
               "-b", f"127.0.0.1:{self.port}", "-w", str(self.args.workers),
               "-k", self.args.worker_class, "--threads", str(self.args.threads),
               "--backlog", "2048", "--keep-alive", "5", "--graceful-timeout", "30",
               "--log-level", "warning", "surveyapp:create_app()"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, env=self.env, cwd=ROOT, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        while time.monotonic() - began < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}; see {self.log}")
            if healthy(self.port):
                return time.monotonic() - began
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn not healthy after {timeout:.0f} s; see {self.log}")

    def kill(self) -> None:
        """SIGKILL to the whole process group; returns when no member is left."""
        assert self.proc is not None
        pgid = self.proc.pid
        os.killpg(pgid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        wait_group_gone(pgid)
        self.proc = None

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM to the master (graceful: workers finish their requests), SIGKILL if stuck."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        wait_group_gone(pgid)
        self.proc = None


def healthy(port: int) -> bool:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def wait_group_gone(pgid: int, timeout: float = 30.0) -> None:
    """Wait until no member of the process group is left (workers outlive a killed master)."""
    deadline = time.monotonic() + timeout
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)


def group_alive(pgid: int) -> bool:
    """Whether any non-zombie process of the group is left (read from /proc)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                after = Path("/proc", entry, "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(after[2]) == pgid and after[0] != "Z":
                return True
    return False


# --- the kiosks ----------------------------------------------------------------------------------
@dataclass
class Soak:
    """Everything the clients saw (one event loop: no locks needed)."""

    t0: float
    acks: list[tuple[float, float, int]] = field(default_factory=list)  # (at, latency, status)
    acked: dict[str, int] = field(default_factory=dict)  # id -> 201/200
    sent: set[str] = field(default_factory=set)
    errors: list[tuple[float, str]] = field(default_factory=list)  # (seen at, kind)
    holds: list[float] = field(default_factory=list)  # first try -> ack, for retried ids
    held: int = 0  # ids made, not yet acknowledged
    killed_at: float | None = None
    healthy_again_at: float | None = None


class Connection:
    """One keep-alive HTTP/1.1 connection (ingest's minimal asyncio client)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, kiosk: ingest.KioskCred, body: bytes, timeout: float) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.port), timeout)
        assert self.reader is not None
        self.writer.write((
            f"POST /api/v1/responses HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/json\r\nAuthorization: Kiosk {kiosk.id}:{kiosk.token}"
            f"\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
        status, close, _ = await asyncio.wait_for(ingest.read_response(self.reader), timeout)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def kiosk_client(n: int, port: int, kiosks: list[ingest.KioskCred], soak: Soak,
                       stop_new_at: float, give_up_at: float, args: argparse.Namespace) -> None:
    rng = random.Random(n)  # noqa: S311 - load shape, not security
    mine = kiosks[n % len(kiosks)::args.clients] or kiosks
    conn = Connection(port)
    item: tuple[str, bytes, ingest.KioskCred, float] | None = None
    attempt = 0
    while time.monotonic() < give_up_at:
        if item is None:
            if time.monotonic() >= stop_new_at:
                break
            kiosk = mine[rng.randrange(len(mine))]
            rid, body = ingest.submission(kiosk, ITEMS, rng)
            item, attempt = (rid, body, kiosk, time.monotonic()), 0
            soak.held += 1
        rid, body, kiosk, first = item
        soak.sent.add(rid)
        started = time.monotonic()
        try:
            status = await conn.post(kiosk, body, args.timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            conn.close()
            soak.errors.append((time.monotonic() - soak.t0, type(exc).__name__))
            status = None
        now = time.monotonic()
        if status in (200, 201):
            soak.acks.append((now - soak.t0, now - started, status))
            soak.acked[rid] = status
            soak.held -= 1
            if attempt:
                soak.holds.append(now - first)
            item = None
            continue
        if status is not None:
            soak.errors.append((now - soak.t0, f"HTTP {status}"))
        attempt += 1
        ceiling = min(args.backoff_cap, args.backoff_base * 2 ** (attempt - 1))
        await asyncio.sleep(ceiling / 2 + rng.random() * ceiling / 2)  # equal jitter
    conn.close()


async def restarter(server: Server, soak: Soak, args: argparse.Namespace) -> float:
    """At ``--restart-at``: stop the server (kill or graceful), start it again."""
    await asyncio.sleep(max(0.0, soak.t0 + args.restart_at - time.monotonic()))
    soak.killed_at = time.monotonic() - soak.t0
    await asyncio.to_thread(server.kill if args.restart == "kill" else server.stop)
    startup = await asyncio.to_thread(server.start)
    soak.healthy_again_at = time.monotonic() - soak.t0
    return startup


async def run(server: Server, port: int, kiosks: list[ingest.KioskCred],
              args: argparse.Namespace) -> tuple[Soak, float | None]:
    soak = Soak(t0=time.monotonic())
    stop_new_at = soak.t0 + args.seconds
    give_up_at = stop_new_at + args.drain
    restart = None
    if 0 < args.restart_at < args.seconds:
        restart = asyncio.create_task(restarter(server, soak, args))
    await asyncio.gather(*(kiosk_client(n, port, kiosks, soak, stop_new_at, give_up_at, args)
                           for n in range(args.clients)))
    startup = await restart if restart is not None else None
    return soak, startup


# --- the check and the report -----------------------------------------------------------------
def stored(url: str, ids: set[str]) -> dict[str, int]:
    """Answer rows per stored response, for the responses whose id is not in ``ids``."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT r.id, count(a.response_id) FROM response r "
                            "LEFT JOIN answer a ON a.response_id = r.id GROUP BY r.id").fetchall()
    return {str(r[0]): int(r[1]) for r in rows if str(r[0]) not in ids}


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))] if s else float("nan")


def summarise(soak: Soak, added: dict[str, int], startup: float | None,
              args: argparse.Namespace) -> dict[str, Any]:
    in_window = [a for a in soak.acks if a[0] <= args.seconds]
    latencies = [lat for _, lat, _ in soak.acks]
    kinds: dict[str, int] = {}
    for _, kind in soak.errors:
        kinds[kind] = kinds.get(kind, 0) + 1
    buckets = [0] * max(1, int(args.seconds // 10))
    for at, _, _ in in_window:
        buckets[min(len(buckets) - 1, int(at // 10))] += 1
    acked = set(soak.acked)
    lost = acked - set(added)
    unexpected = set(added) - soak.sent  # stored, though no client ever sent it
    out: dict[str, Any] = {
        "seconds": args.seconds, "clients": args.clients, "workers": args.workers,
        "worker_class": args.worker_class, "restart": args.restart, "restart_at": args.restart_at,
        "acknowledged": len(acked), "acked_per_s": len(in_window) / args.seconds,
        "p50_ms": pct(latencies, 0.50) * 1000, "p99_ms": pct(latencies, 0.99) * 1000,
        "errors": len(soak.errors), "error_kinds": kinds,
        "answered_200_on_retry": sum(1 for s in soak.acked.values() if s == 200),
        "per_10s_min": min(buckets), "per_10s_max": max(buckets),
        "rows_added": len(added), "lost": len(lost), "unexpected": len(unexpected),
        "stored_not_acknowledged": len(set(added) - acked),
        "sent_never_acknowledged": len(soak.sent - acked), "still_held": soak.held,
        "incomplete_or_duplicated_answers": sum(1 for n in added.values() if n != len(ITEMS)),
        "answer_rows_added": sum(added.values()),
        "answer_rows_expected": len(added) * len(ITEMS),
    }
    if soak.killed_at is not None and soak.healthy_again_at is not None:
        times = sorted(at for at, _, _ in soak.acks)
        out |= {"restart_started_s": soak.killed_at, "server_startup_s": startup,
                "server_down_s": soak.healthy_again_at - soak.killed_at,
                "longest_gap_between_acks_s": max(
                    (b - a for a, b in zip(times, times[1:], strict=False)), default=0.0),
                "longest_hold_s": max(soak.holds, default=0.0),
                "errors_outside_restart": sum(
                    1 for at, _ in soak.errors
                    # the restart window: from the stop until a request sent just before
                    # the server was healthy again has had its full timeout
                    if not soak.killed_at <= at <= soak.healthy_again_at + args.timeout + 1)}
    return out


def report(r: dict[str, Any], load: tuple[float, ...], load_after: tuple[float, ...]) -> None:
    print()
    print(f"gunicorn -w {r['workers']} -k {r['worker_class']}; {r['clients']} kiosk clients, "
          f"{r['seconds']:.0f} s; restart ({r['restart']}) at {r['restart_at']:.0f} s; "
          f"load average before {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}, "
          f"after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}")
    print("| acknowledged/s | p50 ms | p99 ms | errors | server down s | no ack for s "
          "| longest hold s | acknowledged | rows added | lost | duplicates |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| {r['acked_per_s']:.1f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['errors']} | "
          f"{r.get('server_down_s', 0):.1f} | {r.get('longest_gap_between_acks_s', 0):.1f}"
          f" | {r.get('longest_hold_s', 0):.1f} | {r['acknowledged']} | {r['rows_added']} | "
          f"{r['lost']} | {r['incomplete_or_duplicated_answers']} |")
    print(f"errors by kind: {r['error_kinds']}; outside the restart window: "
          f"{r.get('errors_outside_restart', r['errors'])}; answered 200 (already stored) on "
          f"retry: {r['answered_200_on_retry']}; acknowledged per 10 s: {r['per_10s_min']}–"
          f"{r['per_10s_max']}; answer rows {r['answer_rows_added']} "
          f"(expected {r['answer_rows_expected']}); unexpected rows {r['unexpected']}, "
          f"stored but never acknowledged {r['stored_not_acknowledged']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0,
                        help="time during which new submissions are made")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--kiosks", type=int, default=200)
    parser.add_argument("--restart-at", type=float, default=150.0,
                        help="seconds after the start; 0 = no restart")
    parser.add_argument("--restart", choices=("kill", "graceful"), default="kill")
    parser.add_argument("--timeout", type=float, default=10.0, help="per request")
    parser.add_argument("--drain", type=float, default=120.0,
                        help="after --seconds, how long clients may still deliver what they hold")
    parser.add_argument("--backoff-base", type=float, default=BACKOFF_BASE)
    parser.add_argument("--backoff-cap", type=float, default=BACKOFF_CAP)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.seconds > 600 or args.clients > 500:
        parser.error("keep it bounded: --seconds <= 600, --clients <= 500")

    name, url = ingest.create_database()
    print(f"database {name}", flush=True)
    server = None
    try:
        secret = secrets.token_hex(32)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIPAS_")}
        env |= {"SIPAS_DATABASE_URL": url, "SIPAS_SECRET_KEY": secret, "FLASK_APP": "surveyapp",
                "SIPAS_RATELIMIT_ENABLED": "false"}
        ingest.flask(env, "translate", "compile")
        ingest.flask(env, "db", "upgrade")
        ingest.flask(env, "demo", "--responses", "50")
        kiosks = ingest.register_kiosks(url, secret, args.kiosks)
        before = set(stored(url, set()))
        port = ingest.free_port()
        log = Path(tempfile.gettempdir()) / f"sipas-soak-{name}.log"
        server = Server(env, port, args, log)
        server.start()
        load = os.getloadavg()
        print(f"gunicorn up on port {port} (log {log}); soaking {args.seconds:.0f} s",
              flush=True)
        soak, startup = asyncio.run(run(server, port, kiosks, args))
        load_after = os.getloadavg()
        added = stored(url, before)
        result = summarise(soak, added, startup, args)
        print(json.dumps(result), flush=True)
        report(result, load, load_after)
        if args.json:
            args.json.write_text(json.dumps({"result": result, "loadavg_before": load,
                                             "loadavg_after": load_after}, indent=1))
        good = (not result["lost"] and not result["unexpected"] and not result["still_held"]
                and not result["stored_not_acknowledged"]
                and not result["incomplete_or_duplicated_answers"]
                and result["rows_added"] == result["acknowledged"])
        return 0 if good else 1
    finally:
        if server is not None:
            server.stop()
        if not args.keep_db:
            ingest.drop_database(name)


if __name__ == "__main__":
    raise SystemExit(main())
