"""Administrative units: provinces of both geographies, their communes, search, and adding or
editing a commune."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from surveyapp.admin import bp
from surveyapp.admin.common import get_or_404, pick, refused, render_form, text, today
from surveyapp.admin.forms import COMMUNE_KIND_LABELS, CommuneForm
from surveyapp.models import AdminUnit
from surveyapp.services import admin_units
from surveyapp.services.admin_common import AdminError, page_number, paginate
from surveyapp.services.admin_units import GEOGRAPHIES, CommuneInput


@bp.get("/units")
def units() -> str:
    """Provinces of one geography; with ``q``, matching provinces and communes instead."""
    query = (request.args.get("q") or "").strip()[:100]
    geography = pick("geo", GEOGRAPHIES, "current")
    if query:
        return render_template("admin/units/search.html", query=query, geography=geography,
                               results=admin_units.search(query, geography, today()),
                               today=today())
    page = paginate(admin_units.provinces(geography, today()), page_number(
        request.args.get("page")), per_page=100)
    return render_template("admin/units/list.html", page=page, geography=geography,
                           query=query, today=today(),
                           predecessors=admin_units.predecessors(page.items))


@bp.get("/units/<int:unit_id>")
def unit(unit_id: int) -> ResponseReturnValue:
    """A province and its communes (a commune's page is its edit form)."""
    found = get_or_404(AdminUnit, unit_id)
    if found.level == "commune":
        return redirect(url_for("admin.edit_commune", unit_id=found.id))
    page = paginate(admin_units.communes_of(found), page_number(request.args.get("page")),
                    per_page=100)
    return render_template("admin/units/province.html", province=found, page=page,
                           kinds=COMMUNE_KIND_LABELS, today=today(),
                           predecessors=admin_units.predecessors([found]).get(found.id, []))


def _commune_input(form: CommuneForm) -> CommuneInput:
    return CommuneInput(code=text(form, "code"), name_vi=text(form, "name_vi"),
                        name_en=text(form, "name_en"), kind=form.kind.data or "",
                        valid_from=form.valid_from.data, valid_to=form.valid_to.data)


@bp.route("/units/<int:province_id>/communes/new", methods=["GET", "POST"])
def new_commune(province_id: int) -> ResponseReturnValue:
    province = get_or_404(AdminUnit, province_id)
    if province.level != "province":
        abort(404)
    form = CommuneForm()
    if request.method == "GET":
        form.valid_from.data = max(province.valid_from, today()) if province.valid_to is None \
            else province.valid_from
        form.valid_to.data = province.valid_to
    if form.validate_on_submit():
        try:
            commune = admin_units.save_commune(province, _commune_input(form))
        except AdminError as err:
            refused(form, err)
        else:
            flash(_("Commune %(code)s – %(name)s added.", code=commune.code,
                    name=commune.name_vi), "success")
            return redirect(url_for("admin.unit", unit_id=province.id), code=303)
    return render_form("admin/units/commune_form.html", form, province=province, commune=None)


@bp.route("/units/<int:unit_id>/edit", methods=["GET", "POST"])
def edit_commune(unit_id: int) -> ResponseReturnValue:
    commune = get_or_404(AdminUnit, unit_id)
    if commune.level != "commune" or commune.parent is None:
        abort(404)
    province = commune.parent
    form = CommuneForm(obj=commune)
    if form.validate_on_submit():
        try:
            admin_units.save_commune(province, _commune_input(form), commune)
        except AdminError as err:
            refused(form, err)
        else:
            flash(_("Commune %(code)s saved.", code=commune.code), "success")
            return redirect(url_for("admin.unit", unit_id=province.id), code=303)
    return render_form("admin/units/commune_form.html", form, province=province,
                       commune=commune)
