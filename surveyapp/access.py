"""Who may see what: roles and province scoping, enforced here and only here.

Views never filter by province themselves: they ask this module for the statements and lookups
they need (``runs_visible``, ``results_visible``, ``require_province``), so a province user
cannot reach another province's data by guessing URLs, editing form fields, calling the API or
following a download link. Anything out of scope is a 404 (its existence is not revealed);
a page the role may not use at all is a 403.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, abort, redirect, request, url_for
from flask_login import LoginManager, current_user
from sqlalchemy import Select, or_, select

from surveyapp.extensions import db
from surveyapp.models import AnalysisRun, RunResult, User

F = TypeVar("F", bound=Callable[..., Any])

login_manager = LoginManager()
STAFF_ROLES = ("admin", "statistician", "province")


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def _load(user_id: str) -> User | None:
        uid, _, version = user_id.partition(":")
        if not uid.isdigit():
            return None
        user = db.session.get(User, int(uid))
        if user is None or not user.active or str(user.session_version) != version:
            return None
        return user

    @login_manager.unauthorized_handler
    def _unauthorized() -> Any:
        if request.path.startswith("/api/"):
            abort(401)
        return redirect(url_for("auth.login", next=request.full_path))


def role_required(*roles: str) -> Callable[[F], F]:
    """Require a logged-in user with one of ``roles`` (admin passes every check)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role != "admin" and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def province_code(user: Any = None) -> str | None:
    """The province a user is limited to; ``None`` for national roles."""
    user = user if user is not None else current_user
    if getattr(user, "role", None) == "province":
        return user.unit.code
    return None


def require_province(code: str, user: Any = None) -> str:
    """404 unless the user may see province ``code``."""
    allowed = province_code(user)
    if allowed is not None and code != allowed:
        abort(404)
    return code


def runs_visible(user: Any = None) -> Select[tuple[AnalysisRun]]:
    """Runs the user may open: province users see published, finished runs only."""
    user = user if user is not None else current_user
    stmt = select(AnalysisRun)
    if province_code(user) is not None:
        stmt = stmt.where(AnalysisRun.published.is_(True), AnalysisRun.status == "done")
    return stmt


def get_run_or_404(run_id: int, user: Any = None) -> AnalysisRun:
    run = db.session.scalar(runs_visible(user).where(AnalysisRun.id == run_id))
    if run is None:
        abort(404)
    return run


def results_visible(run: AnalysisRun, user: Any = None) -> Select[tuple[RunResult]]:
    """A run's result rows the user may see: a province user gets its own province's rows
    and the national row (the published national figure it is compared with)."""
    stmt = select(RunResult).where(RunResult.run_id == run.id)
    code = province_code(user)
    if code is not None:
        stmt = stmt.where(or_(RunResult.province_code == code, RunResult.level == "country"))
    return stmt
