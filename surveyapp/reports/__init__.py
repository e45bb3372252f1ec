"""Province dashboards and downloads (published runs only; scoped by ``surveyapp.access``)."""

from flask import Blueprint
from flask_login import current_user

bp = Blueprint("reports", __name__)


@bp.before_request
def _staff_only() -> object:
    from surveyapp.access import login_manager

    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


from surveyapp.reports import routes  # noqa: E402,F401
