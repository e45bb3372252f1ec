"""Staff accounts: list, create, change role/province, (de)activate, reset password, unlock."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_user
from wtforms.fields.choices import SelectChoice

from surveyapp.admin import bp
from surveyapp.admin.common import get_or_404, pick, refused, render_form, text, today, utcnow
from surveyapp.admin.forms import ROLE_LABELS, ConfirmForm, NewUserForm, PasswordForm, UserForm
from surveyapp.extensions import db
from surveyapp.i18n import current_lang
from surveyapp.models import User
from surveyapp.models.users import ROLES
from surveyapp.services import admin_centres, admin_users
from surveyapp.services.accounts import MIN_PASSWORD_LENGTH
from surveyapp.services.admin_common import AdminError, clean, page_number, paginate
from surveyapp.services.admin_users import UserInput

STATUSES = ("all", "active", "inactive")


def _province_choices(form: UserForm) -> None:
    lang_en = current_lang() == "en"
    form.province.choices = [SelectChoice("", "—")] + [
        SelectChoice(p.code, f"{p.code} – {p.name_en if lang_en else p.name_vi}")
        for p in admin_centres.current_provinces(today())]


def _input(form: UserForm) -> UserInput:
    return UserInput(display_name=text(form, "display_name"), role=form.role.data or "",
                     province_code=clean(form.province.data))


@bp.get("/users")
def users() -> str:
    role = pick("role", ROLES, "")
    status = pick("status", STATUSES, "all")
    page = paginate(admin_users.users(role, status), page_number(request.args.get("page")))
    args = {k: v for k, v in {"role": role, "status": "" if status == "all" else status}.items()
            if v}
    return render_template("admin/users/list.html", page=page, role=role, status=status,
                           args=args, roles=ROLE_LABELS, now=utcnow())


@bp.route("/users/new", methods=["GET", "POST"])
def new_user() -> ResponseReturnValue:
    form = NewUserForm()
    _province_choices(form)
    if form.validate_on_submit():
        try:
            user = admin_users.create(text(form, "username"), _input(form),
                                      form.password.data or "", form.confirm.data or "")
        except AdminError as err:
            refused(form, err)
        else:
            flash(_("Account %(name)s created.", name=user.username), "success")
            return redirect(url_for("admin.user", user_id=user.id), code=303)
    return render_form("admin/users/new.html", form, min_length=MIN_PASSWORD_LENGTH)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user(user_id: int) -> ResponseReturnValue:
    """The account page: its details form, plus the (de)activate and unlock buttons."""
    found = get_or_404(User, user_id)
    form = UserForm(obj=found)
    _province_choices(form)
    if request.method == "GET":
        form.province.data = found.unit.code if found.unit else ""
    if form.validate_on_submit():
        try:
            done = admin_users.update(found, current_user, _input(form))
        except AdminError as err:
            refused(form, err)
        else:
            flash(_("Account %(name)s saved.", name=found.username) if done
                  else _("Nothing was changed."), "success")
            return redirect(url_for("admin.user", user_id=found.id), code=303)
    return render_form("admin/users/detail.html", form, user=found, button=ConfirmForm(),
                       roles=ROLE_LABELS, now=utcnow(), is_self=found.id == current_user.id)


@bp.post("/users/<int:user_id>/active")
def user_active(user_id: int) -> ResponseReturnValue:
    found = get_or_404(User, user_id)
    active = request.form.get("active") == "1"
    try:
        if admin_users.set_active(found, current_user, active):
            flash(_("Account %(name)s reactivated.", name=found.username) if active else
                  _("Account %(name)s deactivated: its sessions have ended.",
                    name=found.username), "success")
    except AdminError as err:
        db.session.rollback()
        flash(str(err.message), "error")
    return redirect(url_for("admin.user", user_id=found.id), code=303)


@bp.post("/users/<int:user_id>/unlock")
def unlock_user(user_id: int) -> ResponseReturnValue:
    found = get_or_404(User, user_id)
    if admin_users.unlock(found, utcnow()):
        flash(_("Account %(name)s unlocked.", name=found.username), "success")
    return redirect(url_for("admin.user", user_id=found.id), code=303)


@bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
def user_password(user_id: int) -> ResponseReturnValue:
    found = get_or_404(User, user_id)
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            admin_users.reset_password(found, form.password.data or "", form.confirm.data or "")
        except AdminError as err:
            refused(form, err)
        else:
            if found.id == current_user.id:  # keep the admin who reset their own signed in
                login_user(found)
            flash(_("New password set for %(name)s; their other sessions have ended.",
                    name=found.username), "success")
            return redirect(url_for("admin.user", user_id=found.id), code=303)
    return render_form("admin/users/password.html", form, user=found,
                       min_length=MIN_PASSWORD_LENGTH)
