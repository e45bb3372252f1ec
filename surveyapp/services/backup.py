"""Backup and restore of the whole database, and a checksum to prove a restore is faithful.

* SQLite: the online backup API (``sqlite3.Connection.backup``) copies a consistent snapshot
  while the app keeps serving (WAL mode); restore copies the snapshot back the same way.
* PostgreSQL: ``pg_dump --format=custom`` of the app's schema, restored with
  ``pg_restore --clean --if-exists`` in one transaction.

``responses_checksum`` hashes every response and answer in a canonical order, so a round trip
can be checked by numbers rather than by eye.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.engine import URL, make_url

from surveyapp.extensions import db
from surveyapp.models import Answer, Response


class BackupError(RuntimeError):
    """Backup or restore failed; the message says what to do."""


def backup(target: Path) -> Path:
    """Write a consistent snapshot of the database to ``target``."""
    url = db.engine.url
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if url.get_backend_name() == "sqlite":
        _sqlite_copy(_sqlite_path(url), target)
    elif url.get_backend_name() == "postgresql":
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
              f"--schema={_pg_schema()}", f"--file={target}", "--dbname", _libpq(url)])
    else:
        raise BackupError(f"Backup is not supported for {url.get_backend_name()}")
    return target


def restore(source: Path) -> None:
    """Replace the database's contents with the snapshot in ``source``."""
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"Backup file not found: {source}")
    url = db.engine.url
    db.session.remove()
    db.engine.dispose()  # no pooled connection may keep the old file or schema open
    if url.get_backend_name() == "sqlite":
        _check_sqlite_snapshot(source)
        _sqlite_copy(source, _sqlite_path(url))
    elif url.get_backend_name() == "postgresql":
        _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges",
              "--single-transaction", "--exit-on-error", "--dbname", _libpq(url), str(source)])
    else:
        raise BackupError(f"Restore is not supported for {url.get_backend_name()}")
    db.engine.dispose()


def responses_checksum() -> tuple[int, int, str]:
    """(responses, answers, SHA-256 over both in id order): equal before and after a restore."""
    digest = hashlib.sha256()
    n_resp = db.session.scalar(select(func.count()).select_from(Response)) or 0
    n_ans = db.session.scalar(select(func.count()).select_from(Answer)) or 0
    rows = db.session.execute(
        select(Response.id, Response.centre_id, Response.channel, Response.version_id,
               Response.submitted_at, Response.comment).order_by(Response.id)
    )
    for row in rows:
        digest.update(repr(tuple(row)).encode())
    answers = db.session.execute(
        select(Answer.response_id, Answer.item_id, Answer.value, Answer.not_applicable)
        .order_by(Answer.response_id, Answer.item_id)
    )
    for row in answers:
        digest.update(repr(tuple(row)).encode())
    return n_resp, n_ans, digest.hexdigest()


# ---------------------------------------------------------------------- SQLite
def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("An in-memory SQLite database cannot be backed up")
    return Path(url.database)


def _sqlite_copy(source: Path, target: Path) -> None:
    """Page-by-page copy through the online backup API (consistent even while writing).

    A new file is written beside the target and renamed into place; an existing database (a
    restore) is overwritten through the API itself, which the other connections see safely.
    """
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    partial = None if target.exists() else target.with_name(target.name + ".part")
    try:
        dest = sqlite3.connect(partial or target)
        try:
            src.backup(dest)
        finally:
            dest.close()
    finally:
        src.close()
    if partial is not None:
        os.replace(partial, target)


def _check_sqlite_snapshot(source: Path) -> None:
    try:
        conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            ok = conn.execute("PRAGMA integrity_check").fetchone()
            has_schema = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE name = 'alembic_version'"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{source} is not a SQLite backup: {exc}") from None
    if not ok or ok[0] != "ok" or not has_schema or not has_schema[0]:
        raise BackupError(f"{source} is not a sipas SQLite backup (integrity or schema check)")


# ---------------------------------------------------------------------- PostgreSQL
def _libpq(url: URL) -> str:
    """A libpq connection string for pg_dump/pg_restore (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_schema() -> str:
    return str(db.session.scalar(text("SELECT current_schema()")))


def _run(argv: list[str]) -> None:
    if shutil.which(argv[0]) is None:
        raise BackupError(f"{argv[0]} is not installed (Debian package postgresql-client)")
    result = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"{argv[0]} failed: {result.stderr.strip()[:500]}")
