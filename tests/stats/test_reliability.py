"""NCHS Data Presentation Standards for Proportions (Parker et al. 2017): every branch."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.intervals import proportion_interval
from analysis.reliability import (
    Reason,
    assess_proportions,
    ci_width,
    cv,
    effective_sample_size,
    korn_graubard_interval,
    reason_text,
    relative_ci_width,
)


def one(p: float, se: float, n: float, df: float = 100, **kw: object):
    a = assess_proportions(np.array([p]), np.array([se**2]), np.array([n]), np.array([df]),
                           **kw)
    return a.flag[0], a.reason_code[0], a


def test_korn_graubard_matches_svyciprop_beta() -> None:
    """With the uncapped effective n, the interval is R svyciprop(method='beta')'s."""
    p = np.array([0.3, 0.05, 0.92, 0.5])
    var = np.array([0.001, 0.0004, 0.0009, 0.01])
    df = np.array([30.0, 5.0, 12.0, np.inf])
    n = np.array([400.0, 120.0, 300.0, 50.0])
    lo, hi = korn_graubard_interval(p, p * (1 - p) / var, df, n)
    rlo, rhi = proportion_interval(p, var, df, 0.95, "beta", n_rows=n)
    np.testing.assert_allclose(lo, rlo, rtol=1e-12)
    np.testing.assert_allclose(hi, rhi, rtol=1e-12)


def test_effective_n_is_n_over_floored_deff() -> None:
    p, var, n = np.array([0.5, 0.5, 0.0]), np.array([0.0025, 0.00025, 0.0]), np.array([200, 200,
                                                                                     80])
    np.testing.assert_allclose(effective_sample_size(p, var, n), [100.0, 200.0, 80.0])


def test_small_effective_n_is_suppressed() -> None:
    flag, code, a = one(0.5, 0.1, n=100)  # n_eff = 0.25 / 0.01 = 25
    assert flag == "suppress"
    assert code == Reason.EFFECTIVE_N
    assert a.n_eff[0] == pytest.approx(25.0)


def test_narrow_interval_is_presented() -> None:
    flag, code, a = one(0.5, 0.005, n=20000)
    assert flag == "ok"
    assert code == ""
    assert a.width[0] <= 0.05


def test_wide_interval_is_suppressed() -> None:
    flag, code, a = one(0.5, 0.09, n=40)  # n_eff ~ 31, width ~ 0.35
    assert flag == "suppress"
    assert code == Reason.WIDE_CI
    assert a.width[0] >= 0.30


def test_relative_width_suppresses_small_proportions() -> None:
    flag, code, a = one(0.05, 0.018, n=200)  # n_eff ~ 147, width ~ 0.09, relative > 130%
    assert 0.05 < a.width[0] < 0.30
    assert a.relative_width[0] > 1.30
    assert flag == "suppress"
    assert code == Reason.RELATIVE_WIDTH


def test_complement_width_is_footnoted_for_large_proportions() -> None:
    flag, code, a = one(0.95, 0.018, n=200)
    assert a.relative_width[0] < 1.30 < a.complement_relative_width[0]
    assert flag == "review"
    assert code == Reason.COMPLEMENT_WIDTH


def test_low_df_is_flagged_for_review() -> None:
    flag, code, _ = one(0.5, 0.005, n=20000, df=5)
    assert flag == "review"
    assert code == Reason.LOW_DF


def test_estimates_of_0_and_1() -> None:
    flag, code, a = one(1.0, 0.0, n=60)
    assert flag == "review"
    assert code == Reason.EXTREME
    assert a.n_eff[0] == 60
    assert a.kg_low[0] < 1.0
    assert a.kg_high[0] == 1.0
    flag, code, _ = one(0.0, 0.0, n=20)
    assert flag == "suppress"
    assert code == Reason.EFFECTIVE_N


def test_zero_variance_never_passes_as_precise() -> None:
    flag, code, a = one(0.7, 0.0, n=80, df=0)
    assert flag == "review"
    assert code == f"{Reason.ZERO_VARIANCE};{Reason.LOW_DF}"
    assert a.width[0] > 0.1  # interval from the nominal n, not zero width
    assert "simple random sampling" in a.reason[0]


def test_no_answers_and_partial_composites() -> None:
    flag, code, _ = one(np.nan, np.nan, n=0)
    assert flag == "suppress"
    assert code == Reason.NO_ANSWERS
    flag, code, _ = one(0.5, 0.005, n=20000, partial=np.array([True]))
    assert flag == "review"
    assert code == Reason.PARTIAL


def test_reasons_are_sentences_with_numbers() -> None:
    _, _, a = one(0.5, 0.1, n=100)
    assert a.reason[0] == "Effective sample size 25.0 is below 30 (NCHS standard)."
    assert reason_text("df_below_8", df=3) == ("Only 3 degrees of freedom (fewer than 8): "
                                               "statistical review (NCHS standard).")


def test_helpers() -> None:
    np.testing.assert_allclose(cv(np.array([0.5, 0.0]), np.array([0.05, 0.1])), [0.1, np.nan])
    np.testing.assert_allclose(ci_width(np.array([0.2]), np.array([0.5])), [0.3])
    np.testing.assert_allclose(relative_ci_width(np.array([0.2]), np.array([0.5]),
                                                 np.array([0.25])), [1.2])


def test_vectorized_shapes_and_order_of_reasons() -> None:
    p = np.array([[0.5, 0.95], [np.nan, 0.05]])
    var = np.array([[1e-6, 0.018**2], [np.nan, 0.018**2]])
    n = np.array([[20000, 200], [0, 200]])
    df = np.array([[3.0, 3.0], [3.0, 3.0]])
    a = assess_proportions(p, var, n, df)
    assert a.flag.shape == (2, 2)
    assert a.reason_code[0, 1] == "complement_relative_ci_width_above_130pct;df_below_8"
    assert a.flag.tolist() == [["review", "review"], ["suppress", "suppress"]]


def test_screened_widths_give_the_exact_decisions() -> None:
    """The cheap screening of interval widths never changes a flag (exact widths re-checked)."""
    rng = np.random.default_rng(42)
    m = 60000
    p = rng.uniform(0.001, 0.999, m)
    n = rng.integers(20, 3000, m).astype(float)
    var = p * (1 - p) / n * rng.uniform(0.5, 6, m)
    df = rng.integers(1, 60, m).astype(float)
    a = assess_proportions(p, var, n, df)
    width, rel, comp = a.width, a.relative_width, a.complement_relative_width
    judged = a.n_eff >= 30
    wide = judged & (width > 0.05) & (width >= 0.30)
    rel_bad = judged & (width > 0.05) & (width < 0.30) & (rel > 1.30)
    expected_suppress = ~judged | wide | rel_bad
    np.testing.assert_array_equal(a.flag == "suppress", expected_suppress)
    comp_bad = judged & (width > 0.05) & (width < 0.30) & ~rel_bad & (comp > 1.30)
    np.testing.assert_array_equal(
        np.char.find(a.reason_code.astype(str), "complement") >= 0, comp_bad)
    assert 0 < expected_suppress.mean() < 1


def test_fallback_interval_equals_the_intervals_module() -> None:
    """SIPAS computes the 0/1 and zero-variance fallback itself: it must be intervals'."""
    p = np.array([1.0, 0.0, 0.7, 0.3, 1.0])
    n = np.array([60.0, 45.0, 30.0, 1.0, 12.0])
    df = np.array([4.0, 0.0, 2.0, 3.0, np.inf])
    for level in (0.95, 0.9):
        lo, hi = korn_graubard_interval(p, n, df, n, level)
        rlo, rhi = proportion_interval(p, np.zeros(5), df, level, "logit", n_rows=n)
        np.testing.assert_allclose(lo, rlo, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(hi, rhi, rtol=1e-12, atol=1e-15)
