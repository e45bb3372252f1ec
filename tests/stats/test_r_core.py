"""Core estimators against R ``survey`` (fixtures from scripts/r_reference/core.R)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import analysis
from tests.stats.r_cases import build_design, load_cases, match_rows, python_rows

RTOL = 1e-9
CASES = [c for c in load_cases("core") if "rows" in c]
FIELDS = ("estimate", "se", "ci_low", "ci_high", "df", "deff")


def close(actual: float, desired: float | None) -> bool:
    if desired is None:
        return actual is None or (isinstance(actual, float) and math.isnan(actual))
    return bool(np.isclose(actual, desired, rtol=RTOL, atol=0))


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_matches_r(case: dict) -> None:
    table = python_rows(case)
    for row, mine in match_rows(case, table):
        for field in FIELDS:
            if field not in row:
                continue
            assert close(float(mine[field]), row[field]), (
                f"{case['id']} {row['domain']} {row['variable']} {field}: "
                f"python {mine[field]!r} R {row[field]!r}"
            )


def test_lonely_fail_names_the_stratum() -> None:
    case = next(c for c in load_cases("core") if c["id"] == "lonely_fail")
    design = build_design(case)
    with pytest.raises(analysis.LonelyPSUError, match=r"Stratum D .*only one PSU at stage 1"):
        analysis.mean(design, "api00")
    assert "Stratum (D) has only one PSU" in case["error"]


def test_comparison_detects_a_wrong_number() -> None:
    """A deliberately broken input must fail the comparison (the test can fail)."""
    case = next(c for c in CASES if c["id"] == "strat_mean")
    design = build_design(case)
    broken = design.with_weights(design.weights * np.linspace(1.0, 1.01, design.n))
    table = python_rows(case, broken)
    mismatches = [
        field
        for row, mine in match_rows(case, table)
        for field in ("estimate", "se")
        if not close(float(mine[field]), row[field])
    ]
    assert mismatches
