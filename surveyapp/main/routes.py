"""``/``: what this service is and how citizens reach it; ``/healthz`` for operators."""

from __future__ import annotations

from flask import jsonify, render_template
from flask.wrappers import Response
from sqlalchemy import text

from surveyapp.extensions import db
from surveyapp.main import bp


@bp.get("/")
def index() -> str:
    return render_template("main/index.html", page_kind="index")


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Liveness and database reachability, for load balancers and the benchmark."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any database failure means "unhealthy"
        db.session.rollback()
        return jsonify({"status": "unavailable"}), 503
    return jsonify({"status": "ok"}), 200
