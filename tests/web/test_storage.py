"""Schema and storage rules: migrations match the models on both backends, version freezing,
effective-dated units, and the unit recorded on a response."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from surveyapp.models import Item, QuestionnaireVersion, Response
from tests.web.helpers import VERSION, payload


def test_upgrade_head_matches_models(app):
    """The migrated database (built by ``flask db upgrade`` in conftest) has no diff against
    the models: autogenerate would produce an empty revision."""
    from surveyapp.extensions import db

    with app.app_context(), db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                     "render_as_batch": True})
        diff = compare_metadata(ctx, db.metadata)
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert diff == []
    assert version == _head_revision()


def _head_revision() -> str:
    """The single head of the migration history (two heads would be a merge bug)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from surveyapp import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", MIGRATIONS_DIR)
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"migration history has several heads: {heads}"
    return heads[0]


def test_compare_detects_a_difference(app):
    """Control: the comparison above is able to fail."""
    from sqlalchemy import Column, Integer, MetaData, Table

    from surveyapp.extensions import db

    extra = MetaData()
    for table in db.metadata.tables.values():
        table.to_metadata(extra)
    Table("not_migrated", extra, Column("id", Integer, primary_key=True))
    with app.app_context(), db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), extra)
    assert any(d[0] == "add_table" and d[1].name == "not_migrated" for d in diff)


def test_sqlite_pragmas(app):
    from surveyapp.extensions import db

    with app.app_context(), db.engine.connect() as conn:
        if db.engine.dialect.name != "sqlite":
            assert db.engine.dialect.name == "postgresql"
            return
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10000


def submit(client, kiosk, **overrides):
    body = payload(**overrides)
    r = client.post("/api/v1/responses", data=json.dumps(body), headers=kiosk.auth,
                    content_type="application/json")
    return r, body


def test_first_response_freezes_version(app, client, kiosk):
    from surveyapp.extensions import db
    from surveyapp.services import questionnaires

    with app.app_context():
        assert not questionnaires.by_key(VERSION).frozen
    r, _ = submit(client, kiosk)
    assert r.status_code == 201
    with app.app_context():
        version = questionnaires.by_key(VERSION)
        assert version.frozen
        item = version.items[0]
        item.text_vi = "Đã sửa"
        with pytest.raises(questionnaires.FrozenVersionError):
            db.session.commit()
        db.session.rollback()


def test_editing_frozen_version_creates_new_version(app, client, kiosk):
    from surveyapp.extensions import db
    from surveyapp.services import questionnaires

    submit(client, kiosk)
    with app.app_context():
        old = questionnaires.by_key(VERSION)

        def reword(version: QuestionnaireVersion) -> None:
            version.items[0].text_vi = "Thông tin thủ tục dễ tìm, dễ hiểu."

        new = questionnaires.revise(old, reword)
        assert new.key == "sipas-2023.v2"
        assert new.status == "active"
        assert not new.frozen
        assert len(new.items) == 19
        db.session.refresh(old)
        assert old.status == "retired"
        assert old.items[0].text_vi != "Thông tin thủ tục dễ tìm, dễ hiểu."
        assert questionnaires.current_version("sipas-2023").key == "sipas-2023.v2"
    # responses keep pointing at the version they answered; the retired one is still accepted
    r, body = submit(client, kiosk)
    assert r.status_code == 201
    r2, body2 = submit(client, kiosk, questionnaire="sipas-2023.v2")
    assert r2.status_code == 201
    with app.app_context():
        keys = {str(r.id): r.version.key for r in db.session.scalars(select(Response))}
        assert keys[body["id"]] == "sipas-2023.v1"
        assert keys[body2["id"]] == "sipas-2023.v2"


def test_unfrozen_version_is_edited_in_place(app):
    from surveyapp.services import questionnaires

    with app.app_context():
        version = questionnaires.by_key(VERSION)

        def drop_na(v: QuestionnaireVersion) -> None:
            v.items[0].allow_na = False

        assert questionnaires.revise(version, drop_na).key == VERSION


def test_draft_version_is_not_accepted(app, client, kiosk):
    from surveyapp.extensions import db
    from surveyapp.services import questionnaires

    with app.app_context():
        questionnaires.by_key(VERSION).status = "draft"
        db.session.commit()
    r, _ = submit(client, kiosk)
    assert r.status_code == 422


def test_load_questionnaire_again_with_changed_csv_makes_new_version(app, client, kiosk):
    """Reloading identical data changes nothing; the questionnaire is data, not code."""
    from surveyapp.services import questionnaires

    submit(client, kiosk)
    with app.app_context():
        assert questionnaires.load_questionnaire("sipas-2023").key == VERSION


def test_unit_valid_on_response_date(app, client):
    """A response dated before the reform is attached to the 63-province unit that then
    covered the centre (same code), after the reform to the 34-province unit."""
    from surveyapp.extensions import db
    from surveyapp.models import AdminUnit, ServiceCentre
    from surveyapp.services.submissions import resolve_units

    with app.app_context():
        centre = db.session.scalar(select(ServiceCentre).where(ServiceCentre.code == "P01"))
        unit, prov = resolve_units(centre, dt.date(2025, 6, 30))
        assert (unit.code, unit.valid_to) == ("01", dt.date(2025, 7, 1))
        unit, prov = resolve_units(centre, dt.date(2025, 7, 1))
        assert (unit.code, unit.valid_to) == ("01", None)
        # a merged province: today's Bắc Ninh (24) was Bắc Giang (24) + Bắc Ninh (27)
        bac_ninh = db.session.scalar(select(AdminUnit).where(AdminUnit.code == "24",
                                                             AdminUnit.valid_to.is_(None)))
        db.session.add(ServiceCentre(code="P24", name_vi="TTPVHCC Bắc Ninh",
                                     name_en="PASC Bac Ninh", kind="provincial-centre",
                                     unit_id=bac_ninh.id))
        db.session.commit()
        centre = db.session.scalar(select(ServiceCentre).where(ServiceCentre.code == "P24"))
        unit, prov = resolve_units(centre, dt.date(2025, 3, 1))
        assert unit.name_vi == "Bắc Giang"
        assert prov is unit


def test_offline_upload_uses_device_date(app, client, kiosk):
    from surveyapp.extensions import db

    r, body = submit(client, kiosk, client_time="2026-11-20T08:00:00+07:00")
    assert r.status_code == 201
    with app.app_context():
        stored = db.session.get(Response, uuid.UUID(body["id"]))
        assert stored.client_time == dt.datetime(2026, 11, 20, 1, 0)
        assert stored.unit.code == "00004"


def test_names_are_nfc_and_codes_keep_zeros(app):
    import unicodedata

    from surveyapp.extensions import db
    from surveyapp.models import AdminUnit

    with app.app_context():
        unit = AdminUnit(code="00099", level="commune", name_vi=unicodedata.normalize(
            "NFD", "Phường Hòa Khánh"), name_en="Hoa Khanh", kind="phuong",
            valid_from=dt.date(2025, 7, 1))
        db.session.add(unit)
        db.session.commit()
        stored = db.session.get(AdminUnit, unit.id)
        assert stored.name_vi == unicodedata.normalize("NFC", "Phường Hòa Khánh")
        assert stored.code == "00099"


def test_answer_constraints_reject_na_with_value(app, client, kiosk):
    """The database itself refuses an N/A answer carrying a value, or a value of 6."""
    from sqlalchemy.exc import IntegrityError

    from surveyapp.extensions import db
    from surveyapp.models import Answer

    r, body = submit(client, kiosk, answers={"C1.1": 4})
    with app.app_context():
        item = db.session.scalar(select(Item).where(Item.code == "C1.2"))
        for value, na in ((3, True), (6, False), (None, False)):
            db.session.add(Answer(response_id=uuid.UUID(body["id"]), item_id=item.id,
                                  value=value, not_applicable=na))
            with pytest.raises(IntegrityError):
                db.session.commit()
            db.session.rollback()


@pytest.fixture
def empty_database(backend, tmp_path):
    """A brand-new empty database (SQLite file or PostgreSQL schema) for migration tests."""
    import secrets

    from sqlalchemy import create_engine

    if backend.name == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}", {}
        return
    schema = "m_" + secrets.token_hex(5)
    admin = create_engine(backend.url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield backend.url, {"connect_args": {"options": f"-csearch_path={schema}"}}
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_upgrade_downgrade_upgrade_on_empty_database(empty_database):
    from flask_migrate import downgrade, upgrade

    from surveyapp import create_app
    from surveyapp.extensions import db

    url, options = empty_database
    app = create_app({"TESTING": True, "SECRET_KEY": "x" * 32, "SQLALCHEMY_DATABASE_URI": url,
                      "SQLALCHEMY_ENGINE_OPTIONS": options})
    with app.app_context():
        try:
            upgrade()
            downgrade(revision="base")
            with db.engine.connect() as conn:
                assert compare_metadata(MigrationContext.configure(conn), db.metadata) != []
            upgrade()
            with db.engine.connect() as conn:
                ctx = MigrationContext.configure(conn, opts={"compare_type": True})
                assert compare_metadata(ctx, db.metadata) == []
        finally:
            db.session.remove()
            db.engine.dispose()
