"""``/login``, ``/logout`` and the staff language switch."""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from surveyapp.auth import bp
from surveyapp.auth.forms import LoginForm
from surveyapp.extensions import limiter
from surveyapp.services import audit
from surveyapp.services.accounts import authenticate


def home_for(user: object) -> str:
    """Where each role lands after signing in."""
    role = getattr(user, "role", None)
    if role == "province":
        return url_for("reports.dashboard")
    if role == "statistician":
        return url_for("stats.index")
    return url_for("admin.index")


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths: never redirect to another host after login."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        result = authenticate(form.username.data or "", form.password.data or "")
        if result.user is not None:
            session.clear()  # new session on privilege change
            login_user(result.user)
            audit.record("login", "user", result.user.id, user=result.user)
            from surveyapp.extensions import db

            db.session.commit()
            return redirect(_safe_next(request.args.get("next")) or home_for(result.user))
        if result.locked_for is not None:
            minutes = max(1, math.ceil(result.locked_for.total_seconds() / 60))
            flash(_("Too many failed attempts: this account is locked. Try again in "
                    "%(minutes)s minutes.", minutes=minutes), "error")
        else:
            flash(_("Wrong user name or password."), "error")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout() -> Response:
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.get("/staff-language/<lang>")
def staff_language(lang: str) -> Response:
    """Staff pages remember the language in the session (kiosk pages never do)."""
    if lang in ("vi", "en"):
        session["staff_lang"] = lang
    return redirect(_safe_next(request.args.get("next")) or url_for("auth.login"))
