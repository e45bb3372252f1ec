"""Analysis runs: queue, execute, freeze, publish.

A run estimates one period with one design (``services.run_design``; the options are stored
in ``AnalysisRun.design`` with every default filled in). It is executed by a worker, never in
a web request: ``flask --app surveyapp worker`` in production, or a daemon thread started
lazily in the web process (config ``RUN_WORKER_THREAD``; on by default outside tests) for the
development server. Queued runs are claimed with one conditional UPDATE, so several workers
never take the same run. ``run_now`` executes synchronously (tests, CLI ``--wait``).

What a finished run holds (the province reports read these):

``AnalysisRun``
    ``status`` queued/running/done/failed; ``progress`` 0-1 and ``progress_note``;
    ``design`` (options, see ``run_design.DEFAULTS``); ``input_hash`` (SHA-256 of the
    canonical analysis table and frame: same inputs, same hash); ``code_version`` (package
    version + ``git describe``); ``n_responses`` (rows in the period); ``excluded``
    (``{"flag:<code>": n, "not_weighted": n}``); ``diagnostics`` (``weights``: distribution,
    Kish ``deff``, ``n_eff``; ``frame``: cells weighted/collapsed/not represented;
    ``collapsed``: the collapsed cells; ``timing``; ``notes``); ``geography`` and
    ``reaggregated`` (pre-reform provinces mapped to 2025 successors; communes keep their
    pre-reform codes); ``error`` (``code|detail``) when failed.

``RunResult`` (one row per unit x index)
    ``level`` country/province/commune/centre; ``unit_code`` (``VN`` for the country, the
    province, commune or centre code); ``province_code`` (NULL for the country);
    ``statistic`` criterion/content/sipas and ``variable`` C1.1.../C1.../SIPAS; ``estimate``,
    ``se``, ``ci_low``, ``ci_high`` as **proportions 0-1** (interval method and level in
    ``design``); ``df``, ``deff``, ``n``, ``n_eff``; ``flag`` ok/review/suppress and
    ``reason`` (``;``-joined codes of ``analysis.reliability.Reason``, translate by code);
    ``rank``/``rank_low``/``rank_high``/``rank_of`` among the non-suppressed units of the
    same level in the same parent (provinces in the country, communes and centres in their
    province; rank 1 = highest; joint Bonferroni rank intervals); ``diff_rest``,
    ``diff_low``, ``diff_high``, ``p_value``, ``p_holm``, ``below`` (the unit minus the rest
    of its parent, Holm across the parent's units; ``below`` = significantly lower).
"""

from __future__ import annotations

import functools
import logging
import subprocess
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update

from analysis.errors import SurveyError
from surveyapp.extensions import db
from surveyapp.models import AnalysisRun, Period, RunResult
from surveyapp.models.geography import REFORM_DATE
from surveyapp.services import audit, run_design
from surveyapp.services.accounts import utcnow
from surveyapp.services.frames import load_frame
from surveyapp.services.run_diagnostics import collapsed_cells, histogram
from surveyapp.services.run_table import reading_table, table_hash

log = logging.getLogger(__name__)
REFORM_NOTE = "reaggregated"
#: ``AnalysisRun.progress_note`` is stored as one of these codes; pages show the sentence
PROGRESS_NOTES = {
    "queued": _l("Waiting for a worker"),
    "starting": _l("Starting"),
    "loading responses": _l("Reading the responses"),
    "weights and design": _l("Weights and design (the answers are still being read)"),
    "indices, comparisons and storing": _l("Indices, comparisons and ranks, storing the results"),
    "done": _l("The run has finished"),
    "failed": _l("Failed"),
}


def progress_label(note: str) -> str:
    """The run's progress note as a sentence in the page's language."""
    label = PROGRESS_NOTES.get(note)
    return str(label) if label is not None else note


class RunFailure(Exception):
    """A run that cannot finish; ``code`` selects the translated sentence on the run page."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.code, self.detail = code, detail


@functools.cache
def code_version() -> str:
    """Package version plus ``git describe`` of the checkout when there is one."""
    try:
        version = metadata.version("sipas")
    except metadata.PackageNotFoundError:
        version = "0"
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv, no user input
            ["git", "describe", "--always", "--dirty", "--tags"],  # noqa: S607
            cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=5,
            check=False)
        if out.returncode == 0 and out.stdout.strip():
            return f"{version}+{out.stdout.strip()}"[:80]
    except (OSError, subprocess.SubprocessError):
        pass
    return version


# ---------------------------------------------------------------------- queue
def create_run(period: Period, design: dict[str, Any] | None = None,
               user: Any = None) -> AnalysisRun:
    """Queue a run (design checked and defaults filled in now); audited; committed."""
    opts = run_design.normalise(design)
    if opts["geography"] == "2008" and period.end_date > REFORM_DATE:
        raise run_design.DesignOptionError(_l(
            "The 63-province geography is only for periods that end before 1 July 2025"))
    run = AnalysisRun(period_id=period.id, status="queued", progress=0.0,
                      progress_note="queued", created_at=utcnow(),
                      created_by_id=getattr(user, "id", None), design=opts,
                      geography=opts["geography"])
    db.session.add(run)
    db.session.flush()
    audit.record("run.create", "analysis_run", run.id, user=user,
                 after={"period": period.code, "design": opts})
    db.session.commit()
    return run


def claim(run_id: int | None = None) -> int | None:
    """Atomically mark one queued run (or ``run_id``) running; returns its id or None."""
    stmt = select(AnalysisRun.id).where(AnalysisRun.status == "queued")
    if run_id is not None:
        stmt = stmt.where(AnalysisRun.id == run_id)
    for candidate in db.session.scalars(stmt.order_by(AnalysisRun.id).limit(5)).all():
        taken = db.session.execute(
            update(AnalysisRun).where(AnalysisRun.id == candidate,
                                      AnalysisRun.status == "queued")
            .values(status="running", started_at=utcnow(), progress=0.01,
                    progress_note="starting"))
        db.session.commit()
        if taken.rowcount == 1:
            return candidate
    return None


def _progress(run_id: int, fraction: float, note: str) -> None:
    db.session.rollback()  # end any read transaction; the data is in memory
    db.session.execute(update(AnalysisRun).where(AnalysisRun.id == run_id)
                       .values(progress=fraction, progress_note=note[:200]))
    db.session.commit()


def execute(run_id: int) -> AnalysisRun:
    """Run a claimed run to the end; failures are stored on the run, never raised."""
    try:
        _execute(run_id)
    except Exception as exc:  # noqa: BLE001 - every failure must land on the run page
        db.session.rollback()
        if isinstance(exc, RunFailure):
            code, detail = exc.code, exc.detail
        elif isinstance(exc, (SurveyError, run_design.DesignOptionError)):
            with current_app.test_request_context():  # lazy messages need a locale
                code, detail = "design", str(exc)
        else:
            log.exception("analysis run %s failed", run_id)
            code, detail = "internal", f"{type(exc).__name__}: {exc}"
        db.session.execute(update(AnalysisRun).where(AnalysisRun.id == run_id).values(
            status="failed", finished_at=utcnow(), error=f"{code}|{detail}"[:4000],
            progress_note="failed"))
        db.session.commit()
    db.session.expire_all()
    run = db.session.get(AnalysisRun, run_id)
    assert run is not None
    return run


def _execute(run_id: int) -> None:
    """Load, weight, estimate, compare and store one run.

    Independent stages overlap (this is the worker, never a web request): PostgreSQL reads
    the answers while the weights and design are built from the rest of the table, and the
    indices, contrasts and storing of the levels overlap (``run_estimate``)."""
    # the engine (scipy & co.) is loaded by the first run, not when the web app starts
    from surveyapp.services.run_estimate import estimate_and_store

    t0 = time.perf_counter()
    timing: dict[str, float] = {}
    run = db.session.get(AnalysisRun, run_id)
    assert run is not None
    period, opts = run.period, run_design.normalise(run.design)
    _progress(run_id, 0.05, "loading responses")
    with reading_table(period, opts["geography"]) as reading:
        frame = load_frame(period)
        timing["load"] = time.perf_counter() - t0
        if reading.base.n == 0:
            raise RunFailure("no_responses")
        if opts["weights"] == "frame" and frame.empty:
            raise RunFailure("no_frame")
        _progress(run_id, 0.3, "weights and design")
        t = time.perf_counter()
        built = run_design.build(reading.base, frame, opts)
        timing["design"] = time.perf_counter() - t
        t = time.perf_counter()
        table = reading.finish()
    built = built.with_items(table)
    input_hash = table_hash(table, frame)
    items, n_responses, reaggregated = table.items, table.n, table.reaggregated
    design, excluded, built_diagnostics = built.design, built.excluded, built.diagnostics
    frame_report = built.frame_report
    del table, reading, built  # the design holds the rows it uses; the rest can go now
    timing["answers"] = time.perf_counter() - t
    _progress(run_id, 0.45, "indices, comparisons and storing")
    db.session.execute(delete(RunResult).where(RunResult.run_id == run_id))
    estimated = estimate_and_store(run_id, design, items, opts)
    timing.update(estimated.timing)
    t = time.perf_counter()
    notes = []
    if reaggregated:
        notes.append(REFORM_NOTE)
    diagnostics = dict(built_diagnostics)
    diagnostics["collapsed"] = collapsed_cells(frame_report)
    diagnostics["histogram"] = histogram(design.weights)
    diagnostics["notes"] = notes
    diagnostics["n_results"] = estimated.n_rows
    diagnostics["vs_rest"] = estimated.how
    timing["finish"] = time.perf_counter() - t
    timing["total"] = time.perf_counter() - t0
    diagnostics["timing"] = {k: round(v, 3) for k, v in timing.items()}
    db.session.execute(update(AnalysisRun).where(AnalysisRun.id == run_id).values(
        status="done", finished_at=utcnow(), progress=1.0, progress_note="done",
        input_hash=input_hash, code_version=code_version(), n_responses=n_responses,
        excluded=excluded, diagnostics=diagnostics, design=opts,
        reaggregated=bool(reaggregated), error=None))
    db.session.commit()


def run_now(period: Period, design: dict[str, Any] | None = None,
            user: Any = None) -> AnalysisRun:
    """Queue and execute a run in this process; returns it finished (done or failed)."""
    run = create_run(period, design, user)
    claimed = claim(run.id)
    assert claimed == run.id
    return execute(run.id)


def process_queue(limit: int | None = None) -> int:
    """Execute queued runs one after another until none is left (or ``limit``)."""
    done = 0
    while limit is None or done < limit:
        run_id = claim()
        if run_id is None:
            break
        execute(run_id)
        done += 1
    return done


# ---------------------------------------------------------------------- background thread
_thread_lock = threading.Lock()
_wakeup = threading.Event()
_threads: dict[int, threading.Thread] = {}


def thread_enabled(app: Flask) -> bool:
    flag = app.config.get("RUN_WORKER_THREAD")
    return (not app.testing) if flag is None else bool(flag)


def wake_background_worker() -> bool:
    """Start (once per app) or wake the in-process worker thread; False when disabled."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not thread_enabled(app):
        return False
    with _thread_lock:
        thread = _threads.get(id(app))
        if thread is None or not thread.is_alive():
            thread = threading.Thread(target=_loop, args=(app,), name="sipas-run-worker",
                                      daemon=True)
            _threads[id(app)] = thread
            thread.start()
    _wakeup.set()
    return True


def _loop(app: Flask) -> None:
    while True:
        with app.app_context():
            try:
                process_queue()
            except Exception:  # noqa: BLE001 - keep the thread alive
                log.exception("run worker loop")
            finally:
                db.session.remove()
        _wakeup.wait(timeout=30)
        _wakeup.clear()


# ---------------------------------------------------------------------- publishing
class PublishError(ValueError):
    """Only finished runs can be published (message is an English msgid)."""


def publish(run: AnalysisRun, user: Any = None) -> None:
    if run.status != "done":
        raise PublishError(_l("Only a finished run can be published"))
    if run.published:
        return
    run.published, run.published_at = True, utcnow()
    run.published_by_id = getattr(user, "id", None)
    audit.record("run.publish", "analysis_run", run.id, user=user,
                 before={"published": False}, after={"published": True,
                                                     "period": run.period.code})
    db.session.commit()


def unpublish(run: AnalysisRun, user: Any = None) -> None:
    if not run.published:
        return
    run.published, run.published_at, run.published_by_id = False, None, None
    audit.record("run.unpublish", "analysis_run", run.id, user=user,
                 before={"published": True}, after={"published": False,
                                                    "period": run.period.code})
    db.session.commit()


__all__ = ["PROGRESS_NOTES", "PublishError", "RunFailure", "claim", "code_version",
           "create_run", "execute", "process_queue", "progress_label", "publish", "run_now",
           "unpublish", "wake_background_worker"]
