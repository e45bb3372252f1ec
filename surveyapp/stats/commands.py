"""Statistician commands: the same workflow as the /analysis/ pages, for scripts and servers.

``period-create``, ``import-frame``, ``demo-frame``, ``run-analysis``, ``worker``,
``publish``. Registered by ``surveyapp.cli.init_app``. Actions are audited as user ``cli``.
(``run-analysis``, not ``run``: Flask's built-in ``flask run`` -- the development server --
always wins over an app command of the same name.)
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import click
from flask.cli import with_appcontext

from surveyapp.extensions import db


def _text(message: object) -> str:
    """Render a (lazy) translated message outside a request: in Vietnamese, the default."""
    from flask import current_app

    with current_app.test_request_context():
        return message.message() if hasattr(message, "message") else str(message)


def _period(code: str):  # noqa: ANN202 - returns a Period
    from surveyapp.services import frames

    period = frames.get_period(code)
    if period is None:
        raise click.BadParameter(f"unknown period {code!r}", param_hint="--period")
    return period


def _day(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=name
                                 ) from None


@click.command("period-create")
@click.argument("code")
@click.option("--start", default=None, help="First day, YYYY-MM-DD (default for YYYY-Qn).")
@click.option("--end", default=None, help="Day after the last day (exclusive).")
@click.option("--label-vi", default="", help="Vietnamese label, e.g. 'Quý 1/2026'.")
@click.option("--label-en", default="", help="English label, e.g. 'Q1 2026'.")
@with_appcontext
def period_create_cmd(code: str, start: str | None, end: str | None, label_vi: str,
                      label_en: str) -> None:
    """Create a reporting period, e.g. 2026-Q1 (dates implied for quarters)."""
    from surveyapp.services import frames

    implied = frames.quarter_dates(code)
    if start is None or end is None:
        if implied is None:
            raise click.UsageError("give --start and --end for periods other than YYYY-Qn")
        start_d, end_d = implied
    else:
        start_d, end_d = _day(start, "--start"), _day(end, "--end")
    m = code.split("-Q")
    if not label_vi and len(m) == 2:
        label_vi, label_en = f"Quý {m[1]}/{m[0]}", label_en or f"Q{m[1]} {m[0]}"
    try:
        period = frames.create_period(code, label_vi, label_en, start_d, end_d)
        db.session.commit()
    except frames.PeriodError as exc:
        db.session.rollback()
        raise click.ClickException(_text(exc)) from None
    click.echo(f"period {period.code}: {period.start_date} .. {period.end_date} (exclusive)")


@click.command("import-frame")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--period", "code", required=True, help="Period code, e.g. 2026-Q1.")
@with_appcontext
def import_frame_cmd(file: Path, code: str) -> None:
    """Validate a frame file (CSV UTF-8 or XLSX) and, only if all of it is valid, replace the
    period's frame with it. Columns: centre_code, field_code (optional), dossiers."""
    from surveyapp.services import frames_io

    period = _period(code)
    if file.stat().st_size > frames_io.MAX_BYTES:
        raise click.ClickException(_text(frames_io.Problem(None, "too_large", {
            "mb": frames_io.MAX_BYTES // 2**20})))
    parsed, stats = frames_io.import_frame(period, file.read_bytes(), file.name)
    if stats is None:
        for p in parsed.problems:
            click.echo(f"row {p.row}: {_text(p)}" if p.row else _text(p), err=True)
        raise click.ClickException(f"{len(parsed.problems)} problem(s); nothing was stored")
    click.echo(f"frame {period.code}: {stats.cells} cells, {stats.centres} centres, "
               f"{stats.dossiers} dossiers")


@click.command("demo-frame")
@click.option("--period", "code", required=True)
@with_appcontext
def demo_frame_cmd(code: str) -> None:
    """Write a plausible frame for the demo responses of a period (demo databases only)."""
    from surveyapp.services import run_demo

    stats = run_demo.demo_frame(_period(code))
    db.session.commit()
    click.echo(f"demo frame {code}: {stats.cells} cells, {stats.dossiers} dossiers")


@click.command("run-analysis")
@click.option("--period", "code", required=True)
@click.option("--design", "design_file", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="JSON file of design options (see the design page).")
@click.option("--wait", is_flag=True, help="Execute now in this process and print the result.")
@with_appcontext
def run_analysis_cmd(code: str, design_file: Path | None, wait: bool) -> None:
    """Queue an analysis run of a period (a worker executes it), or run it now with --wait."""
    from surveyapp.services import run_design, runs

    period = _period(code)
    try:
        design = json.loads(design_file.read_text(encoding="utf-8")) if design_file else None
        run = runs.create_run(period, design)
    except (ValueError, run_design.DesignOptionError) as exc:
        raise click.ClickException(f"design: {_text(exc)}") from None
    if not wait:
        click.echo(f"run {run.id} queued; `flask --app surveyapp worker` executes it")
        return
    t0 = time.perf_counter()
    runs.claim(run.id)
    run = runs.execute(run.id)
    if run.status != "done":
        raise click.ClickException(f"run {run.id} failed: {run.error}")
    click.echo(f"run {run.id} done in {time.perf_counter() - t0:.1f} s: {run.n_responses} "
               f"responses, input hash {run.input_hash}")


@click.command("worker")
@click.option("--once", is_flag=True, help="Process the queue once and exit.")
@click.option("--poll", default=5.0, show_default=True, help="Seconds between queue checks.")
@with_appcontext
def worker_cmd(once: bool, poll: float) -> None:
    """Execute queued analysis runs (run one or more next to the web server in production)."""
    from surveyapp.services import runs

    while True:
        n = runs.process_queue()
        if n:
            click.echo(f"processed {n} run(s)")
        if once:
            return
        db.session.remove()
        time.sleep(poll)


@click.command("publish")
@click.option("--run", "run_id", required=True, type=int)
@click.option("--undo", is_flag=True, help="Unpublish instead.")
@with_appcontext
def publish_cmd(run_id: int, undo: bool) -> None:
    """Publish a finished run (province users see published runs only), or --undo it."""
    from surveyapp.models import AnalysisRun
    from surveyapp.services import runs

    run = db.session.get(AnalysisRun, run_id)
    if run is None:
        raise click.BadParameter(f"unknown run {run_id}", param_hint="--run")
    try:
        (runs.unpublish if undo else runs.publish)(run)
    except runs.PublishError as exc:
        raise click.ClickException(_text(exc)) from None
    click.echo(f"run {run_id} {'unpublished' if undo else 'published'}")


COMMANDS = (period_create_cmd, import_frame_cmd, demo_frame_cmd, run_analysis_cmd, worker_cmd,
            publish_cmd)


@click.command("run-table")
@click.option("--run", "run_id", required=True, type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@with_appcontext
def run_table_cmd(run_id: int, output: Path) -> None:
    """Write a finished run's analysis table (weights, strata, PSUs, fpc) as CSV and print the
    `python -m analysis` command that reproduces its numbers."""
    from surveyapp.models import AnalysisRun
    from surveyapp.services import run_export

    run = db.session.get(AnalysisRun, run_id)
    if run is None or run.status != "done":
        raise click.BadParameter(f"no finished run {run_id}", param_hint="--run")
    try:
        cmd = run_export.export(run, output)
    except run_export.StaleRun as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {output}")
    click.echo(cmd)


COMMANDS = (*COMMANDS, run_table_cmd)
