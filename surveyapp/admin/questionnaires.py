"""Questionnaire versions: overview, items, editing a draft's texts, new draft, activation."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from surveyapp.admin import bp
from surveyapp.admin.common import get_or_404
from surveyapp.admin.forms import ConfirmForm, ItemsForm
from surveyapp.extensions import db
from surveyapp.models import QuestionnaireVersion
from surveyapp.services import admin_questionnaires
from surveyapp.services.admin_common import AdminError, clean


@bp.get("/questionnaires")
def questionnaires() -> str:
    return render_template("admin/questionnaires/list.html",
                           overview=admin_questionnaires.overview(), form=ConfirmForm())


@bp.get("/questionnaires/versions/<int:version_id>")
def version(version_id: int) -> str:
    found = get_or_404(QuestionnaireVersion, version_id)
    return render_template("admin/questionnaires/version.html", version=found,
                           responses=admin_questionnaires.response_count(found),
                           form=ConfirmForm())


def _submitted_items(version: QuestionnaireVersion) -> dict[int, dict[str, Any]]:
    """``text_vi_<id>``/``text_en_<id>``/``na_<id>`` for every item of the version (a missing
    checkbox means "N/A not allowed", as browsers send nothing for unticked boxes)."""
    out: dict[int, dict[str, Any]] = {}
    for item in version.items:
        fields: dict[str, Any] = {"allow_na": request.form.get(f"na_{item.id}") == "1"}
        for name in ("text_vi", "text_en"):
            raw = request.form.get(f"{name}_{item.id}")
            if raw is not None:
                fields[name] = clean(raw)
        out[item.id] = fields
    return out


@bp.route("/questionnaires/versions/<int:version_id>/edit", methods=["GET", "POST"])
def edit_version(version_id: int) -> ResponseReturnValue:
    found = get_or_404(QuestionnaireVersion, version_id)
    form = ItemsForm()
    values: dict[int, dict[str, Any]] | None = None
    if found.frozen:
        flash(_("This version has been answered and can no longer be edited. Make a new "
                "version from it instead."), "error")
        return redirect(url_for("admin.version", version_id=found.id), code=303)
    if form.validate_on_submit():
        values = _submitted_items(found)
        try:
            n = admin_questionnaires.update_items(found, values)
        except AdminError as err:
            db.session.rollback()
            flash(str(err.message), "error")
        else:
            flash(_("Items changed: %(n)s.", n=n) if n else _("Nothing was changed."),
                  "success")
            return redirect(url_for("admin.version", version_id=found.id), code=303)
    status = 422 if values is not None else 200
    return render_template("admin/questionnaires/edit.html", version=found, form=form,
                           values=values or {}), status


@bp.post("/questionnaires/versions/<int:version_id>/copy")
def copy_version(version_id: int) -> ResponseReturnValue:
    found = get_or_404(QuestionnaireVersion, version_id)
    ConfirmForm().validate_on_submit()  # CSRF already checked app-wide
    try:
        draft = admin_questionnaires.new_draft(found)
    except AdminError as err:
        flash(str(err.message), "error")
        return redirect(url_for("admin.version", version_id=found.id), code=303)
    flash(_("Draft %(key)s made from %(source)s. Edit its texts, then activate it.",
            key=draft.key, source=found.key), "success")
    return redirect(url_for("admin.edit_version", version_id=draft.id), code=303)


@bp.post("/questionnaires/versions/<int:version_id>/activate")
def activate_version(version_id: int) -> ResponseReturnValue:
    found = get_or_404(QuestionnaireVersion, version_id)
    try:
        if admin_questionnaires.activate(found):
            flash(_("%(key)s is now the version kiosks and phones show.", key=found.key),
                  "success")
    except AdminError as err:
        db.session.rollback()
        flash(str(err.message), "error")
    return redirect(url_for("admin.version", version_id=found.id), code=303)
