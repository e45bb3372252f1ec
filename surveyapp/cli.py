"""Command line: ``flask --app surveyapp <command>`` or the ``sipas`` console script.

Commands stay thin; the work is in ``surveyapp.services`` and ``surveyapp.exports``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select

from surveyapp.extensions import db

# Order matters only for `--help`; every command needs an app context (FlaskGroup gives it).


def init_app(app: Flask) -> None:
    from surveyapp.i18n_cli import translate

    for command in (load_units_cmd, load_questionnaire_cmd, demo_cmd, kiosk_register_cmd,
                    kiosk_revoke_cmd, links_cmd, export_cmd, create_user_cmd, backup_cmd,
                    restore_cmd, translate):
        app.cli.add_command(command)
    register_stats_commands(app)
    app.cli.add_command(report_cmd)


def main() -> None:
    """Entry point of the ``sipas`` console script."""
    from surveyapp import create_app

    FlaskGroup(create_app=lambda: create_app())(prog_name="sipas")


@click.command("load-units")
@with_appcontext
def load_units_cmd() -> None:
    """Load the 63 (until 2025-06-30) and 34 (from 2025-07-01) provinces, with successors."""
    from surveyapp.services.reference import load_units

    counts = load_units()
    click.echo(f"provinces: {counts['created']} created, {counts['updated']} already present")


@click.command("load-questionnaire")
@click.option("--code", default="sipas-2023", show_default=True,
              type=click.Choice(["sipas-2023", "sipas-2017"]))
@with_appcontext
def load_questionnaire_cmd(code: str) -> None:
    """Load the standard SIPAS questionnaire from sipas-criteria.csv (idempotent)."""
    from surveyapp.services.questionnaires import load_questionnaire

    version = load_questionnaire(code)
    click.echo(f"questionnaire {version.key}: {len(version.items)} items ({version.status})")


@click.command("demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when centres already exist.")
@click.option("--responses", default=400, show_default=True, type=click.IntRange(0, 100_000))
@click.option("--seed", default=2025, show_default=True, type=int)
@with_appcontext
def demo_cmd(if_empty: bool, responses: int, seed: int) -> None:
    """Load units, questionnaire, demo communes, centres, counters, kiosks and responses."""
    from surveyapp.models import ServiceCentre
    from surveyapp.services import demo

    if if_empty and db.session.scalar(select(ServiceCentre.id).limit(1)) is not None:
        click.echo("demo: database already has centres; nothing to do")
        return
    result = demo.load(responses=responses, seed=seed)
    click.echo(f"demo: {result.centres} centres, {result.responses} responses")
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    click.echo("kiosks (id, token, set-up address) — shown once:")
    for cred in result.kiosks:
        click.echo(f"  {cred.id}  {cred.token}  {base}/k/{cred.id}/setup?token={cred.token}")
    click.echo("phone links:")
    for code, query in result.links:
        click.echo(f"  {code}: {base}/s/{code}?{query}")


@click.command("kiosk-register")
@click.option("--centre", "centre_code", required=True, help="Service centre code.")
@click.option("--counter", "counter_code", default=None, help="Counter code (optional).")
@click.option("--label", default="", help="Where the kiosk stands, for staff.")
@with_appcontext
def kiosk_register_cmd(centre_code: str, counter_code: str | None, label: str) -> None:
    """Register a kiosk and print its id and token (the token is shown only this once)."""
    from surveyapp.services import kiosks

    centre = kiosks.find_centre(centre_code)
    if centre is None:
        raise click.BadParameter(f"unknown centre {centre_code!r}", param_hint="--centre")
    counter = None
    if counter_code is not None:
        counter = next((c for c in centre.counters if c.code == counter_code), None)
        if counter is None:
            raise click.BadParameter(f"unknown counter {counter_code!r}", param_hint="--counter")
    cred = kiosks.register(centre, counter, label)
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    click.echo(f"kiosk id: {cred.id}")
    click.echo(f"token:    {cred.token}")
    click.echo(f"set up:   {base}/k/{cred.id}/setup  (enter the token there once)")


@click.command("kiosk-revoke")
@click.argument("kiosk_id")
@with_appcontext
def kiosk_revoke_cmd(kiosk_id: str) -> None:
    """Switch a kiosk off: its token and device cookie stop working at once."""
    from surveyapp.models import Kiosk
    from surveyapp.services import kiosks

    kiosk = db.session.get(Kiosk, kiosk_id)
    if kiosk is None:
        raise click.BadParameter(f"unknown kiosk {kiosk_id!r}", param_hint="KIOSK_ID")
    kiosks.revoke(kiosk)
    click.echo(f"kiosk {kiosk_id} revoked")


@click.command("links")
@click.option("--centre", "centre_codes", multiple=True, help="Only these centres.")
@click.option("--per-counter", is_flag=True, help="One link per counter as well.")
@click.option("--channel", type=click.Choice(["phone-qr", "receipt-link"]), default="phone-qr",
              show_default=True)
@click.option("--days", type=click.IntRange(1, 3650), default=None,
              help="Validity in days (default: LINK_VALID_DAYS).")
@click.option("--base-url", default=None, help="Public address (default: PUBLIC_BASE_URL).")
@click.option("--posters", "poster_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Write a QR poster (PNG, SVG, PDF) per link into this folder.")
@with_appcontext
def links_cmd(centre_codes: tuple[str, ...], per_counter: bool, channel: str, days: int | None,
              base_url: str | None, poster_dir: Path | None) -> None:
    """Print each centre's signed phone link; optionally write printable QR posters."""
    from surveyapp.exports.posters import write_posters
    from surveyapp.models import ServiceCentre
    from surveyapp.services import links

    base = (base_url or current_app.config["PUBLIC_BASE_URL"]).rstrip("/")
    query = select(ServiceCentre).where(ServiceCentre.active.is_(True))
    if centre_codes:
        query = query.where(ServiceCentre.code.in_(centre_codes))
    centres = list(db.session.scalars(query.order_by(ServiceCentre.code)))
    missing = set(centre_codes) - {c.code for c in centres}
    if missing:
        raise click.BadParameter(f"unknown centre(s): {', '.join(sorted(missing))}",
                                 param_hint="--centre")
    ch = "r" if channel == "receipt-link" else "q"
    for centre in centres:
        targets = [None] + ([c for c in centre.counters if c.active] if per_counter else [])
        for counter in targets:
            link = links.make(centre.code, counter.code if counter else None, ch, days)
            url = f"{base}/s/{centre.code}?{link.query()}"
            click.echo(f"{centre.code}\t{counter.code if counter else '-'}\t{url}")
            if poster_dir is not None:
                paths = write_posters(poster_dir, centre, counter, url, link.expires)
                for path in paths:
                    click.echo(f"  wrote {path}")


def _date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@click.command("export-responses")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "parquet"]), required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--from", "date_from", default=None, help="First day (YYYY-MM-DD, Vietnam time).")
@click.option("--to", "date_to", default=None, help="Last day, inclusive.")
@click.option("--province", default=None, help="Province code in force on the response date.")
@click.option("--comments", is_flag=True, help="Append the free-text comment column.")
@with_appcontext
def export_cmd(fmt: str, output: Path, date_from: str | None, date_to: str | None,
               province: str | None, comments: bool) -> None:
    """Export one row per response, streamed in chunks (bounded memory)."""
    from surveyapp.exports.responses import ExportFilter, export

    flt = ExportFilter(date_from=_date(date_from), date_to=_date(date_to), province=province,
                       comments=comments)
    if flt.date_from and flt.date_to and flt.date_from > flt.date_to:
        raise click.BadParameter("--from is after --to")
    n = export(fmt, output, flt)
    click.echo(f"exported {n} responses to {output}")


@click.command("create-user")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["admin", "statistician", "province"]))
@click.option("--province", "province_code", help="Province code (role province), e.g. 01.")
@click.option("--name", "display_name", default="", help="Name shown on pages.")
@click.password_option(help="At least 10 characters; prompted (twice) when omitted.")
@with_appcontext
def create_user_cmd(username: str, role: str, province_code: str | None, display_name: str,
                    password: str) -> None:
    """Create a staff account (admin, statistician, or province user of one province)."""
    from surveyapp.services import audit
    from surveyapp.services.accounts import AccountError, create_user

    try:
        user = create_user(username, password, role, province_code=province_code,
                           display_name=display_name)
        db.session.flush()
        audit.record("user.create", "user", user.id, after={"username": user.username,
                     "role": role, "province": province_code})
        db.session.commit()
    except AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    click.echo(f"user {user.username} ({role}{' ' + province_code if province_code else ''}) "
               "created")


@click.command("backup")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="Backup file (SQLite snapshot, or pg_dump custom format on PostgreSQL).")
@with_appcontext
def backup_cmd(output: Path) -> None:
    """Write a consistent backup of the whole database (safe while the app is serving)."""
    from surveyapp.services.backup import BackupError, backup, responses_checksum

    try:
        backup(output)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    n_resp, n_ans, digest = responses_checksum()
    click.echo(f"backup written to {output}: {n_resp} responses, {n_ans} answers, "
               f"sha256 {digest[:16]}")


@click.command("restore")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def restore_cmd(source: Path, yes: bool) -> None:
    """Replace the database's contents with a backup made by `backup`."""
    from surveyapp.services.backup import BackupError, responses_checksum, restore

    if not yes:
        click.confirm("This replaces every row in the database with the backup. Continue?",
                      abort=True)
    try:
        restore(source)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    n_resp, n_ans, digest = responses_checksum()
    click.echo(f"restored from {source}: {n_resp} responses, {n_ans} answers, "
               f"sha256 {digest[:16]}")


def register_stats_commands(app: Flask) -> None:
    """Statistician workflow commands (period-create, import-frame, run, worker, publish)."""
    from surveyapp.stats.commands import COMMANDS

    for command in COMMANDS:
        app.cli.add_command(command)


@click.command("report")
@click.option("--run", "run_id", required=True, type=int, help="Analysis run id.")
@click.option("--unit", "unit", required=True, help="Province code, e.g. 01.")
@click.option("--format", "fmt", required=True, type=click.Choice(["csv", "xlsx", "pdf"]))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--lang", default="vi", show_default=True, type=click.Choice(["vi", "en"]))
@with_appcontext
def report_cmd(run_id: int, unit: str, fmt: str, output: Path, lang: str) -> None:
    """Write one province's report (the dashboard's CSV, XLSX or PDF file) for a run."""
    from surveyapp.reports.cli import write_report

    write_report(run_id, unit, fmt, output, lang)
