"""Calibration against R ``survey`` (fixtures from scripts/r_reference/calibration.R).

Each fixture case lists the calibration ``steps`` R took (postStratify, rake, calibrate,
trimWeights); the test replays them with :mod:`analysis.calibration` on the same base design and
compares the calibrated weights of every row (and replicate column), then every estimate, SE, CI
bound, df and deff at ``rtol=1e-9, atol=0``.

One rule needs saying: when a statistic is itself a calibration variable (the mean of ``api99``
after calibrating on ``api99``), its variance is zero in exact arithmetic and R's SE is rounding
noise (~1e-14 relative to the estimate). No two implementations share noise, so such a row is
compared as "zero at the estimate's precision" on both sides (SE below 1e-9 x estimate) instead of
relatively. Everything else is relative.
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import analysis
from analysis import calibration as cal
from analysis.design import Replicates
from tests.stats.r_cases import build_design, load_cases, match_rows, python_rows

RTOL = 1e-9
FIELDS = ("estimate", "se", "ci_low", "ci_high", "df", "deff")
ALL = load_cases("calibration")
SETUPS = {c["setup"]: c for c in ALL if c.get("kind") == "weights" and "setup" in c}
WEIGHT_CASES = [c for c in ALL if c.get("kind") == "weights"]
ESTIMATE_CASES = [c for c in ALL if "rows" in c]


# ---------------------------------------------------------------------- replaying R's steps
def margin(spec: dict) -> cal.Margin:
    return cal.Margin.coerce((spec["columns"], pd.DataFrame(spec["table"])))


def apply_step(design: analysis.SurveyDesign, step: dict) -> analysis.SurveyDesign:
    method = step["method"]
    if method == "poststratify":
        return cal.poststratify(design, margin(step["margin"]), partial=step["partial"])
    if method == "rake":
        return cal.rake(design, [margin(m) for m in step["margins"]],
                        epsilon=step["epsilon"], maxit=step["maxit"])
    if method == "calibrate":
        return cal.calibrate(design, step["terms"], step["population"], calfun=step["calfun"],
                             bounds=tuple(step["bounds"]) if step.get("bounds") else None,
                             trim=tuple(step["trim"]) if step.get("trim") else None,
                             maxit=step["maxit"], epsilon=step["epsilon"])
    if method == "trim":
        lower = -math.inf if step["lower"] is None else step["lower"]
        upper = math.inf if step["upper"] is None else step["upper"]
        return cal.trim_weights(design, lower=lower, upper=upper, strict=step["strict"])
    raise ValueError(method)


def base_design(case: dict) -> analysis.SurveyDesign:
    """The uncalibrated design; for replicate setups with R's replicate weights attached."""
    design = build_design(case)
    info = SETUPS.get(case.get("setup", ""), case).get("replicates")
    if info:
        reps = Replicates(weights=np.asarray(info["weights"], dtype=float),
                          scale=float(info["scale"]), rscales=np.asarray(info["rscales"]),
                          mse=bool(info["mse"]), kind=str(info["type"]).lower(),
                          df=int(info["df"]))
        design = dataclasses.replace(design, replicates=reps)
    return design


def calibrated(case: dict, steps: list[dict] | None = None) -> analysis.SurveyDesign:
    design = base_design(case)
    for step in case["steps"] if steps is None else steps:
        design = apply_step(design, step)
    return design


def _structural_zero(row: dict) -> bool:
    return row["se"] is not None and abs(row["se"]) <= 1e-9 * abs(row["estimate"])


def mismatches(case: dict, design: analysis.SurveyDesign) -> list[str]:
    table = python_rows(case, design)
    out = []
    for row, mine in match_rows(case, table):
        zero = _structural_zero(row)
        for field in FIELDS:
            if field not in row or row[field] is None:
                continue
            actual = float(mine[field])
            if zero and field in ("se", "deff"):
                ok = abs(float(mine["se"])) <= 1e-9 * abs(float(mine["estimate"]))
            else:
                ok = bool(np.isclose(actual, row[field], rtol=RTOL, atol=0))
            if not ok:
                out.append(f"{row['domain']} {row['variable']} {field}: python {actual!r} "
                           f"R {row[field]!r}")
    return out


# ---------------------------------------------------------------------- R comparisons
@pytest.mark.parametrize("case", WEIGHT_CASES, ids=[c["id"] for c in WEIGHT_CASES])
def test_weights_match_r(case: dict) -> None:
    with pytest.warns(cal.CalibrationWarning) if case.get("warning") else _nothing():
        design = calibrated(case)
    np.testing.assert_allclose(design.weights, case["weights"], rtol=RTOL, atol=0)
    if case.get("replicate_weights") is not None:
        assert design.replicates is not None
        np.testing.assert_allclose(design.replicates.weights,
                                   np.asarray(case["replicate_weights"], dtype=float),
                                   rtol=RTOL, atol=0)


@pytest.mark.parametrize("case", ESTIMATE_CASES, ids=[c["id"] for c in ESTIMATE_CASES])
def test_estimates_match_r(case: dict) -> None:
    bad = mismatches(case, calibrated(case))
    assert not bad, f"{case['id']}: " + "; ".join(bad[:5])


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# ---------------------------------------------------------------------- the tests can fail
def _case(case_id: str) -> dict:
    return next(c for c in ALL if c["id"] == case_id)


def _perturb_first_count(step: dict) -> dict:
    step = dict(step)
    if step["method"] == "poststratify":
        table = [dict(r) for r in step["margin"]["table"]]
        table[0]["Freq"] *= 1.01
        step["margin"] = {**step["margin"], "table": table}
    elif step["method"] == "rake":
        ms = [dict(m) for m in step["margins"]]
        table = [dict(r) for r in ms[0]["table"]]
        table[0]["Freq"] *= 1.01
        ms[0]["table"] = table
        step["margins"] = ms
    elif step["method"] == "calibrate":
        pop = dict(step["population"])
        key = next(k for k in pop if k != "(Intercept)")
        pop[key] *= 1.001  # bounded calibration must stay feasible
        step["population"] = pop
    elif step["method"] == "trim":
        step["upper"] = step["upper"] + 1
    return step


BROKEN = ["ps_clus1_mean_by_stype", "rake_clus1_total", "greg_clus1_ratio",
          "greg_bounded_clus1_mean_by_stype", "greg_raking_clus1_total",
          "greg_logit_clus1_total", "trim_clus1_mean"]


@pytest.mark.parametrize("case_id", BROKEN)
def test_comparison_detects_a_wrong_population(case_id: str) -> None:
    """A deliberately wrong count (0.1-1%) or bound must make the comparison fail."""
    case = _case(case_id)
    steps = [*case["steps"][:-1], _perturb_first_count(case["steps"][-1])]
    assert mismatches(case, calibrated(case, steps))


@pytest.mark.parametrize("case_id", ["ps_clus1_total_by_awards", "rake_clus1_total",
                                     "greg_clus1_ratio", "ps_clus2_total_by_awards",
                                     "greg_strat_mean"])
def test_weights_alone_give_the_wrong_variance(case_id: str) -> None:
    """Calibrated weights without the variance adjustment: estimates agree, SEs do not."""
    case = _case(case_id)
    design = calibrated(case)
    plain = dataclasses.replace(design, adjustments=())
    bad = mismatches(case, plain)
    assert bad
    assert all(" estimate:" not in b for b in bad)


# ---------------------------------------------------------------------- errors
@pytest.fixture
def clus1() -> analysis.SurveyDesign:
    return base_design(_case("ps_clus1_weights"))


POP_TYPES = pd.DataFrame({"stype": ["E", "H", "M"], "Freq": [4421.0, 755.0, 1018.0]})
POP_WIDE = pd.DataFrame({"sch.wide": ["No", "Yes"], "Freq": [1072.0, 5122.0]})
POP_TOTALS = {"(Intercept)": 6194.0, "stypeH": 755.0, "stypeM": 1018.0, "api99": 3914069.0}


def test_r_refuses_the_same_inputs() -> None:
    """The error cases of the fixture are errors (or non-convergence) in R too."""
    for case in (c for c in ALL if c.get("kind") == "error"):
        assert case["error"] != "no error", case["id"]


def test_post_stratum_missing_from_table_is_named(clus1: analysis.SurveyDesign) -> None:
    with pytest.raises(analysis.CalibrationError,
                       match=r"Post-stratum stype=M is in the data .* not in margin 'stype'"):
        cal.poststratify(clus1, "stype", POP_TYPES.iloc[:2])
    assert "absent from population" in _case("ps_missing_stratum")["error"]


def test_post_stratum_without_sample_is_named(clus1: analysis.SurveyDesign) -> None:
    pop = pd.concat([POP_TYPES, pd.DataFrame({"stype": ["X"], "Freq": [100.0]})])
    with pytest.raises(analysis.CalibrationError,
                       match=r"Post-stratum stype=X of margin 'stype' has a population count "
                             r"but no sampled rows.*partial=True"):
        cal.poststratify(clus1, "stype", pop)
    with pytest.warns(cal.CalibrationWarning, match=r"stype=X .* ignored"):
        cal.poststratify(clus1, "stype", pop, partial=True)
    assert "absent from sample" in _case("ps_empty_stratum")["error"]


def test_negative_and_missing_counts(clus1: analysis.SurveyDesign) -> None:
    neg = POP_TYPES.assign(Freq=[4421.0, -755.0, 1018.0])
    with pytest.raises(analysis.CalibrationError,
                       match=r"Margin 'stype': negative population count -755 for stype=H"):
        cal.poststratify(clus1, "stype", neg)
    with pytest.raises(analysis.CalibrationError, match=r"'stypeH' is a count .* negative"):
        cal.calibrate(clus1, ["stype", "api99"], {**POP_TOTALS, "stypeH": -1.0})
    with pytest.raises(analysis.CalibrationError, match=r"Margin 'stype' lacks column\(s\) Freq"):
        cal.poststratify(clus1, "stype", POP_TYPES.drop(columns="Freq"))
    with pytest.raises(analysis.CalibrationError, match=r"column\(s\) nothere not in the data"):
        cal.poststratify(clus1, "nothere", POP_TYPES.rename(columns={"stype": "nothere"}))


def test_unknown_and_missing_calibration_totals(clus1: analysis.SurveyDesign) -> None:
    with pytest.raises(analysis.CalibrationError,
                       match=r"total given for 'stypeX', which is not a column .*stypeM"):
        cal.calibrate(clus1, ["stype", "api99"], {**POP_TOTALS, "stypeX": 3.0})
    totals = {k: v for k, v in POP_TOTALS.items() if k != "api99"}
    with pytest.raises(analysis.CalibrationError, match=r"No population total .* api99"):
        cal.calibrate(clus1, ["stype", "api99"], totals)
    with pytest.raises(analysis.CalibrationError, match=r"Category stype=M is in the data .*but "
                                                        r"not in margin 'stype'"):
        cal.calibrate_margins(clus1, [POP_TYPES.iloc[:2].assign(Freq=[5000.0, 1194.0])])


def test_rake_non_convergence_names_the_margin() -> None:
    case = _case("rake_not_converged")
    with pytest.raises(analysis.CalibrationError) as err:
        calibrated(case)
    message = str(err.value)
    assert re.search(r"Raking did not converge in 2 passes .*margin 'awards' is still off by "
                     r"[0-9.e-]+ at awards=(No|Yes) \(weighted [0-9.]+, population [0-9.]+\)",
                     message), message
    assert "did not converge" in case["error"]


def test_bounded_calibration_failure_names_the_column() -> None:
    case = _case("greg_bounds_infeasible")
    with pytest.raises(analysis.CalibrationError,
                       match=r"did not converge in 50 iterations: column '[^']+' is at [0-9.]+ "
                             r"against the population total [0-9.]+ \(relative misfit 0\.37"):
        calibrated(case)
    assert "Failed to converge: eps=0.37" in case["error"]
    with pytest.warns(cal.CalibrationWarning, match="force=True"):
        design = cal.calibrate(base_design(case), ["stype", "api99"], POP_TOTALS,
                               bounds=(0.99, 1.01), force=True)
    assert np.all(design.weights / base_design(case).weights <= 1.01 + 1e-12)


def test_bad_bounds_and_singular_models(clus1: analysis.SurveyDesign) -> None:
    with pytest.raises(analysis.CalibrationError, match="Logit calibration needs finite bounds"):
        cal.calibrate(clus1, ["stype"], {"(Intercept)": 6194, "stypeH": 755, "stypeM": 1018},
                      calfun="logit")
    with pytest.raises(analysis.CalibrationError, match="must contain 1"):
        cal.calibrate(clus1, ["stype"], {"(Intercept)": 6194, "stypeH": 755, "stypeM": 1018},
                      bounds=(1.1, 2))
    data = clus1.data.assign(api99b=clus1.data["api99"] * 2)
    design = dataclasses.replace(clus1, data=data)
    with pytest.raises(analysis.CalibrationError, match=r"singular: column\(s\) api99"):
        cal.calibrate(design, ["api99", "api99b"],
                      {"(Intercept)": 6194, "api99": 3914069, "api99b": 7828138})
    with pytest.raises(analysis.CalibrationError, match="Cannot trim the weights"):
        cal.trim_weights(clus1, lower=1, upper=10, strict=True)
    with pytest.raises(analysis.CalibrationError, match="disagree on the population size"):
        cal.calibrate_margins(clus1, [POP_TYPES, POP_WIDE.assign(Freq=[1000.0, 5000.0])])


def test_margins_give_r_totals(clus1: analysis.SurveyDesign) -> None:
    """R's margins2totals: calibrate(d, list(~stype, ~sch.wide), list(pop.types, pop.schwide))."""
    terms, totals, _ = cal.margins_to_totals(clus1.data, [POP_TYPES, POP_WIDE])
    assert terms == ["stype", "sch.wide"]
    assert totals == {"(Intercept)": 6194.0, "stypeH": 755.0, "stypeM": 1018.0,
                      "sch.wideYes": 5122.0}
    linear = cal.calibrate_margins(clus1, [POP_TYPES, POP_WIDE])
    direct = cal.calibrate(clus1, ["stype", "sch.wide"], totals)
    np.testing.assert_allclose(linear.weights, direct.weights, rtol=1e-12, atol=0)


def test_cli_entry_points(clus1: analysis.SurveyDesign) -> None:
    """The command line passes (columns, table) pairs with text categories."""
    table = POP_TYPES.astype({"stype": str})
    a = cal.poststratify(clus1, ["stype"], table)
    b = cal.rake(clus1, [(["stype"], table), (["sch.wide"], POP_WIDE)])
    c = cal.calibrate_margins(clus1, [(["stype"], table)])
    np.testing.assert_allclose(a.weights, c.weights, rtol=1e-12, atol=0)
    np.testing.assert_allclose(np.bincount(pd.factorize(clus1.data["sch.wide"], sort=True)[0],
                                           weights=b.weights), [1072, 5122], rtol=1e-3)


# ---------------------------------------------------------------------- properties
SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
# raking to 1e-12 and refitting four calibrations per example cost ~2 s each: fewer examples
SLOW_SETTINGS = settings(max_examples=8, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow])


@st.composite
def samples(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A stratified cluster sample with two categorical columns and population counts for them
    (sample totals times random factors, so calibration has work to do)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows = []
    for h in range(draw(st.integers(2, 4))):
        for j in range(draw(st.integers(2, 5))):
            for _ in range(int(rng.integers(2, 9))):
                rows.append({"stratum": f"s{h}", "psu": f"s{h}p{j}",
                             "w": float(rng.uniform(1, 50)), "y": float(rng.normal(10, 3)),
                             "x": float(rng.uniform(1, 5)),
                             "a": f"a{int(rng.integers(0, 3))}",
                             "b": f"b{int(rng.integers(0, 2))}"})
    frame = pd.DataFrame(rows)
    size = frame["w"].sum() * float(rng.uniform(0.5, 2))
    pop_a = frame.groupby("a")["w"].sum()
    pop_a = pop_a * rng.uniform(0.7, 1.3, len(pop_a))
    pop_b = frame.groupby("b")["w"].sum()
    pop_b = pop_b * rng.uniform(0.7, 1.3, len(pop_b))
    pop_a = (pop_a / pop_a.sum() * size).rename("Freq").reset_index()
    pop_b = (pop_b / pop_b.sum() * size).rename("Freq").reset_index()
    return frame, pop_a, pop_b


def _design(frame: pd.DataFrame) -> analysis.SurveyDesign:
    return analysis.SurveyDesign.from_frame(frame, psu="psu", strata="stratum", weights="w")


def _margin_totals(design: analysis.SurveyDesign, column: str) -> pd.Series:
    return pd.Series(design.weights).groupby(design.data[column].to_numpy()).sum()


def _assert_margin(design: analysis.SurveyDesign, pop: pd.DataFrame, column: str,
                   rtol: float = 1e-10) -> None:
    got = _margin_totals(design, column)
    np.testing.assert_allclose(got.loc[pop[column]].to_numpy(), pop["Freq"].to_numpy(),
                               rtol=rtol, atol=0)


@SLOW_SETTINGS
@given(samples())
def test_calibrated_weights_reproduce_the_margins(data: tuple) -> None:
    frame, pop_a, pop_b = data
    d = _design(frame)
    _assert_margin(cal.poststratify(d, "a", pop_a), pop_a, "a")
    raked = cal.rake(d, [pop_a, pop_b], epsilon=1e-12, maxit=200)
    _assert_margin(raked, pop_a, "a", rtol=1e-9)
    _assert_margin(raked, pop_b, "b")
    for calfun in ("linear", "raking"):
        g = cal.calibrate_margins(d, [pop_a, pop_b], calfun=calfun)
        _assert_margin(g, pop_a, "a", rtol=1e-6)
        _assert_margin(g, pop_b, "b", rtol=1e-6)
    totals = {"(Intercept)": float(pop_a["Freq"].sum()), "x": float((d.weights
              * frame["x"]).sum() * 1.1)}
    g = cal.calibrate(d, ["x"], totals)
    np.testing.assert_allclose((g.weights * frame["x"]).sum(), totals["x"], rtol=1e-10)


@SLOW_SETTINGS
@given(samples())
def test_calibrating_twice_changes_nothing(data: tuple) -> None:
    frame, pop_a, pop_b = data
    d = _design(frame)
    once = cal.poststratify(d, "a", pop_a)
    twice = cal.poststratify(once, "a", pop_a)
    np.testing.assert_allclose(twice.weights, once.weights, rtol=1e-12, atol=0)
    # post-stratification residuals are a projection: the SE does not move either
    np.testing.assert_allclose(analysis.mean(twice, "y", by="b").se,
                               analysis.mean(once, "y", by="b").se, rtol=1e-9, atol=0)
    for calfun in ("linear", "raking"):
        g1 = cal.calibrate_margins(d, [pop_a, pop_b], calfun=calfun, epsilon=1e-11)
        if g1.weights.min() < 0:  # unbounded GREG may give negative weights: refused below
            with pytest.raises(analysis.CalibrationError, match="Cannot calibrate negative"):
                cal.calibrate_margins(g1, [pop_a, pop_b])
            continue
        g2 = cal.calibrate_margins(g1, [pop_a, pop_b], calfun=calfun, epsilon=1e-11)
        np.testing.assert_allclose(g2.weights, g1.weights, rtol=1e-10, atol=0)
    r1 = cal.rake(d, [pop_a, pop_b], epsilon=1e-12, maxit=200)
    r2 = cal.rake(r1, [pop_a, pop_b], epsilon=1e-12, maxit=200)
    np.testing.assert_allclose(r2.weights, r1.weights, rtol=1e-9, atol=0)


@SLOW_SETTINGS
@given(samples(), st.floats(0.01, 1000))
def test_scaling_input_weights_leaves_calibrated_weights_unchanged(data: tuple,
                                                                   c: float) -> None:
    frame, pop_a, pop_b = data
    d, dc = _design(frame), _design(frame.assign(w=frame["w"] * c))
    for method in (lambda x: cal.poststratify(x, "a", pop_a),
                   lambda x: cal.rake(x, [pop_a, pop_b], epsilon=1e-12, maxit=200),
                   lambda x: cal.calibrate_margins(x, [pop_a, pop_b]),
                   lambda x: cal.calibrate_margins(x, [pop_a, pop_b], calfun="raking",
                                                   epsilon=1e-11)):
        a, b = method(d), method(dc)
        np.testing.assert_allclose(a.weights, b.weights, rtol=1e-7, atol=0)
        np.testing.assert_allclose(analysis.mean(a, "y", by="b").se,
                                   analysis.mean(b, "y", by="b").se, rtol=1e-6, atol=0)


@SETTINGS
@given(samples(), st.floats(1.2, 3.0))
def test_trimming_keeps_the_total_and_the_bounds(data: tuple, ratio: float) -> None:
    frame, _, _ = data
    d = _design(frame)
    mean_w = d.weights.mean()
    t = cal.trim_weights(d, lower=mean_w / ratio, upper=mean_w * ratio, strict=True)
    np.testing.assert_allclose(t.weights.sum(), d.weights.sum(), rtol=1e-12)
    assert t.weights.min() >= mean_w / ratio * (1 - 1e-12)
    assert t.weights.max() <= mean_w * ratio * (1 + 1e-12)


def test_strict_trimming_when_every_weight_is_outside() -> None:
    """R would divide the trimmings by zero; they go to the weights with room instead."""
    d = analysis.SurveyDesign.from_frame(pd.DataFrame({"w": [1.0, 1.0, 10.0], "y": [1, 2, 3]}),
                                         weights="w")
    t = cal.trim_weights(d, lower=3, upper=5, strict=True)
    np.testing.assert_allclose(t.weights, [3.5, 3.5, 5.0], rtol=1e-14)


# ---------------------------------------------------------------------- weighting diagnostics
@pytest.mark.parametrize("case", [c for c in WEIGHT_CASES if "diagnostics" in c],
                         ids=[c["id"] for c in WEIGHT_CASES if "diagnostics" in c])
def test_weight_diagnostics_match_r(case: dict) -> None:
    """summary(weights(d)), Kish's n sum w^2 / (sum w)^2 and the g-weights, as computed in R."""
    from analysis.weights import weight_summary

    design = calibrated(case)
    s = weight_summary(design, base=base_design(case))
    r = case["diagnostics"]
    for key, value in r["weights"].items():
        np.testing.assert_allclose(getattr(s.weights, key), value, rtol=RTOL, atol=0)
    for key, value in r["g"].items():
        assert s.g is not None
        np.testing.assert_allclose(getattr(s.g, key), value, rtol=RTOL, atol=0)
    np.testing.assert_allclose(s.deff, r["deff"], rtol=RTOL, atol=0)
    np.testing.assert_allclose(s.n_eff, r["n_eff"], rtol=RTOL, atol=0)
    np.testing.assert_allclose(1 + s.cv**2, r["deff"], rtol=RTOL, atol=0)


def test_weight_table_and_bounds() -> None:
    from analysis.weights import weight_summary, weight_table

    case = _case("greg_bounded_clus1_weights")
    design, base = calibrated(case), base_design(case)
    s = weight_summary(design, base=base, g_bounds=(0.7, 1.5))
    g = design.weights / base.weights
    assert s.g_below == int((g < 0.7).sum())
    assert s.g_above == int((g > 1.5).sum())
    assert s.g_negative == 0
    assert s.n_positive == s.n == len(g)
    table = weight_table(design, "stype", base=base)
    assert list(table["stype"]) == ["E", "H", "M"]
    np.testing.assert_allclose(table["total"].sum(), design.weights.sum(), rtol=1e-12)
    flat = s.to_dict()
    assert {"weights_minimum", "weights_median", "g_maximum", "deff", "n_eff"} <= set(flat)
    with pytest.raises(analysis.DesignError, match="same order"):
        weight_summary(design, base=base.weights[:-1])


# ---------------------------------------------------------------------- grouped-sum variance
TAYLOR_SETUPS = [c for k, c in SETUPS.items() if not c.get("replicates")
                 and not k.startswith("ps_partial")]
ESTIMATORS = [("mean", ["api00", "api99"], "stype"), ("total", ["api00"], "awards"),
              ("ratio", ["api00"], "sch.wide"), ("mean", ["api00", "api99"], None),
              ("prop", ["awards"], ["stype", "sch.wide"])]


def _fast_and_dense(design: analysis.SurveyDesign, stat: str, variables: list[str],
                    by: object, full: bool) -> tuple[np.ndarray, np.ndarray, float]:
    from analysis import estimators, linearization

    lin = estimators.linearize(design, stat, variables, by=by, value="Yes",
                               denominator="api99" if stat == "ratio" else None)
    codes, count = lin.domains.codes, lin.domains.count
    dense = linearization._vcov_calibrated(design, lin.influence, codes, count, full=full)
    fast = cal.calibrated_vcov(design, lin.influence, codes, count, full=full)
    plain = dataclasses.replace(design, adjustments=())
    scale = float(np.max(linearization.vcov(plain, lin.influence, codes, count, full=False)))
    return fast, dense, scale


@pytest.mark.parametrize("case", TAYLOR_SETUPS, ids=[c["setup"] for c in TAYLOR_SETUPS])
def test_grouped_sum_variance_equals_the_dense_residuals(case: dict) -> None:
    """calibrated_vcov (no dense n x D matrix) = residualize every domain column + vcov.

    Tolerance: 1e-9 relative, plus 1e-13 of the uncalibrated variance for the rounding of the
    expansion Q(z) - 2a'B + a'Ga (what a structural-zero variance comes out as)."""
    design = calibrated(case)
    z = np.random.default_rng(3).normal(size=(design.n, 4))
    u, c, w = cal.combined_factors(design.adjustments)
    sequential = z
    for adjustment in design.adjustments:
        sequential = adjustment.residualize(sequential)
    np.testing.assert_allclose(z - u @ (c @ (w.T @ z)), sequential, rtol=0,
                               atol=1e-12 * np.abs(sequential).max())
    for stat, variables, by in ESTIMATORS:
        for full in (True, False):
            fast, dense, scale = _fast_and_dense(design, stat, variables, by, full)
            np.testing.assert_allclose(fast, dense, rtol=1e-9, atol=1e-13 * scale)


def test_grouped_sum_variance_matches_r_where_the_variance_is_not_zero(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Taylor fixture through the grouped-sum path (forced): only the structural zeros
    (a calibration variable's own mean or total) may differ, and only by rounding noise."""
    from analysis import linearization

    monkeypatch.setattr(linearization, "_DENSE_LIMIT", 0)
    for case in (c for c in ESTIMATE_CASES if not c.get("replicate")):
        bad = mismatches(case, calibrated(case))
        zeros = {r["variable"] for r in case["rows"] if _structural_zero(r)}
        assert all(b.split()[1] in zeros for b in bad), (case["id"], bad)


@pytest.mark.parametrize("rule", ["remove", "adjust", "average", "certainty", "fail"])
def test_grouped_sum_variance_under_every_lonely_psu_rule(rule: str) -> None:
    data = pd.read_csv("tests/fixtures/data/lonely.csv")
    design = analysis.SurveyDesign.from_frame(data, psu="dnum", strata="stratum",
                                              weights="pw", lonely_psu=rule)
    design = cal.poststratify(design, "stype", POP_TYPES)
    if rule == "fail":
        with pytest.raises(analysis.LonelyPSUError, match="Stratum D"):
            _fast_and_dense(design, "mean", ["api00"], "awards", True)
        return
    for stat, variables, by in ESTIMATORS:
        fast, dense, scale = _fast_and_dense(design, stat, variables, by, True)
        np.testing.assert_allclose(fast, dense, rtol=1e-9, atol=1e-13 * scale)


def test_thousands_of_domains_without_the_dense_matrix() -> None:
    """40,000 rows x 2,000 domains x 2 statistics would be a 1.3 GB dense matrix; the estimator
    takes the grouped-sum path and agrees with the dense path run on a few domains alone."""
    rng = np.random.default_rng(11)
    n = 40_000
    frame = pd.DataFrame({"stratum": rng.integers(0, 20, n), "w": rng.uniform(1, 9, n),
                          "y": rng.normal(50, 10, n), "x": rng.uniform(0, 1, n),
                          "cell": rng.choice(["a", "b", "c", "d"], n),
                          "dom": rng.integers(0, 2000, n)})
    frame["psu"] = frame["stratum"] * 100 + rng.integers(0, 25, n)
    design = analysis.SurveyDesign.from_frame(frame, psu="psu", strata="stratum", weights="w",
                                              nest=True)
    pop = frame.groupby("cell")["w"].sum().mul([1.1, 0.9, 1.0, 1.2]).rename("Freq")
    design = cal.calibrate(design, ["cell", "x"], {
        "(Intercept)": float(pop.sum()), "cellb": float(pop["b"]), "cellc": float(pop["c"]),
        "celld": float(pop["d"]), "x": float((frame["w"] * frame["x"]).sum() * 1.05)})
    result = analysis.mean(design, ["y", "x"], by="dom")
    assert result.vcov.shape == (2000, 2, 2)
    from analysis import estimators, linearization

    lin = estimators.linearize(design, "mean", ["y", "x"], by="dom")
    for d in (0, 777, 1999):
        codes = np.where(lin.domains.codes == d, 0, -1)
        alone = linearization._vcov_calibrated(design, lin.influence, codes, 1, full=True)[0]
        np.testing.assert_allclose(result.vcov[d], alone, rtol=1e-9, atol=0)


# ---------------------------------------------------------------------- replicate designs
@pytest.mark.parametrize("setup", ["rep_ps_clus1", "rep_rake_clus1", "rep_greg_clus1"])
def test_python_jackknife_calibrates_like_r(setup: str) -> None:
    """as.svrepdesign(dclus1) built in Python, then calibrated: R's replicate weights."""
    from analysis.replicates import replicate_design

    case = SETUPS[setup]
    design = replicate_design(build_design(case), "jk1")
    for step in case["steps"]:
        design = apply_step(design, step)
    assert design.replicates is not None
    np.testing.assert_allclose(design.weights, case["weights"], rtol=RTOL, atol=0)
    np.testing.assert_allclose(design.replicates.weights,
                               np.asarray(case["replicate_weights"], dtype=float),
                               rtol=RTOL, atol=0)


def test_trimming_a_replicate_design_trims_every_column() -> None:
    """R 4.1's trimWeights.svyrep.design is defective (see analysis.calibration); the intended
    rule: each column clipped once, the trimmings shared equally by its other positive weights,
    zero replicate weights (the dropped PSU) left at zero."""
    case = SETUPS["rep_greg_clus1"]
    design = calibrated(case)
    assert design.replicates is not None
    trimmed = cal.trim_weights(design, lower=25, upper=40)
    assert trimmed.replicates is not None
    before, after = design.replicates.weights, trimmed.replicates.weights
    np.testing.assert_allclose(after.sum(axis=0), before.sum(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(after == 0, before == 0)
    for r in range(before.shape[1]):
        col, new = before[:, r], after[:, r]
        out = (col > 0) & ((col < 25) | (col > 40))
        np.testing.assert_allclose(new[out], np.clip(col[out], 25, 40), rtol=1e-12)
        shift = new[(col > 0) & ~out] - col[(col > 0) & ~out]
        np.testing.assert_allclose(shift, shift[0], rtol=1e-9)
    np.testing.assert_allclose(trimmed.weights.sum(), design.weights.sum(), rtol=1e-12)
