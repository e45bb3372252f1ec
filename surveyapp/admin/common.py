"""Small helpers shared by the admin route modules."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from flask import abort, current_app, flash, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm

from surveyapp.extensions import db
from surveyapp.services.accounts import utcnow
from surveyapp.services.admin_common import AdminError, clean
from surveyapp.services.links import local_today

M = TypeVar("M")

__all__ = ["get_or_404", "local_today", "pick", "refused", "render_form", "text", "utcnow"]


def get_or_404(model: type[M], ident: Any) -> M:
    obj = db.session.get(model, ident)
    if obj is None:
        abort(404)
    return obj


def pick(name: str, allowed: tuple[str, ...], default: str) -> str:
    """A query argument that must be one of ``allowed`` (anything else: ``default``)."""
    value = request.args.get(name)
    return value if value in allowed else default  # type: ignore[return-value]


def text(form: FlaskForm, name: str) -> str:
    """A form field's value as one clean line (see ``admin_common.clean``)."""
    return clean(form[name].data)


def refused(form: FlaskForm, err: AdminError) -> None:
    """Show a refused change: roll back anything half-done, attach the message to its field
    (or flash it when it belongs to no field)."""
    db.session.rollback()
    if err.field and err.field in form:
        form[err.field].errors = [*form[err.field].errors, str(err.message)]
    else:
        flash(str(err.message), "error")


def render_form(template: str, form: FlaskForm, **context: Any) -> ResponseReturnValue:
    """Render a form page; 422 when it carries errors (so tests and tools can tell)."""
    status = 422 if form.errors or context.pop("failed", False) else 200
    return render_template(template, form=form, **context), status


def base_url() -> str:
    return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")


def today() -> dt.date:
    return local_today()


def local_dt(at: dt.datetime | None) -> str:
    """A stored UTC time as local (Vietnam) ``YYYY-MM-DD HH:MM``; "" for none."""
    if at is None:
        return ""
    from surveyapp.services.admin_audit import local_time

    return local_time(at).strftime("%Y-%m-%d %H:%M")
