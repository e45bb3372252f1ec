"""The likelihood CI's pieces against R (fixtures from scripts/r_reference/likelihood.R).

The whole interval is compared with R on 14 cases in test_r_core.py (rtol 1e-9; they agree
to ~4e-15). Here every step is compared on its own, with tolerances set just above what
was measured, so that a step which merely approximates R fails: the IRLS coefficient (the
limit ``logit(p)`` is 1.7e-11 away), the naive variance of the last IRLS iteration (the limit
is ~1e-5 away), the profile points, R's fmm spline and approx.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.testing import assert_allclose

import analysis
from analysis import likelihood_ci as lik
from tests.stats.r_cases import build_design, load_cases

CASES = load_cases("likelihood")
SPLINES = [c for c in CASES if c["kind"] == "spline"]
APPROX = next(c for c in CASES if c["kind"] == "approx")
PROFILES = [c for c in CASES if c["kind"] == "profile"]
TIGHT = 1e-13  # R's spline/approx and the IRLS are transcribed; rounding only


def fitted(case: dict) -> tuple[analysis.Estimate, int]:
    """The proportion's estimate on the case's design and the row of its domain."""
    design = build_design(case)
    by = "stype" if case["domain"] else None
    result = analysis.prop(design, case["variable"], case["value"], by=by)
    row = 0 if by is None else int(np.flatnonzero(result.domains["stype"] == case["domain"])[0])
    return result, row


# ---------------------------------------------------------------------- spline and approx
@pytest.mark.parametrize("case", SPLINES, ids=[c["id"] for c in SPLINES])
def test_spline_is_rs(case: dict) -> None:
    sx, sy = lik.spline(np.array(case["x"], dtype=float), np.array(case["y"], dtype=float))
    assert_allclose(sx, case["sx"], rtol=TIGHT, atol=0)
    assert_allclose(sy, case["sy"], rtol=TIGHT, atol=1e-15)


def test_approx_is_rs() -> None:
    out = lik.approx(np.array(APPROX["x"]), np.array(APPROX["y"]), np.array(APPROX["xout"]))
    expected = np.array([np.nan if v is None else v for v in APPROX["yout"]], dtype=float)
    assert_allclose(out, expected, rtol=TIGHT, atol=0)


def test_natural_spline_end_conditions_would_fail() -> None:
    """The fmm end conditions matter: a natural spline (zero end curvature) differs."""
    from scipy.interpolate import CubicSpline

    case = next(c for c in SPLINES if c["id"] == "spline_9")
    natural = CubicSpline(case["x"], case["y"], bc_type="natural")(case["sx"])
    assert not np.allclose(natural, case["sy"], rtol=1e-9, atol=0)


# ---------------------------------------------------------------------- the fit and profile
@pytest.mark.parametrize("case", PROFILES, ids=[c["id"] for c in PROFILES])
def test_glm_fit_is_rs(case: dict) -> None:
    result, d = fitted(case)
    fit = result.logistic
    assert fit is not None
    assert result.logit_var is not None
    assert fit.iterations[d, 0] == case["iter"]
    assert_allclose(fit.coef[d, 0], case["coef"], rtol=TIGHT, atol=0)
    assert_allclose(fit.deviance[d, 0], case["deviance"], rtol=TIGHT, atol=0)
    assert_allclose(fit.naive_var[d, 0], case["naive_cov"], rtol=1e-12, atol=0)
    assert_allclose(result.logit_var[d, 0], case["cov_unscaled"], rtol=1e-12, atol=0)
    assert_allclose(fit.dispersion[d, 0], case["dispersion"], rtol=1e-12, atol=0)
    assert fit.n_rows[d] == case["n"]
    assert result.df[d] == case["ddf"]


@pytest.mark.parametrize("case", PROFILES, ids=[c["id"] for c in PROFILES])
def test_profile_is_rs(case: dict) -> None:
    result, d = fitted(case)
    fit = result.logistic
    assert fit is not None
    assert result.logit_var is not None
    lam, alpha, zmax = lik.profile_settings(fit, result.logit_var, result.df[:, None], 0.95)
    assert_allclose(lam[d, 0], case["lambda"], rtol=1e-12, atol=0)
    assert_allclose(alpha[d, 0], case["alpha"], rtol=1e-12, atol=0)
    assert_allclose(zmax[d, 0], case["zmax"], rtol=1e-12, atol=0)
    points = lik.profile_points(
        b0=float(fit.coef[d, 0]), se=float(np.sqrt(result.logit_var[d, 0])),
        dev0=float(fit.deviance[d, 0]), s1=float(fit.s1[d, 0]), s0=float(fit.s0[d, 0]),
        dispersion=float(fit.dispersion[d, 0]), zmax=float(zmax[d, 0]))
    assert points is not None
    b, z = points
    assert_allclose(b, case["par"], rtol=1e-12, atol=0)
    assert_allclose(z, case["z"], rtol=1e-9, atol=1e-12)
    ci = result.confint(method="likelihood")[d, 0]
    assert_allclose(ci, case["ci_p"], rtol=1e-12, atol=0)


@pytest.mark.parametrize("case", PROFILES, ids=[c["id"] for c in PROFILES])
def test_irls_limit_instead_of_irls_fails(case: dict) -> None:
    """Replacing R's IRLS path by its limit (logit of the mean, p(1-p) sum W) is detectably
    not R: the coefficient misses at 1e-13 and the naive variance at 1e-9."""
    result, d = fitted(case)
    fit = result.logistic
    assert fit is not None
    p = fit.s1 / (fit.s1 + fit.s0)
    limit = dataclasses.replace(fit, coef=np.log(p / (1 - p)),
                                naive_var=1 / ((fit.s1 + fit.s0) * p * (1 - p)))
    assert not np.isclose(limit.coef[d, 0], case["coef"], rtol=TIGHT, atol=0)
    assert not np.isclose(limit.naive_var[d, 0], case["naive_cov"], rtol=1e-9, atol=0)


def test_likelihood_needs_the_fit() -> None:
    with pytest.raises(analysis.EstimationError, match="needs the model fit"):
        analysis.intervals.proportion_interval(np.array([0.3]), np.array([0.01]), 10, 0.95,
                                               "likelihood", n_rows=50)


def test_degenerate_and_no_df() -> None:
    """p = 1 falls back to Korn-Graubard (flagged elsewhere); df <= 0 gives NaN as R stops."""
    case = PROFILES[0]
    design = build_design(case)
    data = design.data.assign(all_yes="Yes")
    every = analysis.prop(analysis.SurveyDesign.from_frame(data, psu="dnum", weights="pw"),
                          "all_yes", "Yes")
    lo, hi = every.confint(method="likelihood")[0, 0]
    assert 0 < lo < 1
    assert hi == 1.0
    result, _ = fitted(case)
    assert result.logistic is not None
    assert result.logit_var is not None
    lo, hi = lik.profile_interval(result.logistic, result.logit_var, 0.0, 0.95)
    assert np.isnan(lo).all()
    assert np.isnan(hi).all()


# ---------------------------------------------------------------------- batch = one at a time
def r_spline_eval_loop(u: np.ndarray, x: np.ndarray, y: np.ndarray, b: np.ndarray,
                       c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """R's C ``spline_eval`` loop, literally (the reference for the vectorized version)."""
    n = len(x)
    v = np.empty(len(u))
    i = 0
    for m, ul in enumerate(u):
        if ul < x[i] or (i < n - 1 and x[i + 1] < ul):
            i, j = 0, n
            while True:
                k = (i + j) // 2
                if ul < x[k]:
                    j = k
                else:
                    i = k
                if not j > i + 1:
                    break
        dx = ul - x[i]
        v[m] = y[i] + dx * (b[i] + dx * (c[i] + dx * d[i]))
    return v


@pytest.mark.parametrize("seed", range(6))
def test_vectorized_spline_eval_is_rs_loop(seed: int) -> None:
    """Including points exactly on knots, reached step by step or after a jump."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-3, 3, 9))
    y = np.sin(x)
    b, c, d = lik.fmm_spline(x, y)
    u = np.sort(np.concatenate([rng.uniform(x[0], x[-1], 5 + 20 * (seed % 2)), x[[0, 3, 4, 8]]]))
    assert_allclose(lik.spline_eval(u, x, y, b, c, d), r_spline_eval_loop(u, x, y, b, c, d),
                    rtol=0, atol=0)


def test_batched_intervals_equal_one_at_a_time() -> None:
    rng = np.random.default_rng(11)
    n = 300
    p = rng.uniform(0.02, 0.98, n)
    total = rng.uniform(5, 400, n)
    s1, s0 = p * total, (1 - p) * total
    b0 = np.log(p / (1 - p))
    dev0 = np.asarray(lik._deviance(s1, s0, lik.linkinv(b0)))
    se = np.sqrt(rng.uniform(0.2, 3.0, n) / (total * p * (1 - p)))
    dispersion = total / (total - 1)
    alpha = rng.uniform(0.001, 0.03, n)
    zmax = np.sqrt(lik.stats.f.isf(alpha, 1, total - 1))
    lo, hi = lik._intervals(b0=b0, se=se, dev0=dev0, s1=s1, s0=s0, dispersion=dispersion,
                            zmax=zmax, alpha=alpha)
    one = np.array([lik._one_interval(b0=b0[i], se=se[i], dev0=dev0[i], s1=s1[i], s0=s0[i],
                                      dispersion=dispersion[i], zmax=zmax[i], alpha=alpha[i])
                    for i in range(n)])
    assert_allclose(np.column_stack([lo, hi]), one, rtol=1e-15, atol=0, equal_nan=True)
    assert np.isfinite(one).mean() > 0.5
