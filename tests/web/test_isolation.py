"""Province isolation: every report page, chart, download and results-API route, enumerated
from ``app.url_map`` (a new route without an entry in ``ATTEMPTS`` fails the suite), tried by
a province user against another province's data and against an unpublished run: URL guessing,
changed query fields, the JSON API and download links. Each attempt gets 403/404, and no
response a province user does get contains another province's units or numbers."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select
from werkzeug.routing import Rule

from tests.conftest import StaffInfo
from tests.web.helpers import sign_in
from tests.web.reports_data import RunInfo, make_runs

#: Concrete values of the path arguments that are not ids.
ARG_VALUES = {"kind": ["trend", "forest-communes", "forest-centres", "heatmap-communes",
                       "heatmap-centres"], "fmt": ["csv", "xlsx", "pdf"]}
#: Every report-related endpoint and the query fields an attacker would change on it.
ATTEMPTS: dict[str, list[str]] = {
    "reports.dashboard": ["unit={other}", "run={unpublished}", "run={unpublished}&unit={own}",
                          "run={current}&unit={other}", "run=999999", "unit={other}&lang=en"],
    "reports.province": ["unit={other}"],
    "reports.chart": ["unit={other}"],
    "reports.download": ["unit={other}"],
    "api.results_runs": ["unit={other}", "run={unpublished}", "province={other}"],
    "api.results_run": ["unit={other}"],
    "api.results_province": ["unit={other}"],
}
#: (user, own province, other province, names that must never reach the user)
DIRECTIONS = [
    ("province", "01", "79", ["Hồ Chí Minh", "Sài Gòn", "Thủ Dầu Một", "Côn Đảo"]),
    ("other_province", "79", "01", ["Hà Nội", "Ba Đình", "Hoàn Kiếm", "Sóc Sơn", "Đông Anh"]),
]


def report_rules(app: Flask) -> list[Rule]:
    return sorted((r for r in app.url_map.iter_rules()
                   if r.endpoint.startswith("reports.") or r.endpoint.startswith("api.results")),
                  key=lambda r: r.endpoint)


@dataclass(frozen=True)
class Attempt:
    url: str
    must_fail: bool  # True: only 403/404 is acceptable


def _paths(app: Flask, rule: Rule, run_id: int, unit: str) -> Iterator[str]:
    names = sorted(rule.arguments)
    combos: list[dict[str, object]] = [{}]
    for name in names:
        values: list[object] = {"run_id": [run_id], "unit": [unit]}.get(name) or ARG_VALUES[name]
        combos = [{**c, name: v} for c in combos for v in values]
    with app.test_request_context():
        from flask import url_for

        for combo in combos:
            yield url_for(rule.endpoint, **combo)


def attempts(app: Flask, rule: Rule, runs: dict[str, RunInfo], own: str, other: str
             ) -> list[Attempt]:
    cur, unpub = runs["current"].id, runs["unpublished"].id
    out: list[Attempt] = []
    has_run, has_unit = "run_id" in rule.arguments, "unit" in rule.arguments
    if has_unit:  # URL guessing: the other province in a published run
        out += [Attempt(u, True) for u in _paths(app, rule, cur, other)]
    if has_run:  # an unpublished run, and one that does not exist
        out += [Attempt(u, True) for u in _paths(app, rule, unpub, own)]
        out += [Attempt(u, True) for u in _paths(app, rule, 999999, own)]
    if has_run and has_unit:
        out += [Attempt(u, True) for u in _paths(app, rule, unpub, other)]
    fields = {"own": own, "other": other, "current": cur, "unpublished": unpub}
    for query in ATTEMPTS[rule.endpoint]:  # changed query fields on the user's own URL
        q = query.format(**fields)
        for base in _paths(app, rule, cur, own):
            must_fail = rule.endpoint == "reports.dashboard" and (
                f"unit={other}" in q or f"run={unpub}" in q or "999999" in q)
            out.append(Attempt(f"{base}?{q}", must_fail))
    return out


def body_text(resp: object) -> str:
    data, mimetype = resp.data, resp.mimetype  # type: ignore[attr-defined]
    if mimetype == "application/pdf":
        return " ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    if mimetype.endswith("spreadsheetml.sheet"):
        book = load_workbook(io.BytesIO(data), read_only=True)
        try:
            return " ".join(str(c) for ws in book.worksheets
                            for row in ws.iter_rows(values_only=True) for c in row if c)
        finally:
            book.close()
    if mimetype == "image/png":
        return ""
    return data.decode("utf-8-sig")


def other_numbers(app: Flask, run_ids: list[int], other: str) -> list[str]:
    """Full-precision estimates of the other province's rows, as JSON would print them."""
    from surveyapp.extensions import db
    from surveyapp.models import RunResult

    with app.app_context():
        rows = db.session.scalars(select(RunResult).where(
            RunResult.run_id.in_(run_ids), RunResult.province_code == other,
            RunResult.estimate.is_not(None)))
        numbers = (json.dumps(r.estimate) for r in rows)
        return [n for n in numbers if len(n) >= 10]  # full precision: no chance collisions


@pytest.fixture
def runs(app: Flask, staff: StaffInfo) -> dict[str, RunInfo]:
    return make_runs(app)


def test_every_report_route_has_isolation_attempts(app: Flask) -> None:
    endpoints = {r.endpoint for r in report_rules(app)}
    assert endpoints == set(ATTEMPTS), (
        "new report/results route: add its attack attempts to ATTEMPTS in this file")
    for rule in report_rules(app):
        assert set(rule.arguments) <= {"run_id", "unit", *ARG_VALUES}, rule


@pytest.mark.parametrize(("who", "own", "other", "forbidden"), DIRECTIONS)
def test_province_user_never_reaches_another_province(
        app: Flask, client: FlaskClient, staff: StaffInfo, runs: dict[str, RunInfo],
        who: str, own: str, other: str, forbidden: list[str]) -> None:
    assert sign_in(client, getattr(staff, who)).status_code == 302
    numbers = other_numbers(app, [r.id for r in runs.values()], other)
    tried = 0
    for rule in report_rules(app):
        for attempt in attempts(app, rule, runs, own, other):
            resp = client.get(attempt.url)
            tried += 1
            if attempt.must_fail:
                assert resp.status_code in (403, 404), (attempt.url, resp.status_code)
            else:
                assert resp.status_code in (200, 403, 404), (attempt.url, resp.status_code)
            text = body_text(resp) if resp.status_code == 200 else resp.get_data(as_text=True)
            for name in forbidden:
                assert name not in text, (attempt.url, name)
            if resp.mimetype == "application/json":
                for number in numbers:
                    assert number not in text, (attempt.url, number)
                assert f'"id":{runs["unpublished"].id}' not in text.replace(" ", "")
            resp.close()
    assert tried >= 60


def test_anonymous_gets_nothing(app: Flask, client: FlaskClient,
                                runs: dict[str, RunInfo]) -> None:
    for rule in report_rules(app):
        for url in _paths(app, rule, runs["current"].id, "01"):
            resp = client.get(url)
            expected = 401 if url.startswith("/api/") else 302
            assert resp.status_code == expected, (url, resp.status_code)
            assert "Hà Nội" not in resp.get_data(as_text=True)


def test_api_serves_own_province_with_suppressed_values_null(
        client: FlaskClient, staff: StaffInfo, runs: dict[str, RunInfo]) -> None:
    sign_in(client, staff.province)
    listing = client.get("/api/v1/results/runs").get_json()
    assert [r["id"] for r in listing["runs"]] == [runs[k].id for k in
                                                 ("current", "previous", "reaggregated")]
    run = client.get(f"/api/v1/results/runs/{runs['current'].id}").get_json()
    assert run["provinces"] == [{"code": "01", "name": "Hà Nội"}]
    body = client.get(f"/api/v1/results/runs/{runs['current'].id}/provinces/01").get_json()
    assert body["province"]["name"] == "Hà Nội"
    levels = {r["level"] for r in body["results"]}
    assert levels == {"country", "province", "commune", "centre"}
    suppressed = [r for r in body["results"] if r["flag"] == "suppress"]
    assert suppressed
    for r in suppressed:
        assert r["estimate"] is None
        assert r["ci_low"] is None
        assert r["reason"]
    shown = [r for r in body["results"] if r["flag"] == "ok"]
    assert all(0 < r["estimate"] < 1 for r in shown)
