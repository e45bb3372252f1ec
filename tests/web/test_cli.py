"""CLI commands through ``runner.invoke`` (the same commands ``flask --app surveyapp`` runs)."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from surveyapp.models import AdminUnit, Counter, Kiosk, Response, ServiceCentre
from tests.web.helpers import count


def test_load_units_is_idempotent_and_links_successors(app, runner):
    r = runner.invoke(args=["load-units"])
    assert r.exit_code == 0, r.output
    assert "0 created, 97 already present" in r.output
    from surveyapp.extensions import db

    with app.app_context():
        provinces = db.session.scalars(select(AdminUnit).where(AdminUnit.level == "province"))
        old = [u for u in provinces if u.valid_to is not None]
        assert len(old) == 63
        new_count = db.session.scalar(select(func.count()).select_from(AdminUnit).where(
            AdminUnit.level == "province", AdminUnit.valid_to.is_(None)))
        assert new_count == 34
        assert all(u.successor is not None and u.successor.valid_to is None for u in old)
        # code 24 meant Bắc Giang before the reform and Bắc Ninh after it
        code24 = {u.valid_from.year: u for u in db.session.scalars(
            select(AdminUnit).where(AdminUnit.code == "24", AdminUnit.level == "province"))}
        assert code24[2008].name_vi == "Bắc Giang"
        assert code24[2025].name_vi == "Bắc Ninh"
        assert db.session.scalar(select(AdminUnit).where(AdminUnit.code == "27")).successor.code \
            == "24"
        assert db.session.scalar(select(AdminUnit).where(AdminUnit.code == "01",
                                                         AdminUnit.valid_to.is_(None))).code \
            == "01"  # a string with its leading zero


def test_load_questionnaire_is_idempotent(app, runner):
    r = runner.invoke(args=["load-questionnaire"])
    assert r.exit_code == 0
    assert "sipas-2023.v1: 19 items (active)" in r.output
    r = runner.invoke(args=["load-questionnaire", "--code", "sipas-2017"])
    assert "sipas-2017.v1: 22 items" in r.output


def test_demo_loads_responses_and_if_empty_skips(app, runner):
    from surveyapp.extensions import db

    with app.app_context():
        db.session.execute(Counter.__table__.delete())
        db.session.execute(ServiceCentre.__table__.delete())
        db.session.commit()
    r = runner.invoke(args=["demo", "--responses", "120"])
    assert r.exit_code == 0, r.output
    assert "11 centres, 120 responses" in r.output
    assert len(re.findall(r"^  k-[a-z2-7]{8}  \S{20,}  http://sipas.test/k/", r.output,
                          re.M)) == 11
    assert count(app, Response) == 120
    with app.app_context():
        channels = set(db.session.scalars(select(Response.channel).distinct()))
        assert {"kiosk", "phone-qr"} <= channels
    again = runner.invoke(args=["demo", "--if-empty"])
    assert "nothing to do" in again.output
    assert count(app, Response) == 120


def test_kiosk_register_prints_token_once_and_stores_hash(app, runner):
    r = runner.invoke(args=["kiosk-register", "--centre", "P48", "--counter", "2",
                            "--label", "Sảnh"])
    assert r.exit_code == 0, r.output
    kiosk_id = re.search(r"kiosk id: (\S+)", r.output).group(1)
    token = re.search(r"token:\s+(\S+)", r.output).group(1)
    from surveyapp.extensions import db

    with app.app_context():
        kiosk = db.session.get(Kiosk, kiosk_id)
        assert kiosk.centre.code == "P48"
        assert kiosk.counter.code == "2"
        assert token not in kiosk.token_hash
        assert len(kiosk.token_hash) == 64


def test_kiosk_register_unknown_centre(runner):
    r = runner.invoke(args=["kiosk-register", "--centre", "NOPE"])
    assert r.exit_code != 0
    assert "unknown centre" in r.output


def test_kiosk_revoke(app, runner, kiosk):
    r = runner.invoke(args=["kiosk-revoke", kiosk.id])
    assert r.exit_code == 0
    with app.app_context():
        from surveyapp.extensions import db

        assert db.session.get(Kiosk, kiosk.id).revoked


def test_links_prints_working_signed_links(app, runner, client):
    r = runner.invoke(args=["links", "--centre", "P01", "--per-counter"])
    assert r.exit_code == 0, r.output
    urls = re.findall(r"http://sipas.test(/s/\S+)", r.output)
    assert len(urls) == 5  # the centre and its four counters
    for url in urls:
        assert client.get(url).status_code == 200


def test_links_unknown_centre(runner):
    r = runner.invoke(args=["links", "--centre", "NOPE"])
    assert r.exit_code != 0


def test_translate_compile(runner):
    r = runner.invoke(args=["translate", "compile"])
    assert r.exit_code == 0, r.output
