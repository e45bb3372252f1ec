"""Statistician pages: every /analysis/ route for every role, CSRF, the design form queuing a
run that a worker executes, the run and diagnostics pages, publishing with audit, a failing
run's Vietnamese message, and the numbers reproduced from the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from tests.web.helpers import csrf_of, sign_in


@pytest.fixture
def setup(app: Flask) -> dict:
    """A demo period with a frame and one finished run."""
    from surveyapp.services import run_demo, runs

    with app.app_context():
        period = run_demo.demo_period(responses=250)
        run = runs.run_now(period)
        assert run.status == "done", run.error
        return {"code": period.code, "run": run.id}


def _paths(s: dict) -> list[str]:
    return ["/analysis/", "/analysis/periods", f"/analysis/periods/{s['code']}",
            f"/analysis/periods/{s['code']}/design", f"/analysis/runs/{s['run']}",
            f"/analysis/runs/{s['run']}/diagnostics", f"/analysis/runs/{s['run']}/weights.png"]


@pytest.mark.parametrize("who", ["statistician", "admin"])
def test_every_page_opens_for_statisticians_and_admins(client: FlaskClient, staff, setup,
                                                       who: str) -> None:
    sign_in(client, getattr(staff, who))
    for path in _paths(setup):
        resp = client.get(path)
        assert resp.status_code == 200, path
    png = client.get(_paths(setup)[-1])
    assert png.mimetype == "image/png"
    assert png.data.startswith(b"\x89PNG")
    english = client.get(f"/analysis/runs/{setup['run']}/diagnostics?lang=en")
    assert "Weighting diagnostics" in english.get_data(as_text=True)


def test_province_users_get_403_everywhere(client: FlaskClient, staff, setup) -> None:
    sign_in(client, staff.province)
    posts = [f"/analysis/periods/{setup['code']}/frame", f"/analysis/runs/{setup['run']}/publish",
             f"/analysis/runs/{setup['run']}/unpublish", "/analysis/periods",
             f"/analysis/periods/{setup['code']}/design"]
    for path in _paths(setup):
        assert client.get(path).status_code == 403, path
    for path in posts:
        assert client.post(path, data={}).status_code in (400, 403), path


def test_anonymous_is_sent_to_login(client: FlaskClient, setup) -> None:
    resp = client.get(f"/analysis/runs/{setup['run']}")
    assert resp.status_code == 302
    assert "/login" in resp.headers["Location"]


def test_post_without_csrf_is_refused(app: Flask, client: FlaskClient, staff, setup) -> None:
    from surveyapp.extensions import db
    from surveyapp.models import AnalysisRun

    sign_in(client, staff.statistician)
    assert client.post(f"/analysis/runs/{setup['run']}/publish").status_code == 400
    assert client.post(f"/analysis/periods/{setup['code']}/design",
                       data={"strata": "cell"}).status_code == 400
    with app.app_context():
        assert not db.session.get(AnalysisRun, setup["run"]).published


def test_period_form_creates_and_validates(app: Flask, client: FlaskClient, staff) -> None:
    sign_in(client, staff.statistician)
    page = client.get("/analysis/periods").get_data(as_text=True)
    data = {"csrf_token": csrf_of(page), "code": "2026-Q2", "label_vi": "Quý 2/2026",
            "label_en": "Q2 2026", "start": "2026-04-01", "end": "2026-07-01"}
    resp = client.post("/analysis/periods", data=data)
    assert resp.status_code == 303
    again = client.post("/analysis/periods", data=data)
    assert again.status_code == 422
    assert "Đã có kỳ báo cáo với mã này" in again.get_data(as_text=True)
    bad = client.post("/analysis/periods", data={**data, "code": "Q3", "end": "2026-03-01"})
    assert bad.status_code == 422
    assert "Mã kỳ báo cáo phải có dạng" in bad.get_data(as_text=True)


def test_design_form_queues_a_run_the_worker_executes(app: Flask, client: FlaskClient, staff,
                                                      setup, runner: FlaskCliRunner) -> None:
    from surveyapp.extensions import db
    from surveyapp.models import AnalysisRun

    sign_in(client, staff.statistician)
    path = f"/analysis/periods/{setup['code']}/design"
    page = client.get(path).get_data(as_text=True)
    assert "Trung tâm-ngày — khuyến nghị" in page
    form = {"csrf_token": csrf_of(page), "weights": "frame", "min_cell_responses": "3",
            "strata": "cell", "psu": "centre_day", "fpc": "y", "calibration": "province",
            "lonely_psu": "adjust", "ci": "beta", "level": "0.9", "exclude_honeypot": "y"}
    bad = client.post(path, data={**form, "psu": "centre"})
    assert bad.status_code == 422
    assert "Khi lấy trung tâm làm PSU" in bad.get_data(as_text=True)
    resp = client.post(path, data=form)
    assert resp.status_code == 303
    run_page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'http-equiv="refresh"' in run_page
    assert "flask --app surveyapp worker" in run_page
    assert "Đang chờ tiến trình xử lý" in run_page  # the progress note, translated
    result = runner.invoke(args=["worker", "--once"])
    assert "processed 1 run" in result.output
    with app.app_context():
        run = db.session.scalars(select(AnalysisRun).order_by(AnalysisRun.id.desc())).first()
        assert run.status == "done", run.error
        assert run.design["ci"] == "beta"
        assert run.design["min_cell_responses"] == 3
        assert run.design["calibration"] == "province"
        assert run.diagnostics["weights"]["g_median"] is not None
    done = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'http-equiv="refresh"' not in done
    assert "Cả nước" in done


def test_failed_run_shows_a_vietnamese_reason(app: Flask, client: FlaskClient, staff) -> None:
    from surveyapp.services import run_demo, runs

    with app.app_context():
        period = run_demo.demo_period(responses=30, frame=False)
        run_id = runs.run_now(period).id
    sign_in(client, staff.statistician)
    resp = client.get(f"/analysis/runs/{run_id}")
    assert resp.status_code == 200
    assert "Kỳ này chưa có khung mẫu" in resp.get_data(as_text=True)
    assert client.get(f"/analysis/runs/{run_id}/diagnostics").status_code == 404


def test_publish_and_unpublish_are_audited(app: Flask, client: FlaskClient, staff,
                                           setup) -> None:
    from surveyapp.extensions import db
    from surveyapp.models import AnalysisRun, AuditEvent

    sign_in(client, staff.statistician)
    page = client.get(f"/analysis/runs/{setup['run']}").get_data(as_text=True)
    token = csrf_of(page)
    resp = client.post(f"/analysis/runs/{setup['run']}/publish", data={"csrf_token": token})
    assert resp.status_code == 303
    province = app.test_client()
    sign_in(province, staff.province)
    with app.app_context():
        assert db.session.get(AnalysisRun, setup["run"]).published
    client.post(f"/analysis/runs/{setup['run']}/unpublish", data={"csrf_token": token})
    with app.app_context():
        assert not db.session.get(AnalysisRun, setup["run"]).published
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action.in_(("run.publish", "run.unpublish"))).order_by(AuditEvent.id)
        ).all()
        assert [e.action for e in events] == ["run.publish", "run.unpublish"]
        assert all(e.username == "thongke" for e in events)


def test_unfinished_run_cannot_be_published(app: Flask, runner: FlaskCliRunner, setup) -> None:
    from surveyapp.services import frames, runs

    with app.app_context():
        queued = runs.create_run(frames.get_period(setup["code"])).id
    result = runner.invoke(args=["publish", "--run", str(queued)])
    assert result.exit_code != 0
    assert "hoàn thành" in result.output
    ok = runner.invoke(args=["publish", "--run", str(setup["run"])])
    assert ok.exit_code == 0, ok.output


def _analysis_cli(args: list[str]) -> pd.DataFrame:
    out = subprocess.run([sys.executable, "-m", "analysis", "estimate", *args],  # noqa: S603
                         capture_output=True, text=True, check=True)
    from io import StringIO

    return pd.read_csv(StringIO(out.stdout), dtype={"province_code": str})


def _country_sipas(app: Flask, run_id: int) -> tuple[float, float]:
    from surveyapp.extensions import db
    from surveyapp.models import RunResult

    with app.app_context():
        row = db.session.scalars(select(RunResult).where(
            RunResult.run_id == run_id, RunResult.level == "country",
            RunResult.variable == "SIPAS")).one()
        return row.estimate, row.se


def test_country_sipas_reproduced_from_exported_responses(app: Flask, runner: FlaskCliRunner,
                                                          setup, tmp_path: Path) -> None:
    """export-responses + python -m analysis (equal weights, respondents as PSUs) gives the
    run's number for the same design."""
    from surveyapp.services import frames, runs

    with app.app_context():
        run = runs.run_now(frames.get_period(setup["code"]), {
            "weights": "equal", "strata": "none", "psu": "respondent", "fpc": False,
            "exclude_flags": []})
        assert run.status == "done", run.error
        run_id = run.id
    out = tmp_path / "responses.csv"
    result = runner.invoke(args=["export-responses", "--format", "csv", "-o", str(out),
                                 "--from", "2025-07-01", "--to", "2025-12-31"])
    assert result.exit_code == 0, result.output
    table = _analysis_cli([str(out), "--sipas"])
    cli = table[table["variable"] == "SIPAS"].iloc[0]
    estimate, se = _country_sipas(app, run_id)
    assert cli["estimate"] == pytest.approx(estimate, rel=1e-12)
    assert cli["se"] == pytest.approx(se, rel=1e-9)


def test_default_design_reproduced_from_the_run_table(app: Flask, runner: FlaskCliRunner,
                                                      setup, tmp_path: Path) -> None:
    out = tmp_path / "run.csv"
    result = runner.invoke(args=["run-table", "--run", str(setup["run"]), "-o", str(out)])
    assert result.exit_code == 0, result.output
    command = result.output.strip().splitlines()[-1].split()
    assert command[:4] == ["python", "-m", "analysis", "estimate"]
    table = _analysis_cli(command[4:])
    cli = table[table["variable"] == "SIPAS"]
    from surveyapp.extensions import db
    from surveyapp.models import RunResult

    with app.app_context():
        rows = {r.unit_code: r for r in db.session.scalars(select(RunResult).where(
            RunResult.run_id == setup["run"], RunResult.level == "province",
            RunResult.variable == "SIPAS"))}
    assert len(cli) == len(rows) == 3
    for rec in cli.itertuples():
        assert rec.estimate == pytest.approx(rows[rec.province_code].estimate, rel=1e-12)
        assert rec.se == pytest.approx(rows[rec.province_code].se, rel=1e-9)
        assert rec.ci_low == pytest.approx(rows[rec.province_code].ci_low, rel=1e-9)
