"""sipas statistics engine: design-based estimation for complex samples and the SIPAS indices.

Pure numerics on plain tables (pandas DataFrames or files); never imports the web application.
The numbers agree with R's ``survey`` package (tests compare against stored R output).
"""

from analysis.design import DesignSpec, LonelyPSU, SurveyDesign
from analysis.errors import (
    CalibrationError,
    DesignError,
    EstimationError,
    LonelyPSUError,
    SurveyError,
)
from analysis.estimators import domain_contrast, linearize, mean, prop, ratio, total
from analysis.intervals import CIMethod
from analysis.results import Estimate

__all__ = [
    "CIMethod",
    "CalibrationError",
    "DesignError",
    "DesignSpec",
    "Estimate",
    "EstimationError",
    "LonelyPSU",
    "LonelyPSUError",
    "SurveyDesign",
    "SurveyError",
    "domain_contrast",
    "linearize",
    "mean",
    "prop",
    "ratio",
    "total",
]
