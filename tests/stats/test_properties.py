"""Properties every design-based estimator must have, checked on random designs (hypothesis),
and the domain invariance R's own tests assert: ``by=`` equals zero-weighting equals the
ratio form (R survey ``tests/domain.R``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import analysis

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def stratified_samples(draw: st.DrawFn) -> pd.DataFrame:
    """2-5 strata, 2-6 PSUs each, 1-8 rows per PSU, positive weights, a 3-level domain."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    rows = []
    for h in range(draw(st.integers(2, 5))):
        for j in range(draw(st.integers(2, 6))):
            for _ in range(int(rng.integers(1, 9))):
                rows.append({"stratum": f"s{h}", "psu": f"s{h}p{j}",
                             "w": float(rng.uniform(1, 50)),
                             "y": float(rng.normal(10, 3)),
                             "x": float(rng.uniform(1, 5)),
                             "dom": f"d{int(rng.integers(0, 3))}"})
    return pd.DataFrame(rows)


def design_of(frame: pd.DataFrame, **kw: object) -> analysis.SurveyDesign:
    return analysis.SurveyDesign.from_frame(frame, psu="psu", strata="stratum", weights="w",
                                            **kw)


@SETTINGS
@given(stratified_samples(), st.floats(0.01, 1000))
def test_scaling_weights_leaves_means_and_ses_unchanged(frame: pd.DataFrame, c: float) -> None:
    a = analysis.mean(design_of(frame), ["y", "x"], by="dom")
    b = analysis.mean(design_of(frame.assign(w=frame["w"] * c)), ["y", "x"], by="dom")
    np.testing.assert_allclose(a.estimate, b.estimate, rtol=1e-10, atol=0)
    np.testing.assert_allclose(a.se, b.se, rtol=1e-8, atol=1e-12)
    ra = analysis.ratio(design_of(frame), "y", "x", by="dom")
    rb = analysis.ratio(design_of(frame.assign(w=frame["w"] * c)), "y", "x", by="dom")
    np.testing.assert_allclose(ra.se, rb.se, rtol=1e-8, atol=1e-12)


@SETTINGS
@given(stratified_samples(), st.integers(0, 2**32 - 1))
def test_permuting_rows_changes_nothing(frame: pd.DataFrame, seed: int) -> None:
    shuffled = frame.sample(frac=1.0, random_state=np.random.RandomState(seed % 2**31))
    a = analysis.total(design_of(frame), "y", by="dom").to_frame()
    b = analysis.total(design_of(shuffled), "y", by="dom").to_frame()
    pd.testing.assert_frame_equal(a, b, rtol=1e-10)


@SETTINGS
@given(stratified_samples())
def test_domain_totals_add_up_to_the_overall_total(frame: pd.DataFrame) -> None:
    design = design_of(frame)
    overall = analysis.total(design, "y").estimate[0, 0]
    parts = analysis.total(design, "y", by="dom").estimate[:, 0].sum()
    assert parts == pytest.approx(overall, rel=1e-12)


@SETTINGS
@given(stratified_samples())
def test_census_with_full_fpc_has_zero_variance(frame: pd.DataFrame) -> None:
    """Every PSU of every stratum sampled (N = n): no sampling variance at stage 1."""
    n_psu = frame.groupby("stratum")["psu"].transform("nunique")
    design = design_of(frame.assign(N=n_psu), fpc="N")
    assert np.all(analysis.mean(design, "y", by="dom").se == 0)
    assert np.all(analysis.total(design, "y").se == 0)


@SETTINGS
@given(stratified_samples())
def test_domain_by_equals_zero_weighting_equals_ratio(frame: pd.DataFrame) -> None:
    """Three routes to a domain mean agree (estimate and SE)."""
    design = design_of(frame)
    by = analysis.mean(design, "y", by="dom")
    for i, label in enumerate(by.domains["dom"]):
        inside = (frame["dom"] == label).astype(float)
        as_ratio = analysis.ratio(design_of(frame.assign(yd=frame["y"] * inside, d=inside)),
                                  "yd", "d")
        np.testing.assert_allclose(by.estimate[i], as_ratio.estimate[0], rtol=1e-10)
        # a domain with a single row has zero variance: compare with an absolute floor
        np.testing.assert_allclose(by.se[i], as_ratio.se[0], rtol=1e-8, atol=1e-12)
        zero = frame.assign(w=frame["w"] * inside, one="x")
        zeroed = analysis.mean(design_of(zero), "y", by="one")
        np.testing.assert_allclose(by.estimate[i], zeroed.estimate[0], rtol=1e-10)
        np.testing.assert_allclose(by.se[i], zeroed.se[0], rtol=1e-8, atol=1e-12)


def test_domain_contrast_equals_ratio_difference() -> None:
    """Difference of two domain means: covariance from the full design's influence values."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"stratum": np.repeat(["a", "b", "c"], 40),
                          "psu": np.repeat(np.arange(24), 5),
                          "w": rng.uniform(1, 9, 120), "y": rng.normal(0, 1, 120),
                          "dom": rng.choice(["p", "q"], 120)})
    design = design_of(frame)
    lin = analysis.linearize(design, "mean", "y", by="dom")
    diff, cov = analysis.domain_contrast(design, lin, np.array([[1.0, -1.0]]))
    est = analysis.mean(design, "y", by="dom")
    assert diff[0, 0] == pytest.approx(est.estimate[0, 0] - est.estimate[1, 0], rel=1e-12)
    # independent-domain variance differs from the true one when domains share PSUs
    independent = est.se[0, 0] ** 2 + est.se[1, 0] ** 2
    assert cov[0, 0, 0] != pytest.approx(independent, rel=1e-6)
    assert cov[0, 0, 0] > 0
