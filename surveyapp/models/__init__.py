"""All models, one module per aggregate; importing this registers them on the metadata."""

from surveyapp.models.centres import Counter, Kiosk, ProcedureField, ServiceCentre
from surveyapp.models.geography import AdminUnit
from surveyapp.models.questionnaires import Item, Questionnaire, QuestionnaireVersion
from surveyapp.models.responses import Answer, QualityFlag, Response

__all__ = [
    "AdminUnit",
    "Answer",
    "Counter",
    "Item",
    "Kiosk",
    "ProcedureField",
    "QualityFlag",
    "Questionnaire",
    "QuestionnaireVersion",
    "Response",
    "ServiceCentre",
]
