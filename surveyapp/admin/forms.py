"""Forms of the admin pages.

``AdminForm`` routes WTForms' own messages ("Not a valid choice." …) through our catalogue,
since WTForms ships no Vietnamese: every message an admin sees is in their language.
"""

from __future__ import annotations

from typing import Any

from flask_babel import get_translations
from flask_babel import lazy_gettext as _l
from wtforms import DateField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from surveyapp.forms import BaseForm
from surveyapp.models.users import ROLES
from surveyapp.services.admin_units import COMMUNE_KINDS

#: WTForms' own messages that can still appear (the validators below bring their own);
#: listed so that ``translate update`` extracts them into our catalogue.
WTFORMS_MESSAGES = (
    _l("This field is required."),
    _l("Not a valid date value."),
    _l("Not a valid choice."),
    _l("Invalid input."),
)


class _Catalogue:
    """The ``translations`` object WTForms asks for: our Flask-Babel catalogue."""

    def gettext(self, string: str) -> str:
        return get_translations().ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return get_translations().ungettext(singular, plural, n)


class AdminForm(BaseForm):
    class Meta:
        def get_translations(self, form: Any) -> _Catalogue:
            return _Catalogue()


def _required() -> DataRequired:
    return DataRequired(message=_l("Please fill in this field."))


def _max(n: int) -> Length:
    return Length(max=n, message=_l("Please use at most %(max)d characters."))


COMMUNE_KIND_LABELS = {"xa": _l("commune (xã)"), "phuong": _l("ward (phường)"),
                       "dac-khu": _l("special zone (đặc khu)")}
CENTRE_KIND_LABELS = {"provincial-centre": _l("provincial centre"),
                      "commune-centre": _l("commune centre")}
ROLE_LABELS = {"admin": _l("administrator"), "statistician": _l("statistician"),
               "province": _l("province user")}


class CommuneForm(AdminForm):
    code = StringField(_l("Code (5 digits)"), validators=[_required(), _max(10)])
    name_vi = StringField(_l("Name in Vietnamese"), validators=[_required(), _max(200)])
    name_en = StringField(_l("Name in English"), validators=[_max(200)])
    kind = SelectField(_l("Kind"),
                       choices=[SelectChoice(k, COMMUNE_KIND_LABELS[k]) for k in COMMUNE_KINDS])
    # InputRequired, not DataRequired: an unreadable date keeps its own message
    valid_from = DateField(_l("Valid from"), validators=[
        InputRequired(message=_l("Please fill in this field."))])
    valid_to = DateField(_l("Valid until (exclusive; empty = still valid)"),
                         validators=[Optional()])


class CentreForm(AdminForm):
    code = StringField(_l("Code"), validators=[_required(), _max(32)])
    name_vi = StringField(_l("Name in Vietnamese"), validators=[_required(), _max(300)])
    name_en = StringField(_l("Name in English"), validators=[_max(300)])
    kind = SelectField(_l("Kind"),
                       choices=[SelectChoice(k, v) for k, v in CENTRE_KIND_LABELS.items()])
    unit_code = StringField(_l("Unit code (province: 2 digits, commune: 5 digits)"),
                            validators=[_required(), _max(10)])


class CounterForm(AdminForm):
    code = StringField(_l("Code"), validators=[_required(), _max(32)])
    name_vi = StringField(_l("Name in Vietnamese"), validators=[_required(), _max(200)])
    name_en = StringField(_l("Name in English"), validators=[_max(200)])


class KioskForm(AdminForm):
    centre = StringField(_l("Centre code"), validators=[_required(), _max(32)])
    counter = StringField(_l("Counter code (optional)"), validators=[_max(32)])
    label = StringField(_l("Where it stands (for staff)"), validators=[_max(200)])


class ConfirmForm(AdminForm):
    """A button that changes something: only the CSRF token (and sometimes a choice)."""


class ItemsForm(AdminForm):
    """Item texts are read from ``text_vi_<id>`` / ``text_en_<id>`` / ``na_<id>`` fields,
    one per item of the version; this form only carries the CSRF token."""


class UserForm(AdminForm):
    display_name = StringField(_l("Name shown on pages"), validators=[_max(200)])
    role = SelectField(_l("Role"), choices=[SelectChoice(r, ROLE_LABELS[r]) for r in ROLES])
    province = SelectField(_l("Province (province users only)"), choices=[],
                           validate_choice=False)


_NEW_PASSWORD = {"autocomplete": "new-password"}  # browsers must not fill in the admin's own


class NewUserForm(UserForm):
    username = StringField(_l("User name"), validators=[_required(), _max(80)],
                           render_kw={"autocomplete": "off"})
    # least privilege first: a slip of the mouse must not create an administrator
    role = SelectField(_l("Role"), choices=[SelectChoice(r, ROLE_LABELS[r]) for r in ROLES],
                       default="province")
    password = PasswordField(_l("Password"), validators=[_required(), _max(200)],
                             render_kw=_NEW_PASSWORD)
    confirm = PasswordField(_l("Password again"), validators=[_required(), _max(200)],
                            render_kw=_NEW_PASSWORD)


class PasswordForm(AdminForm):
    password = PasswordField(_l("New password"), validators=[_required(), _max(200)],
                             render_kw=_NEW_PASSWORD)
    confirm = PasswordField(_l("New password again"), validators=[_required(), _max(200)],
                            render_kw=_NEW_PASSWORD)

