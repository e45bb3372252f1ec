"""Administration: units, centres, counters, kiosks, questionnaires, users, audit trail.

Every route of this blueprint is for the ``admin`` role (checked once, in ``before_request``).
Route modules are split by subject so that each stays small.
"""

from flask import Blueprint
from flask_login import current_user

bp = Blueprint("admin", __name__)


@bp.before_request
def _admins_only() -> object:
    from flask import abort

    from surveyapp.access import login_manager

    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.role != "admin":
        abort(403)
    return None


from surveyapp.admin import routes  # noqa: E402,F401
