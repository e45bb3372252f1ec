"""All models, one module per aggregate; importing this registers them on the metadata."""

from surveyapp.models.centres import Counter, Kiosk, ProcedureField, ServiceCentre
from surveyapp.models.frames import FrameCount, Period
from surveyapp.models.geography import AdminUnit
from surveyapp.models.questionnaires import Item, Questionnaire, QuestionnaireVersion
from surveyapp.models.responses import Answer, QualityFlag, Response
from surveyapp.models.runs import AnalysisRun, RunResult
from surveyapp.models.users import AuditEvent, User

__all__ = [
    "AdminUnit",
    "AnalysisRun",
    "AuditEvent",
    "FrameCount",
    "Period",
    "RunResult",
    "User",
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
