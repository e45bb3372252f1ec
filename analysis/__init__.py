"""sipas statistics engine: design-based estimation for complex samples and the SIPAS indices.

Pure numerics on plain tables (pandas DataFrames or files); never imports the web application.
The numbers agree with R's ``survey`` package (tests compare against stored R output).

The names below load their module on first use (PEP 562), so that importing one submodule
(``analysis.design``, ``analysis.errors``) does not load scipy.stats with the estimators.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "DesignSpec": "design", "LonelyPSU": "design", "SurveyDesign": "design",
    "CalibrationError": "errors", "DesignError": "errors", "EstimationError": "errors",
    "LonelyPSUError": "errors", "SurveyError": "errors",
    "domain_contrast": "estimators", "linearize": "estimators", "mean": "estimators",
    "prop": "estimators", "ratio": "estimators", "total": "estimators",
    "CIMethod": "intervals", "Estimate": "results",
}

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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'analysis' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"analysis.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
