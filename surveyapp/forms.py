"""The one base form: every HTML form derives from it, so every form carries a CSRF token.

(``CSRFProtect`` additionally checks every non-exempt POST app-wide; the only exemption is the
token-authenticated JSON API, marked ``CSRF-EXEMPT`` in ``surveyapp/__init__.py``.)
"""

from flask_wtf import FlaskForm


class BaseForm(FlaskForm):
    """Base for all HTML forms (CSRF token included by Flask-WTF)."""
