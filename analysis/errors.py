"""Exceptions raised by the statistics engine.

Every error names the column and, where it helps, the rows (1-based, as a statistician reading a
spreadsheet counts them), so that the command line can print it in one line and a user can fix
the input without reading a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence


class SurveyError(ValueError):
    """Base class: the input cannot be estimated as asked."""


class DesignError(SurveyError):
    """The design specification is inconsistent with the data (weights, strata, clusters, fpc)."""


class LonelyPSUError(DesignError):
    """A stratum has a single PSU and the lonely-PSU rule is ``fail`` (R's default)."""

    def __init__(self, stratum: object, stage: int = 1, column: str | None = None) -> None:
        where = f" of column '{column}'" if column else ""
        super().__init__(
            f"Stratum {stratum!s}{where} has only one PSU at stage {stage}; choose a lonely-PSU "
            "rule (remove, adjust, average, certainty) or collapse strata"
        )
        self.stratum = stratum
        self.stage = stage


class EstimationError(SurveyError):
    """An estimate is undefined for the data given (e.g. every value of an item is missing)."""


class CalibrationError(SurveyError):
    """Calibration or raking did not converge, or its margins do not match the data."""


def describe_rows(rows: Sequence[int] | object, limit: int = 5) -> str:
    """Format 0-based row positions as '2, 5, 9 (+3 more)' in 1-based numbering.

    Row 1 is the first data row of the input table (the header is not counted).
    """
    import numpy as np

    idx = np.asarray(rows).ravel()
    shown = ", ".join(str(int(i) + 1) for i in idx[:limit])
    more = len(idx) - limit
    return shown + (f" (+{more} more)" if more > 0 else "")
