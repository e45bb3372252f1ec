"""Forms of the statistician pages (CSRF through the one base form)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, DecimalField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from surveyapp.forms import BaseForm

C = SelectChoice  # short: the choice lists below are long


class PeriodForm(BaseForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=20)],
                       description=_l("For example 2026-Q1, 2026-H1, 2026-M03."))
    label_vi = StringField(_l("Label in Vietnamese"), validators=[Length(max=100)],
                           description=_l("For example “Quý 1/2026”."))
    label_en = StringField(_l("Label in English"), validators=[Length(max=100)])
    start = DateField(_l("First day"), validators=[InputRequired()])
    end = DateField(_l("Day after the last day"), validators=[InputRequired()],
                    description=_l("The period ends before this day (2026-Q1: 2026-04-01)."))


class FrameUploadForm(BaseForm):
    file = FileField(_l("Frame file (CSV UTF-8 or XLSX)"))


class ActionForm(BaseForm):
    """A button that only needs the CSRF token (publish, unpublish)."""


def design_form(flag_codes: list[str], defaults: dict) -> DesignForm:
    """The design form with one checkbox per quality-flag code present in the period."""

    class _Form(DesignForm):
        pass

    for code in flag_codes:
        setattr(_Form, f"exclude_{code}", BooleanField(code, default=code in defaults[
            "exclude_flags"]))
    return _Form(data={k: v for k, v in defaults.items() if k != "exclude_flags"})


class DesignForm(BaseForm):
    weights = SelectField(_l("Design weights"), choices=[
        C("frame", _l("From the frame: dossiers settled / usable responses in the cell")),
        C("equal", _l("Equal weights (no frame; for a first look only)"))])
    min_cell_responses = IntegerField(
        _l("Smallest weighting cell (usable responses)"), default=5,
        validators=[InputRequired(), NumberRange(1, 1000)],
        description=_l("Cells with fewer responses are merged with the rest of their centre, "
                       "then with their commune."))
    strata = SelectField(_l("Strata"), choices=[
        C("cell", _l("Weighting cell (centre × procedure field) — recommended")),
        C("centre", _l("Centre")), C("province", _l("Province")), C("none", _l("None"))])
    psu = SelectField(_l("Primary sampling units (PSU)"), choices=[
        C("centre_day", _l("Centre-day — recommended")), C("centre", _l("Centre")),
        C("respondent", _l("Respondent (no clustering)"))])
    fpc = BooleanField(_l("Finite population correction from the dossier counts"),
                       default=True)
    calibration = SelectField(_l("Calibration"), choices=[
        C("none", _l("None")),
        C("province", _l("Post-stratify to the frame's dossiers per province"))])
    lonely_psu = SelectField(_l("Strata with a single PSU"), choices=[
        C("adjust", _l("Adjust: centre at the overall mean (conservative) — recommended")),
        C("average", _l("Average variance of the other strata")),
        C("remove", _l("Remove: no variance from that stratum")),
        C("certainty", _l("Certainty PSU: no variance")),
        C("fail", _l("Stop the run and name the stratum"))])
    ci = SelectField(_l("Confidence interval method"), choices=[
        C("logit", _l("Logit (as R svyciprop) — recommended")),
        C("beta", _l("Beta (Korn–Graubard)")), C("mean", _l("Wald")),
        C("xlogit", _l("Logit on the mean scale (xlogit)")), C("asin", _l("Arcsine"))])
    level = DecimalField(_l("Confidence level"), default=0.95, places=3,
                         validators=[InputRequired(), NumberRange(0.5, 0.999)])
    geography = SelectField(_l("Provinces"), choices=[
        C("2025", _l("34 provinces (from 1 July 2025)")),
        C("2008", _l("63 provinces (before 1 July 2025)"))], default="2025")

    def options(self, flag_codes: list[str]) -> dict:
        """The form's values as design options (``run_design.normalise`` checks them)."""
        return {
            "weights": self.weights.data, "min_cell_responses": self.min_cell_responses.data,
            "strata": self.strata.data, "psu": self.psu.data, "fpc": bool(self.fpc.data),
            "calibration": self.calibration.data, "lonely_psu": self.lonely_psu.data,
            "ci": self.ci.data, "level": float(self.level.data or 0.95),
            "geography": self.geography.data or "2025",
            "exclude_flags": [c for c in flag_codes if getattr(self, f"exclude_{c}").data],
        }
