"""National analysis run from the database: 1,000,000 responses on PostgreSQL, end to end.

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/national_run.py                 # setup once, then 3 timed runs
    .venv/bin/python benchmarks/national_run.py --runs 5 --pdf-dir /tmp/pdfs   # keep the PDFs
    .venv/bin/python benchmarks/national_run.py --runs 0 --drop  # remove the benchmark schema

Setup (not timed; once per schema, which is kept between invocations until ``--drop``): the
real migrations into schema ``bench_national`` of the
PostgreSQL database (``TEST_POSTGRES_URL`` or postgres@127.0.0.1/test), the 34 + 63 provinces,
the SIPAS questionnaire, ~3,300 synthetic communes under the 34 provinces, 1-5 centres each
plus a provincial centre per province, then ``--rows`` responses (bulk ``COPY``) with their
~19 answers each (seeded numpy generator, bulk ``COPY``; N/A ~6 %, ~25 % on C5;
ratings shifted by a latent centre quality), 1 % honeypot flags, and a frame of dossiers
per (centre, field) (provincial centres by field, commune centres one all-fields count).

Before each timed run, earlier benchmark runs are deleted and ``run_result`` vacuumed (not
timed), so that every run stores into the same table. Timed, in a fresh subprocess per run
(so peak RSS is the run's own): ``services.runs.run_now``
with the default design -- load from the database (answers as arrays, binary ``COPY``),
frame weights, design, SIPAS for country/34 provinces/communes/centres, unit-vs-rest with
Holm and rank intervals, results stored with ``COPY`` -- then ``publish``; then, in the same
process (as a worker would right after publishing), every province's PDF report from the
published run through the same calls as the download route and ``flask report``
(``reports.data.build`` + ``reports.render.download_bytes``), each timed (wall and process
CPU). Prints a table of median/min wall seconds, the pipeline's own stage timings, the
per-province PDF median/max/total and the peak RSS (after the run, and after the PDFs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SCHEMA = "bench_national"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PERIOD = "2026-Q1"


def make_app():  # noqa: ANN201
    from surveyapp import create_app
    from surveyapp.config import normalise_database_url

    url = normalise_database_url(os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG))
    return create_app({
        "TESTING": True, "SECRET_KEY": "bench-secret-key-" + "x" * 32,
        "SQLALCHEMY_DATABASE_URI": url, "RUN_WORKER_THREAD": False,
        "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": f"-csearch_path={SCHEMA}"}},
    })


def _copy(conn, table: str, columns: list[str], rows) -> None:  # noqa: ANN001
    import io

    import pandas as pd

    buf = io.StringIO()
    pd.DataFrame(rows, columns=columns).to_csv(buf, index=False, header=False, na_rep="\\N")
    raw = conn.connection.dbapi_connection
    with raw.cursor() as cur, cur.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
    ) as copy:
        copy.write(buf.getvalue())


def setup(rows: int, communes: int, seed: int, fresh: bool = False) -> None:
    """Build the schema and fill it (skipped when the period already has responses)."""
    from flask_migrate import upgrade
    from sqlalchemy import create_engine, func, select, text

    from surveyapp.config import normalise_database_url
    from surveyapp.extensions import db

    url = normalise_database_url(os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG))
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
    app = make_app()
    with app.app_context():
        from surveyapp.models import AdminUnit, Response
        from surveyapp.models.geography import REFORM_DATE
        from surveyapp.services import demo, frames, questionnaires, reference

        upgrade()
        period = frames.get_period(PERIOD)
        if not fresh and period is not None and db.session.scalar(
                select(func.count()).select_from(Response)) == rows:
            print(f"setup: schema {SCHEMA} already has the data")
            return
        t0 = time.perf_counter()
        db.session.rollback()  # release the reads above before TRUNCATE takes its locks
        with db.engine.begin() as conn:
            conn.execute(text("TRUNCATE run_result, analysis_run, quality_flag, answer, "
                              "response, frame_count, kiosk, counter, service_centre, period "
                              "RESTART IDENTITY CASCADE"))
            conn.execute(text("DELETE FROM admin_unit WHERE level = 'commune'"))
        reference.load_units()
        version = questionnaires.load_questionnaire("sipas-2023")
        demo.load_fields()
        period = frames.create_period(PERIOD, "Quý 1/2026", "Q1 2026",
                                      *frames.quarter_dates(PERIOD))
        db.session.commit()
        provinces = db.session.scalars(select(AdminUnit).where(
            AdminUnit.level == "province", AdminUnit.valid_from == REFORM_DATE)
            .order_by(AdminUnit.code)).all()
        rng = np.random.default_rng(seed)
        conn = db.session.connection()
        # bulk load without per-row foreign-key triggers (the generator keeps them valid)
        conn.execute(text("SET session_replication_role = replica"))
        # communes: spread over the 34 provinces in proportion to a random size
        share = rng.dirichlet(np.full(len(provinces), 3.0))
        per_prov = np.maximum(1, np.round(share * communes)).astype(int)
        unit_rows, next_id = [], db.session.scalar(select(func.max(AdminUnit.id))) + 1
        commune_ids: list[tuple[int, int]] = []
        code = 30000
        for prov, k in zip(provinces, per_prov, strict=True):
            for _ in range(k):
                unit_rows.append((next_id, f"{code:05d}", "commune", f"Xã {code}",
                                  f"Commune {code}", "xa", prov.id, REFORM_DATE, None, None))
                commune_ids.append((next_id, prov.id))
                next_id += 1
                code += 1
        _copy(conn, "admin_unit", ["id", "code", "level", "name_vi", "name_en", "kind",
                                   "parent_id", "valid_from", "valid_to", "successor_id"],
              unit_rows)
        centres, cid = [], 1
        centre_unit, centre_prov, centre_kind = [], [], []
        for prov in provinces:
            centres.append((cid, f"P{prov.code}", f"Trung tâm tỉnh {prov.code}",
                            f"Provincial centre {prov.code}", "provincial-centre", prov.id, True))
            centre_unit.append(prov.id)
            centre_prov.append(prov.id)
            centre_kind.append(0)
            cid += 1
        for uid, pid in commune_ids:
            for j in range(int(rng.integers(1, 6))):
                centres.append((cid, f"X{uid}-{j}", f"Bộ phận một cửa {uid}-{j}",
                                f"One-stop section {uid}-{j}", "commune-centre", uid, True))
                centre_unit.append(uid)
                centre_prov.append(pid)
                centre_kind.append(1)
                cid += 1
        _copy(conn, "service_centre", ["id", "code", "name_vi", "name_en", "kind", "unit_id",
                                       "active"], centres)
        conn.execute(text("SELECT setval(pg_get_serial_sequence('service_centre', 'id'), "
                          ":n)"), {"n": cid})
        n_c = len(centres)
        size = rng.lognormal(0, 1, n_c)
        size[np.array(centre_kind) == 0] *= 20  # provincial centres are busy
        pick = rng.choice(n_c, size=rows, p=size / size.sum())
        field_ids = [f for f in db.session.scalars(select(text("id")).select_from(
            text("procedure_field")).order_by(text("id")))]
        fields = np.where(rng.random(rows) < 0.8, rng.choice(field_ids, rows), -1)
        start, _end = frames.quarter_dates(PERIOD)
        base = np.datetime64(start.isoformat()) - np.timedelta64(7, "h")
        seconds = rng.integers(0, 90 * 86400, rows) // 86400 * 86400 + rng.integers(
            1 * 3600, 10 * 3600, rows)
        when = (base + seconds.astype("timedelta64[s]")).astype(str)
        channels = rng.choice(["kiosk", "phone-qr", "receipt-link", "assisted"], rows,
                              p=[0.55, 0.35, 0.05, 0.05])
        raw_ids = rng.bytes(16 * rows)
        ids = [str(uuid.UUID(bytes=raw_ids[16 * i:16 * i + 16], version=4))
               for i in range(rows)]
        import pandas as pd

        cu, cp = np.array(centre_unit), np.array(centre_prov)
        resp = {"id": ids, "centre_id": pick + 1, "channel": channels,
                "version_id": version.id,
                "field_id": pd.Series(fields).astype("Int64").replace(-1, pd.NA),
                "unit_id": cu[pick], "province_id": cp[pick], "submitted_at": when}
        frame = pd.DataFrame(resp)
        _copy(conn, "response", list(frame.columns), frame)
        db.session.commit()
        print(f"setup: {len(unit_rows)} communes, {n_c} centres, {rows} responses "
              f"({time.perf_counter() - t0:.0f} s); answers ...", flush=True)
        quality = rng.random(n_c)[pick]
        conn = db.session.connection()
        conn.execute(text("SET session_replication_role = replica"))
        ids_arr = np.array(ids, dtype=object)
        for item in version.items:
            na_rate = 0.25 if item.content_code == "C5" else 0.04
            x, y = rng.random(rows), rng.random(rows)
            keep = ~((x >= na_rate) & (x < na_rate + 0.02))  # 2 % left unanswered
            shift = 0.04 * (1 - quality)
            value = np.select([y < 0.03, y < 0.09 + shift, y < 0.27 + shift,
                               y < 0.70 + shift - 0.10 * quality], [1, 2, 3, 4], 5)
            na = x < na_rate
            part = pd.DataFrame({
                "response_id": ids_arr[keep], "item_id": item.id,
                "value": pd.Series(value[keep]).astype("Int64").mask(na[keep]),
                "not_applicable": na[keep]})
            _copy(conn, "answer", list(part.columns), part)
        flagged = rng.random(rows) < 0.01
        _copy(conn, "quality_flag", ["response_id", "code", "reason", "created_at"],
              pd.DataFrame({"response_id": ids_arr[flagged], "code": "honeypot",
                            "reason": "benchmark", "created_at": start.isoformat()}))
        db.session.commit()
        print(f"setup: answers done ({time.perf_counter() - t0:.0f} s)", flush=True)
        cells = db.session.execute(text(
            "SELECT r.centre_id, CASE WHEN c.kind = 'commune-centre' THEN NULL "
            "  ELSE COALESCE(r.field_id, :f) END AS field, count(*) "
            "FROM response r JOIN service_centre c ON c.id = r.centre_id "
            "GROUP BY 1, 2 ORDER BY 1, 2"), {"f": field_ids[0]}).all()
        factor = rng.integers(5, 41, len(cells))
        frames.replace_frame(period, [(c, f, int(n) * int(k)) for (c, f, n), k in
                                      zip(cells, factor, strict=True)], source="benchmark")
        db.session.commit()
        with db.engine.begin() as c3:
            c3.execute(text("ANALYZE"))
        print(f"setup: frame {len(cells)} cells; total {time.perf_counter() - t0:.0f} s",
              flush=True)


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def province_pdfs(run_id: int, out_dir: Path) -> list[dict]:
    """Every province's PDF from one run, the way the download route and the CLI make it."""
    from surveyapp.reports import data
    from surveyapp.reports.cli import CommandLineUser
    from surveyapp.reports.render import download_bytes

    user = CommandLineUser()
    out = []
    for code, _name in data.provinces_in(data.open_run(run_id, user), "vi", user):
        w0, c0 = time.perf_counter(), time.process_time()
        report = data.build(run_id, code, "vi", user=user)
        body, _mime, name = download_bytes(report, "pdf")
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        (out_dir / name).write_bytes(body)
        out.append({"code": code, "wall": wall, "cpu": cpu, "bytes": len(body),
                    "communes": len(report.communes), "centres": len(report.centres),
                    "file": name})
    return out


def timed_run(pdf_dir: Path) -> dict:
    """One end-to-end run and publish, then every province's PDF (in a fresh subprocess)."""
    load = os.getloadavg()[0]
    app = make_app()
    with app.app_context():
        from surveyapp.services import frames, runs

        t0, c0 = time.perf_counter(), time.process_time()
        run = runs.run_now(frames.get_period(PERIOD))
        if run.status != "done":
            raise SystemExit(f"run failed: {run.error}")
        t1 = time.perf_counter()
        runs.publish(run)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        timing = {**run.diagnostics["timing"], "publish": round(time.perf_counter() - t1, 3)}
        out = {"wall": wall, "cpu": cpu, "timing": timing,
               "n": run.n_responses, "results": run.diagnostics["n_results"],
               "rss_mb": _rss_mb(), "run_id": run.id, "load": load}
        p0, pc0 = time.perf_counter(), time.process_time()
        out["pdfs"] = province_pdfs(run.id, pdf_dir)
        out["pdf_wall"], out["pdf_cpu"] = time.perf_counter() - p0, time.process_time() - pc0
        out["rss_pdf_mb"] = _rss_mb()
    return out


def reset_runs() -> None:
    """Remove earlier benchmark runs and vacuum their results (not timed): every timed run
    then stores its 332,625 rows into the same, small ``run_result`` table -- with runs left
    from earlier invocations the table and its indexes grew by as much per run, and so did
    the time to store."""
    from sqlalchemy import create_engine, text

    from surveyapp.config import normalise_database_url

    url = normalise_database_url(os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG))
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DELETE FROM "{SCHEMA}".analysis_run'))  # noqa: S608 - constant
        conn.execute(text(f'VACUUM ANALYZE "{SCHEMA}".run_result'))
    engine.dispose()


def drop_schema() -> None:
    from sqlalchemy import create_engine, text

    from surveyapp.config import normalise_database_url

    url = normalise_database_url(os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG))
    with create_engine(url).begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
    print(f"dropped schema {SCHEMA}")


def _summary(results: list[dict]) -> None:
    walls = [r["wall"] for r in results]
    load = os.getloadavg()
    stages = [k for k in results[0]["timing"] if k != "total"]
    t = {k: statistics.median(r["timing"][k] for r in results) for k in stages}
    print(f"\n| national run from PostgreSQL ({results[0]['n']:,} responses, "
          f"{results[0]['results']:,} result rows) | median wall s | min s | CPU s | "
          + " | ".join(stages) + " | peak RSS MB |")
    print("|---|---|---|---|" + "---|" * len(stages) + "---|")
    print(f"| run_now + publish (median of each stage) | {statistics.median(walls):.1f} | "
          f"{min(walls):.1f} | {statistics.median(r['cpu'] for r in results):.1f} | "
          + " | ".join(f"{t[s]:.2f}" for s in stages)
          + f" | {max(r['rss_mb'] for r in results):.0f} |")
    pdfs = [p for r in results for p in r["pdfs"]]
    pw, pc = [p["wall"] for p in pdfs], [p["cpu"] for p in pdfs]
    big = max(pdfs, key=lambda p: (p["communes"] + p["centres"], p["wall"]))
    print(f"\n| {len(results[0]['pdfs'])} province PDFs, {len(results)} runs | median wall s | "
          "max s | median CPU s | max CPU s | total wall s (median run) | total CPU s | "
          "peak RSS MB after PDFs |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| data.build + download_bytes(pdf) | {statistics.median(pw):.2f} | {max(pw):.2f} | "
          f"{statistics.median(pc):.2f} | {max(pc):.2f} | "
          f"{statistics.median(r['pdf_wall'] for r in results):.1f} | "
          f"{statistics.median(r['pdf_cpu'] for r in results):.1f} | "
          f"{max(r['rss_pdf_mb'] for r in results):.0f} |")
    first = ", ".join(f"{r['pdfs'][0]['wall']:.2f}" for r in results)
    print(f"first PDF of each run (cold: matplotlib import, fonts): {first} s")
    print(f"largest: province {big['code']} ({big['communes']} communes, {big['centres']} "
          f"centres, {big['bytes'] / 1e6:.1f} MB): {big['wall']:.2f} s wall, "
          f"{big['cpu']:.2f} s CPU")
    e2e = [r["wall"] + r["pdf_wall"] for r in results]
    print(f"end to end (run + publish + all PDFs): median {statistics.median(e2e):.1f} s")
    starts = ", ".join(f"{r['load']:.1f}" for r in results)
    print(f"(1-min load average at the start of each run: {starts}; at the end "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min))")


def main() -> None:
    import shutil
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--communes", type=int, default=3300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fresh", action="store_true", help="rebuild the data even if present")
    parser.add_argument("--pdf-dir", type=Path,
                        help="keep the PDFs here (default: a temporary directory, removed)")
    parser.add_argument("--drop", action="store_true",
                        help="drop the benchmark schema at the end (it is kept by default)")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(timed_run(args.pdf_dir)))
        return
    setup(args.rows, args.communes, args.seed, args.fresh)
    results = []
    pdf_dir = args.pdf_dir or Path(tempfile.mkdtemp(prefix="sipas-bench-pdf-"))
    pdf_dir.mkdir(parents=True, exist_ok=True)
    try:
        for i in range(args.runs):
            reset_runs()
            proc = subprocess.run([sys.executable, __file__, "--worker", "--pdf-dir",
                                   str(pdf_dir)], capture_output=True, text=True, check=False)
            if proc.returncode:
                sys.exit(proc.stderr[-3000:])
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            results.append(res)
            pw = sorted(p["wall"] for p in res["pdfs"])
            print(f"run {i + 1}: {res['wall']:.1f} s wall ({res['cpu']:.1f} CPU), peak RSS "
                  f"{res['rss_mb']:.0f} MB, stages {res['timing']}; {len(pw)} PDFs "
                  f"{res['pdf_wall']:.1f} s (median {statistics.median(pw):.2f}, max "
                  f"{pw[-1]:.2f}), peak RSS {res['rss_pdf_mb']:.0f} MB", flush=True)
    finally:
        if args.pdf_dir is None:
            shutil.rmtree(pdf_dir, ignore_errors=True)
    if results:
        _summary(results)
    if args.drop:
        drop_schema()


if __name__ == "__main__":
    main()
