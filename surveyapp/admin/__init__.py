"""Administration: units, centres, counters, kiosks, questionnaires, users, audit trail.

Every route of this blueprint (its static files included) is for the ``admin`` role, checked
once, in ``before_request``; the web tests enumerate ``app.url_map`` so a new admin route is
covered automatically. Route modules are split by subject so that each stays small; the
changes themselves (validation, audit event, commit) live in ``surveyapp/services/admin_*``.
"""

from flask import Blueprint, abort
from flask.typing import ResponseReturnValue
from flask_login import current_user

bp = Blueprint("admin", __name__, static_folder="static", static_url_path="/static")


@bp.before_request
def _admins_only() -> ResponseReturnValue | None:
    from surveyapp.access import login_manager

    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.role != "admin":
        abort(403)
    return None


@bp.context_processor
def _helpers() -> dict[str, object]:
    from surveyapp.admin.common import local_dt

    return {"local_dt": local_dt}


from surveyapp.admin import (  # noqa: E402,F401
    audit,
    centres,
    kiosks,
    posters,
    questionnaires,
    routes,
    units,
    users,
)
