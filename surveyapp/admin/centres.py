"""Service centres and counters: list by province, create, edit, deactivate/reactivate."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select

from surveyapp.admin import bp
from surveyapp.admin.common import get_or_404, pick, refused, render_form, text, today
from surveyapp.admin.forms import CENTRE_KIND_LABELS, CentreForm, ConfirmForm, CounterForm
from surveyapp.admin.posters import phone_url
from surveyapp.extensions import db
from surveyapp.models import Counter, Kiosk, ServiceCentre
from surveyapp.services import admin_centres
from surveyapp.services.admin_centres import CentreInput, CounterInput
from surveyapp.services.admin_common import AdminError, page_number, paginate
from surveyapp.services.admin_units import current_unit

STATUSES = ("all", "active", "inactive")


@bp.get("/centres")
def centres() -> str:
    provinces = admin_centres.current_provinces(today())
    code = (request.args.get("province") or "")[:10]
    province = next((p for p in provinces if p.code == code), None)
    query = (request.args.get("q") or "").strip()[:100]
    status = pick("status", STATUSES, "all")
    page = paginate(admin_centres.centres(province, query, status),
                    page_number(request.args.get("page")))
    args = {k: v for k, v in {"province": province.code if province else "", "q": query,
                              "status": status if status != "all" else ""}.items() if v}
    return render_template("admin/centres/list.html", page=page, provinces=provinces,
                           province=province, query=query, status=status, args=args,
                           kinds=CENTRE_KIND_LABELS)


def _centre_input(form: CentreForm) -> CentreInput:
    return CentreInput(code=text(form, "code"), name_vi=text(form, "name_vi"),
                       name_en=text(form, "name_en"), kind=form.kind.data or "",
                       unit_code=text(form, "unit_code"))


@bp.route("/centres/new", methods=["GET", "POST"])
def new_centre() -> ResponseReturnValue:
    form = CentreForm()
    if form.validate_on_submit():
        try:
            centre = admin_centres.save_centre(_centre_input(form), today())
        except AdminError as err:
            refused(form, err)
        else:
            flash(_("Centre %(code)s created.", code=centre.code), "success")
            return redirect(url_for("admin.centre", centre_id=centre.id), code=303)
    return render_form("admin/centres/form.html", form, centre=None)


@bp.get("/centres/<int:centre_id>")
def centre(centre_id: int) -> str:
    found = get_or_404(ServiceCentre, centre_id)
    kiosk_rows = db.session.scalars(select(Kiosk).where(Kiosk.centre_id == found.id)
                                    .order_by(Kiosk.registered_at)).all()
    return render_template("admin/centres/detail.html", centre=found, kiosks=kiosk_rows,
                           kinds=CENTRE_KIND_LABELS, form=ConfirmForm(),
                           phone_url=phone_url(found)[0] if found.active else None)


@bp.route("/centres/<int:centre_id>/edit", methods=["GET", "POST"])
def edit_centre(centre_id: int) -> ResponseReturnValue:
    found = get_or_404(ServiceCentre, centre_id)
    form = CentreForm(obj=found)
    if request.method == "GET":
        form.unit_code.data = found.unit.code
    if form.validate_on_submit():
        try:
            admin_centres.save_centre(_centre_input(form), today(), found)
        except AdminError as err:
            refused(form, err)
        else:
            flash(_("Centre %(code)s saved.", code=found.code), "success")
            return redirect(url_for("admin.centre", centre_id=found.id), code=303)
    unit_now = current_unit(found.unit.code, found.unit.level, today())
    return render_form("admin/centres/form.html", form, centre=found,
                       unit_outdated=unit_now is None or unit_now.id != found.unit_id)


def _wanted_active() -> bool:
    """The ``active`` button value: "1" reactivates, anything else deactivates."""
    return request.form.get("active") == "1"


@bp.post("/centres/<int:centre_id>/active")
def centre_active(centre_id: int) -> ResponseReturnValue:
    found = get_or_404(ServiceCentre, centre_id)
    if ConfirmForm().validate_on_submit():
        active = _wanted_active()
        if admin_centres.set_centre_active(found, active):
            flash(_("Centre %(code)s reactivated.", code=found.code) if active else
                  _("Centre %(code)s deactivated: its kiosks and phone links stop taking "
                    "answers.", code=found.code), "success")
    return redirect(url_for("admin.centre", centre_id=found.id), code=303)


@bp.route("/centres/<int:centre_id>/counters/new", methods=["GET", "POST"])
def new_counter(centre_id: int) -> ResponseReturnValue:
    found = get_or_404(ServiceCentre, centre_id)
    form = CounterForm()
    if request.method == "GET":
        numbers = [int(c.code) for c in found.counters if c.code.isdigit()]
        form.code.data = str(max(numbers, default=0) + 1)
    if form.validate_on_submit():
        try:
            counter = admin_centres.save_counter(found, CounterInput(
                text(form, "code"), text(form, "name_vi"), text(form, "name_en")))
        except AdminError as err:
            refused(form, err)
        else:
            flash(_("Counter %(code)s added.", code=counter.code), "success")
            return redirect(url_for("admin.centre", centre_id=found.id), code=303)
    return render_form("admin/centres/counter_form.html", form, centre=found, counter=None)


@bp.route("/counters/<int:counter_id>/edit", methods=["GET", "POST"])
def edit_counter(counter_id: int) -> ResponseReturnValue:
    counter = get_or_404(Counter, counter_id)
    form = CounterForm(obj=counter)
    if form.validate_on_submit():
        try:
            admin_centres.save_counter(counter.centre, CounterInput(
                text(form, "code"), text(form, "name_vi"), text(form, "name_en")), counter)
        except AdminError as err:
            refused(form, err)
        else:
            flash(_("Counter %(code)s saved.", code=counter.code), "success")
            return redirect(url_for("admin.centre", centre_id=counter.centre_id), code=303)
    return render_form("admin/centres/counter_form.html", form, centre=counter.centre,
                       counter=counter)


@bp.post("/counters/<int:counter_id>/active")
def counter_active(counter_id: int) -> ResponseReturnValue:
    counter = get_or_404(Counter, counter_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    active = _wanted_active()
    if admin_centres.set_counter_active(counter, active):
        flash(_("Counter %(code)s reactivated.", code=counter.code) if active else
              _("Counter %(code)s deactivated.", code=counter.code), "success")
    return redirect(url_for("admin.centre", centre_id=counter.centre_id), code=303)
