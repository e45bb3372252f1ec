"""Every route of ``app.url_map`` with real path arguments, for suites that walk all routes
(hostile input, CSRF): a centre, counter, kiosk, user, questionnaire version, unit, period,
published runs (synthetic, as the report tests use) plus one run of the real pipeline, and an
audit event, all existing, so a request reaches the view rather than a 404."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import Flask, url_for
from sqlalchemy import select
from werkzeug.routing import Rule

from tests.conftest import KioskInfo, StaffInfo
from tests.web.reports_data import make_runs

#: Endpoints no walker posts to: the sign-out ends the walker's own session.
SKIP_POST = {"auth.logout"}


@dataclass(frozen=True)
class RouteArgs:
    """Concrete values for every path argument name used in the app."""

    values: dict[str, Any]
    #: A run made by the real pipeline (its pages need full diagnostics), for /analysis/.
    pipeline_run: int

    def url(self, app: Flask, rule: Rule, **override: Any) -> str:
        values = self.values
        if rule.endpoint.startswith("stats."):
            values = {**values, "run_id": self.pipeline_run}
        args = {name: override.get(name, values[name]) for name in rule.arguments}
        with app.test_request_context():
            return url_for(rule.endpoint, **args)


def route_args(app: Flask, kiosk: KioskInfo, staff: StaffInfo) -> RouteArgs:
    """Make (or look up) one row of everything a path can name."""
    from surveyapp.extensions import db
    from surveyapp.models import (
        AdminUnit,
        AuditEvent,
        Counter,
        QuestionnaireVersion,
        ServiceCentre,
        User,
    )
    from surveyapp.services import audit, frames, run_demo
    from surveyapp.services import runs as pipeline

    runs = make_runs(app)
    with app.app_context():
        pipeline_run = pipeline.run_now(frames.get_period(
            run_demo.demo_period(responses=100).code), None).id
        frames.create_period("2027-Q1", "Quý 1/2027", "Q1 2027", dt.date(2027, 1, 1),
                             dt.date(2027, 4, 1))
        audit.record("test.walk", "test", "1", user=None)
        db.session.commit()
        centre = db.session.scalar(select(ServiceCentre).where(ServiceCentre.code == "X00004"))
        assert centre is not None
        values = {
            "centre_id": centre.id,
            "counter_id": db.session.scalar(select(Counter.id).where(
                Counter.centre_id == centre.id)),
            "kiosk_id": kiosk.id,
            "user_id": db.session.scalar(select(User.id).where(
                User.username == staff.province)),
            "version_id": db.session.scalar(select(QuestionnaireVersion.id)),
            "province_id": db.session.scalar(select(AdminUnit.id).where(
                AdminUnit.code == "01")),
            "unit_id": db.session.scalar(select(AdminUnit.id).where(AdminUnit.code == "00004")),
            "event_id": db.session.scalar(select(AuditEvent.id)),
            "code": "2027-Q1",
            "run_id": runs["current"].id,
            "unit": "01",
            "centre_code": "P01",
            "kind": "trend",
            "fmt": "csv",
            "lang": "vi",
            "filename": "css/survey.css",
        }
    assert all(v is not None for v in values.values()), values
    return RouteArgs(values, pipeline_run)


def rules(app: Flask, method: str) -> list[Rule]:
    return sorted((r for r in app.url_map.iter_rules() if method in (r.methods or ())),
                  key=lambda r: r.rule)
