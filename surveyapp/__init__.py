"""sipas collection app: ``create_app`` is the only entry point; nothing happens at import."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

__all__ = ["create_app"]

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
MIGRATIONS_DIR = os.path.join(PACKAGE_DIR, "migrations")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: layered config, extensions bound by ``init_app``, blueprints.

    No schema work, prompts or network here: the schema comes from ``flask db upgrade``.
    """
    from surveyapp import access, cli, converters, i18n, security
    from surveyapp.config import load_config
    from surveyapp.db import install_sqlite_pragmas
    from surveyapp.extensions import babel, csrf, db, limiter, migrate
    from surveyapp.services import refcache
    from surveyapp.services.questionnaires import install_guards
    from surveyapp.sessions import SessionInterface

    app = Flask(__name__, instance_relative_config=True)
    app.session_interface = SessionInterface()
    os.makedirs(app.instance_path, exist_ok=True)
    load_config(app, config)

    db.init_app(app)
    with app.app_context():
        install_sqlite_pragmas(db.engine)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    # One Limiter object serves every app made in this process; a fresh app starts with its
    # storage presumed alive (Flask-Limiter keeps "storage dead" on the object, not the app).
    limiter._storage_dead = False
    babel.init_app(app, locale_selector=i18n.select_locale)
    security.init_app(app)
    converters.init_app(app)
    access.init_app(app)
    install_guards()
    refcache.install()
    i18n.init_app(app)

    from surveyapp import models  # noqa: F401  (registers the tables for Flask-Migrate)
    from surveyapp.admin import bp as admin_bp
    from surveyapp.api import bp as api_bp
    from surveyapp.auth import bp as auth_bp
    from surveyapp.collect import bp as collect_bp
    from surveyapp.errors import bp as errors_bp
    from surveyapp.main import bp as main_bp
    from surveyapp.reports import bp as reports_bp
    from surveyapp.stats import bp as stats_bp

    app.register_blueprint(errors_bp)
    app.register_blueprint(main_bp)
    app.register_blueprint(collect_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(auth_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(stats_bp, url_prefix="/analysis")
    app.register_blueprint(reports_bp, url_prefix="/reports")
    # CSRF-EXEMPT: the JSON API authenticates every request by kiosk token or link signature
    # (see surveyapp/api/auth.py); it never relies on cookies, so a forged cross-site request
    # carries no credential.
    csrf.exempt(api_bp)

    cli.init_app(app)
    i18n.warn_if_uncompiled(app, logging.getLogger(__name__))
    return app
