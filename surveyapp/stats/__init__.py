"""Statistician workflow: frames, designs, runs, weighting diagnostics, publishing."""

from flask import Blueprint
from flask_login import current_user

bp = Blueprint("stats", __name__)


@bp.before_request
def _statisticians_only() -> object:
    from flask import abort

    from surveyapp.access import login_manager

    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.role not in ("admin", "statistician"):
        abort(403)
    return None


from surveyapp.stats import routes  # noqa: E402,F401
