"""Helpers shared by the admin web tests (no tests here): signing in, posting forms with their
CSRF token, sample URL arguments for every admin route, and reading the audit trail."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from surveyapp.extensions import db
from surveyapp.models import (
    AdminUnit,
    AuditEvent,
    Counter,
    QuestionnaireVersion,
    ServiceCentre,
    User,
)
from tests.web.helpers import csrf_of, sign_in


def signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    resp = sign_in(client, username)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client


def token(client: FlaskClient) -> str:
    """A CSRF token of this client's session (from a page with an admin form)."""
    page = client.get("/admin/kiosks/new")
    assert page.status_code == 200
    return csrf_of(page.get_data(as_text=True))


def post(client: FlaskClient, url: str, data: dict[str, Any] | None = None,
         csrf: str | None = None) -> TestResponse:
    """POST ``data`` with a valid CSRF token."""
    return client.post(url, data={"csrf_token": csrf or token(client), **(data or {})})


def events(app: Flask, action: str | None = None) -> list[AuditEvent]:
    with app.app_context():
        stmt = select(AuditEvent).order_by(AuditEvent.id)
        if action is not None:
            stmt = stmt.where(AuditEvent.action == action)
        rows = db.session.scalars(stmt).all()
        db.session.expunge_all()
        return list(rows)


def changes(app: Flask) -> int:
    """Audit events other than sign-ins (what admin changes write)."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action != "login")) or 0


def province_id(app: Flask, code: str = "01") -> int:
    from surveyapp.services.accounts import current_province

    with app.app_context():
        unit = current_province(code)
        assert unit is not None
        return unit.id


def centre_id(app: Flask, code: str = "X00004") -> int:
    with app.app_context():
        found = db.session.scalar(select(ServiceCentre.id).where(ServiceCentre.code == code))
        assert found is not None
        return found


def sample_args(app: Flask, kiosk_id: str) -> dict[str, Any]:
    """A valid value for every URL argument an admin route can take."""
    with app.app_context():
        commune = db.session.scalar(select(AdminUnit.id).where(AdminUnit.code == "00004"))
        counter = db.session.scalar(select(Counter.id).join(Counter.centre).where(
            ServiceCentre.code == "X00004"))
        version = db.session.scalar(select(QuestionnaireVersion.id))
        user = db.session.scalar(select(User.id).where(User.username == "hanoi"))
        event = db.session.scalar(select(AuditEvent.id))
        if event is None:
            from surveyapp.services import audit

            made = audit.record("test.sample", "test", "1", note="sample")
            db.session.commit()
            event = made.id
    return {"unit_id": commune, "province_id": province_id(app), "centre_id": centre_id(app),
            "counter_id": counter, "kiosk_id": kiosk_id, "version_id": version,
            "user_id": user, "event_id": event, "filename": "admin.css"}


def admin_rules(app: Flask) -> list[Any]:
    """Every route of the admin blueprint, from the app's URL map (new routes included)."""
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("admin.")]
    assert len(rules) > 20
    return rules


def url_for_rule(app: Flask, rule: Any, args: dict[str, Any]) -> str:
    """The URL of ``rule`` with sample ``args`` (a unit page is shown for a province)."""
    if rule.endpoint == "admin.unit":
        args = {**args, "unit_id": args["province_id"]}
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **{a: args[a] for a in rule.arguments})
