"""Staff sign-in and sign-out (citizens never log in)."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from surveyapp.auth import routes  # noqa: E402,F401
