"""Run one reference case (from tests/fixtures/r_*.json) through the Python engine.

Each fixture case names the data set, the design columns, the statistic and the domains; this
module rebuilds the same design with :mod:`analysis`, estimates, and returns rows shaped like the
fixture's (domain labels, estimate, se, ci_low, ci_high, df, deff) for comparison.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pandas as pd

import analysis
from analysis.results import Estimate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@cache
def dataset(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "data" / f"{name}.csv", keep_default_na=True)


def load_cases(name: str) -> list[dict]:
    with open(FIXTURES / f"r_{name}.json", encoding="utf-8") as fh:
        return json.load(fh)["cases"]


def build_design(case: dict, data: pd.DataFrame | None = None) -> analysis.SurveyDesign:
    spec = case["design"]
    return analysis.SurveyDesign.from_frame(
        dataset(case["data"]) if data is None else data,
        psu=spec.get("psu"),
        strata=spec.get("strata"),
        weights=spec.get("weights"),
        probs=spec.get("probs"),
        fpc=spec.get("fpc"),
        nest=bool(spec.get("nest", False)),
        lonely_psu=spec.get("lonely_psu", "fail"),
    )


def estimate(case: dict, design: analysis.SurveyDesign) -> Estimate:
    stat = case["statistic"]
    variables = case["variables"]
    by = case.get("by")
    if stat == "mean":
        return analysis.mean(design, variables, by=by)
    if stat == "total":
        return analysis.total(design, variables, by=by)
    if stat == "ratio":
        return analysis.ratio(design, variables, case["denominator"], by=by)
    if stat == "prop":
        return analysis.prop(design, variables[0], case["value"], by=by)
    raise ValueError(f"unknown statistic {stat}")


def python_rows(case: dict, design: analysis.SurveyDesign | None = None) -> pd.DataFrame:
    """The engine's table for a case, indexed like the fixture rows."""
    design = build_design(case) if design is None else design
    result = estimate(case, design)
    return result.to_frame(level=case.get("level", 0.95), method=case.get("ci_method"))


def match_rows(case: dict, table: pd.DataFrame) -> list[tuple[dict, pd.Series]]:
    """Pair each fixture row with the engine's row for the same domain and variable."""
    pairs = []
    for row in case["rows"]:
        sel = table["variable"] == row["variable"]
        domain = row["domain"] or {}
        for col, value in domain.items():
            sel &= table[col].astype(str) == str(value)
        found = table[sel]
        assert len(found) == 1, f"{case['id']}: no unique row for {domain} {row['variable']}"
        pairs.append((row, found.iloc[0]))
    assert len(table) == len(case["rows"]), (
        f"{case['id']}: engine gave {len(table)} rows, R {len(case['rows'])}"
    )
    return pairs
