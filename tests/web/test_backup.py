"""Backup and restore round trip: row counts and a checksum of every response and answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import delete, func, select

from surveyapp.extensions import db
from surveyapp.models import Answer, Response
from surveyapp.services.backup import BackupError, responses_checksum


@pytest.fixture
def app_with_responses(app: Flask) -> Flask:
    from surveyapp.services import demo

    with app.app_context():
        demo.load(responses=60, seed=11)
        db.session.commit()
    return app


def test_round_trip_restores_every_response(app_with_responses: Flask, tmp_path: Path) -> None:
    app = app_with_responses
    runner = app.test_cli_runner()
    target = tmp_path / "sipas.backup"
    with app.app_context():
        before = responses_checksum()
    assert before[0] == 60
    assert before[1] > 60
    result = runner.invoke(args=["backup", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.stat().st_size > 0
    with app.app_context():  # lose data after the backup
        db.session.execute(delete(Answer))
        db.session.execute(delete(Response))
        db.session.commit()
        assert responses_checksum()[0] == 0
    result = runner.invoke(args=["restore", str(target), "--yes"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert responses_checksum() == before
        assert db.session.scalar(select(func.count()).select_from(Response)) == 60


def test_checksum_sees_a_changed_answer(app_with_responses: Flask) -> None:
    with app_with_responses.app_context():
        before = responses_checksum()
        answer = db.session.scalars(select(Answer).where(Answer.value.is_not(None))).first()
        assert answer is not None
        answer.value = 1 if answer.value != 1 else 2
        db.session.commit()
        assert responses_checksum()[2] != before[2]


def test_restore_refuses_a_file_that_is_not_a_backup(app: Flask, tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-backup.db"
    bogus.write_bytes(b"PK\x03\x04 this is a zip, not a database")
    runner = app.test_cli_runner()
    with app.app_context():
        before = responses_checksum()
    result = runner.invoke(args=["restore", str(bogus), "--yes"])
    assert result.exit_code != 0
    assert "backup" in result.output.lower() or "failed" in result.output.lower()
    with app.app_context():
        assert responses_checksum() == before  # nothing was touched


def test_restore_of_a_missing_file(app: Flask, tmp_path: Path) -> None:
    from surveyapp.services.backup import restore

    with app.app_context(), pytest.raises(BackupError, match="not found"):
        restore(tmp_path / "missing")
