#!/usr/bin/env python3
"""In-process cost of one submission: ``POST /api/v1/responses`` through the Flask test client
on PostgreSQL, timed one by one (no server, no load generator, no other clients).

    .venv/bin/python benchmarks/ingest_profile.py [-n 2000] [--limits] [--redis URL]
        [--cprofile FILE] [--top 30]

Reports the median and mean per submission of: wall time, this process's CPU (the app's own
work), and the CPU of the PostgreSQL backend serving it (read from /proc), beside a Flask
hello-world measured the same way. ``--limits`` turns Flask-Limiter on (memory storage, or
Redis with ``--redis``); the per-address limit is raised so it never trips (one address here).
``--cprofile FILE`` profiles the measured submissions and prints the top functions.
The database is a fresh ``sipas_bench_<random>`` (set up as ``benchmarks/ingest.py`` does),
dropped at the end.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import ingest  # noqa: E402  (after the path: this checkout's modules)

_TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids`` so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICK


def backend_pids(url: str, name: str) -> list[int]:
    import psycopg

    with psycopg.connect(ingest._pg(url)) as conn:
        me = conn.execute("SELECT pg_backend_pid()").fetchone()
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))
        return [int(r[0]) for r in rows if me is None or r[0] != me[0]]


def measure(sends: dict[str, Any], n: int) -> dict[str, dict[str, list[float]]]:
    """Time ``n`` rounds; each round calls every function in ``sends`` once (interleaved, so
    the hello-world and the submissions see the same load from the rest of the machine)."""
    out: dict[str, dict[str, list[float]]] = {k: {"wall": [], "cpu": []} for k in sends}
    for _ in range(n):
        for name, send in sends.items():
            w0, c0 = time.perf_counter(), time.process_time()
            send()
            out[name]["cpu"].append(time.process_time() - c0)
            out[name]["wall"].append(time.perf_counter() - w0)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="measured submissions")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--kiosks", type=int, default=200,
                        help="submissions rotate over this many kiosks (fewer: more bursts)")
    parser.add_argument("--limits", action="store_true", help="rate limits on")
    parser.add_argument("--redis", default=None, help="Redis URL for the limiter (with --limits)")
    parser.add_argument("--cprofile", type=Path, default=None)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    name, url = ingest.create_database()
    try:
        secret = secrets.token_hex(32)
        env = dict(os.environ, SIPAS_DATABASE_URL=url, SIPAS_SECRET_KEY=secret,
                   FLASK_APP="surveyapp")
        ingest.flask(env, "db", "upgrade")
        ingest.flask(env, "demo", "--responses", "50")
        kiosks = ingest.register_kiosks(url, secret, args.kiosks)
        items = ingest.ITEMS

        from flask import Flask

        from surveyapp import create_app

        config: dict[str, Any] = {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": secret,
                                  "RATELIMIT_ENABLED": args.limits,
                                  "RATELIMIT_API": "1000000 per minute",
                                  "RATELIMIT_KIOSK": "1000000 per minute"}
        if os.environ.get("BENCH_HEADERS") == "0":
            config["RATELIMIT_HEADERS_ENABLED"] = False
        if args.limits and args.redis:
            config["RATELIMIT_STORAGE_URI"] = args.redis
        app = create_app(config)
        client = app.test_client()
        hello_app = Flask("hello")
        hello_app.get("/")(lambda: "Hello, World!")
        hello = hello_app.test_client()
        rng = random.Random(1)
        state = {"i": 0}

        def submit() -> None:
            kiosk = kiosks[state["i"] % len(kiosks)]
            state["i"] += 1
            _rid, body = ingest.submission(kiosk, items, rng)
            resp = client.post("/api/v1/responses", data=body, headers={
                "Content-Type": "application/json",
                "Authorization": f"Kiosk {kiosk.id}:{kiosk.token}"})
            if resp.status_code != 201:
                raise RuntimeError(f"{resp.status_code}: {resp.get_data(as_text=True)}")

        def hello_get() -> None:
            hello.get("/")

        measure({"submit": submit, "hello": hello_get}, args.warmup)
        pids = backend_pids(url, name)
        pg0 = proc_cpu(pids)
        profiler = cProfile.Profile(time.process_time) if args.cprofile else None  # CPU, not waits
        t0 = time.perf_counter()
        if profiler:
            profiler.enable()
        runs = measure({"submit": submit} if profiler else {"submit": submit, "hello": hello_get},
                       args.n)
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - t0
        pg_per = (proc_cpu(pids) - pg0) / args.n
        sub = runs["submit"]
        hel = runs.get("hello") or measure({"hello": hello_get}, args.n)["hello"]
        with app.app_context():
            from surveyapp.extensions import db
            db.session.remove()
            db.engine.dispose()

        def us(values: list[float], fn: Any) -> float:
            return fn(values) * 1e6

        out = {
            "n": args.n, "limits": args.limits and (args.redis or "memory"),
            "submit_wall_median_us": us(sub["wall"], statistics.median),
            "submit_cpu_median_us": us(sub["cpu"], statistics.median),
            "submit_cpu_mean_us": us(sub["cpu"], statistics.fmean),
            "submit_wall_mean_us": us(sub["wall"], statistics.fmean),
            "pg_backend_cpu_per_submission_us": pg_per * 1e6,
            "hello_cpu_median_us": us(hel["cpu"], statistics.median),
            "submit_over_hello_cpu": statistics.median(sub["cpu"]) / statistics.median(hel["cpu"]),
            "elapsed_s": elapsed, "loadavg": os.getloadavg()[0],
        }
        print(json.dumps(out, indent=1))
        if args.json:
            args.json.write_text(json.dumps(out, indent=1))
        if profiler and args.cprofile:
            profiler.dump_stats(str(args.cprofile))
            stats = pstats.Stats(str(args.cprofile))
            stats.sort_stats("cumulative").print_stats(args.top)
            stats.sort_stats("tottime").print_stats(args.top)
        return 0
    finally:
        ingest.drop_database(name)


if __name__ == "__main__":
    raise SystemExit(main())
