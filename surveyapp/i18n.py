"""Locale choice: Vietnamese unless the user pressed the English switch; never guessed.

The chosen language travels with the page (``?lang=en`` or the survey's signed state), not in a
cookie, so that the next citizen at a kiosk starts in Vietnamese again.
"""

from __future__ import annotations

import logging
import os

from flask import Flask, g, request, session

#: Pages for signed-in staff, whose language choice is remembered in the session.
STAFF_BLUEPRINTS = frozenset({"auth", "admin", "stats", "reports"})


def select_locale() -> str:
    """Flask-Babel locale selector: an explicit choice for this request, else Vietnamese."""
    # Only the query string: reading request.form here could re-raise a 413 while the error
    # page for that 413 is being rendered.  Survey pages set g.lang from their signed state.
    lang = g.get("lang") or request.args.get("lang")
    if lang is None and request.blueprint in STAFF_BLUEPRINTS:
        lang = session.get("staff_lang")  # staff pages only: a citizen's choice never sticks
    return lang if lang in ("vi", "en") else "vi"


def current_lang() -> str:
    return select_locale()


def init_app(app: Flask) -> None:
    @app.context_processor
    def _lang() -> dict[str, object]:
        return {"lang": current_lang(), "other_lang": "en" if current_lang() == "vi" else "vi"}


def warn_if_uncompiled(app: Flask, log: logging.Logger) -> None:
    """Without compiled catalogues the pages fall back to the English msgids: say so loudly."""
    mo = os.path.join(app.root_path, "translations", "vi", "LC_MESSAGES", "messages.mo")
    if not os.path.exists(mo):
        log.warning("Vietnamese catalogue not compiled; run `flask translate compile`.")
