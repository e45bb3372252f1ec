"""Forms of the survey pages; the answer radios are rendered from the questionnaire data."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length

from surveyapp.forms import BaseForm


class SurveyForm(BaseForm):
    """One page of the survey: the signed state, the honeypot, and this page's answers."""

    state = HiddenField()
    #: Honeypot: hidden from people (CSS), filled by naive bots; a filled one flags the response.
    website = StringField(_l("Website"))


class StartForm(BaseForm):
    """The start button; only carries the CSRF token and the chosen language."""

    lang = HiddenField()


class KioskSetupForm(BaseForm):
    """Set-up of a kiosk browser by staff, with the token printed at registration."""

    token = StringField(_l("Kiosk token"), validators=[DataRequired(), Length(max=200)])
