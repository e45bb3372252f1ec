"""Kiosk fleet: list with health, registration (token shown once), revocation.

Fleet health (``services.fleet``): heartbeats with queue length, silent only during opening
hours (``services.admin_kiosks.kiosk_status``), and an audited "reload" command.
"""

from __future__ import annotations

from flask import (
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _

from surveyapp.admin import bp
from surveyapp.admin.common import (
    base_url,
    get_or_404,
    pick,
    refused,
    render_form,
    text,
    today,
    utcnow,
)
from surveyapp.admin.forms import ConfirmForm, KioskForm
from surveyapp.models import Kiosk
from surveyapp.models.centres import is_code
from surveyapp.services import admin_centres, admin_kiosks, fleet
from surveyapp.services.admin_common import AdminError, page_number, paginate
from surveyapp.services.admin_kiosks import SILENT_AFTER, STATUSES
from surveyapp.services.kiosks import find_centre


@bp.get("/kiosks")
def kiosks() -> str:
    now = utcnow()
    provinces = admin_centres.current_provinces(today())
    code = (request.args.get("province") or "")[:10]
    province = next((p for p in provinces if p.code == code), None)
    centre_code = (request.args.get("centre") or "").strip()[:32]
    centre = find_centre(centre_code) if centre_code else None
    status = pick("status", STATUSES, "all")
    page = paginate(admin_kiosks.fleet(province, centre, status, now),
                    page_number(request.args.get("page")))
    rows = [(k, admin_kiosks.kiosk_status(k, now)) for k in page.items]
    args = {k: v for k, v in {"province": province.code if province else "",
                              "centre": centre_code, "status": "" if status == "all" else status
                              }.items() if v}
    return render_template("admin/kiosks/list.html", page=page, rows=rows, provinces=provinces,
                           province=province, centre=centre, centre_code=centre_code,
                           status=status, args=args, silent_minutes=_minutes(),
                           opening_hours=_opening_hours())


def _kiosk_or_404(kiosk_id: str) -> Kiosk:
    """Kiosk ids are short codes; anything else (NUL bytes, 10 kB) is a 404, not a query."""
    if not is_code(kiosk_id) or len(kiosk_id) > 20:
        abort(404)
    return get_or_404(Kiosk, kiosk_id)


def _minutes() -> int:
    return int(SILENT_AFTER.total_seconds() // 60)


@bp.route("/kiosks/new", methods=["GET", "POST"])
def new_kiosk() -> ResponseReturnValue:
    form = KioskForm()
    if request.method == "GET" and request.args.get("centre"):
        form.centre.data = request.args.get("centre", "")[:32]
    if form.validate_on_submit():
        try:
            cred = admin_kiosks.register(text(form, "centre"), text(form, "counter"),
                                         text(form, "label"))
        except AdminError as err:
            refused(form, err)
        else:
            # The token is on this response only: never stored in clear, never cached.
            setup_url = f"{base_url()}{url_for('collect.kiosk_setup', kiosk_id=cred.id)}"
            page = make_response(render_template(
                "admin/kiosks/registered.html", cred=cred, setup_url=setup_url,
                setup_link=f"{setup_url}?token={cred.token}",
                kiosk=get_or_404(Kiosk, cred.id)))
            page.headers["Cache-Control"] = "no-store"
            return page
    return render_form("admin/kiosks/form.html", form)


def _opening_hours() -> str:
    return fleet.describe_hours(
        fleet.parse_hours(str(current_app.config["KIOSK_OPENING_HOURS"])), get_locale())


@bp.get("/kiosks/<kiosk_id>")
def kiosk(kiosk_id: str) -> str:
    found = _kiosk_or_404(kiosk_id)
    return render_template("admin/kiosks/detail.html", kiosk=found,
                           status=admin_kiosks.kiosk_status(found, utcnow()),
                           silent_minutes=_minutes(), reload_form=ConfirmForm(),
                           opening_hours=_opening_hours())


@bp.post("/kiosks/<kiosk_id>/reload")
def reload_kiosk(kiosk_id: str) -> ResponseReturnValue:
    """Ask a stuck kiosk to reload its page at its next heartbeat (within a minute); audited."""
    found = _kiosk_or_404(kiosk_id)
    form = ConfirmForm()
    if form.validate_on_submit() and not found.revoked:
        fleet.request_reload(found)
        flash(_("Kiosk %(id)s will reload at its next heartbeat (within about a minute).",
                id=found.id), "success")
    return redirect(url_for("admin.kiosk", kiosk_id=found.id), code=303)


@bp.route("/kiosks/<kiosk_id>/revoke", methods=["GET", "POST"])
def revoke_kiosk(kiosk_id: str) -> ResponseReturnValue:
    """GET asks for confirmation; POST revokes."""
    found = _kiosk_or_404(kiosk_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        if admin_kiosks.revoke(found):
            flash(_("Kiosk %(id)s revoked: it can no longer send answers.", id=found.id),
                  "success")
        return redirect(url_for("admin.kiosk", kiosk_id=found.id), code=303)
    return render_template("admin/kiosks/revoke.html", kiosk=found, form=form)
