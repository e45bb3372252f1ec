"""Replicate-weight designs against R ``survey`` (fixtures from scripts/r_reference/replicates.R).

JK1, JKn (every lonely-PSU rule), BRR and Fay built from designs as ``as.svrepdesign`` does,
and user-supplied replicate weights as ``svrepdesign`` reads them: every estimate, SE, CI
bound, df and deff at ``rtol=1e-9``; R's replicate factors and Hadamard matrices exactly;
a deliberately broken input per estimator that must fail; the Rao-Wu bootstrap by its
distribution (not R's random numbers); hypothesis properties.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import analysis
from analysis import replicates as rep
from tests.stats.r_cases import build_design, dataset, load_cases, match_rows
from tests.stats.test_r_core import close

RTOL = 1e-9
ALL = load_cases("replicates")
CASES = [c for c in ALL if "rows" in c]
DESIGNS = {c["id"]: c for c in ALL if c["id"].endswith("_design")}
HADAMARD = next(c for c in ALL if c["id"] == "hadamard")
QR_RANKS = next(c for c in ALL if c["id"] == "qr_rank")["matrices"]
FIELDS = ("estimate", "se", "ci_low", "ci_high", "df", "deff")

# warnings R also gives, which our conversions repeat (and nothing else may be raised)
EXPECTED_WARNINGS = (
    "after the first stage have been dropped",
    "No sampling weights provided",
    "were undefined",
)


@contextmanager
def r_like_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Record warnings; fail on any that R would not give for the same call."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
    for w in caught:
        assert any(text in str(w.message) for text in EXPECTED_WARNINGS), str(w.message)


def replicate_case_design(case: dict, data: pd.DataFrame | None = None) -> analysis.SurveyDesign:
    """The replicate design a fixture case describes (as.svrepdesign or svrepdesign)."""
    if case.get("svrep"):
        s = case["svrep"]
        rscales = s.get("rscales")
        return rep.from_columns(
            dataset(case["data"]) if data is None else data, s.get("weights"), s["repweights"],
            s["kind"], scale=s.get("scale"), rscales=None if rscales is None else rscales,
            mse=bool(s.get("mse")), combined_weights=bool(s.get("combined_weights", True)))
    r = case["replicates"]
    return rep.replicate_design(build_design(case, data), r["kind"],
                                fay_rho=float(r.get("fay_rho") or 0), mse=bool(r.get("mse")))


def estimate(case: dict, design: analysis.SurveyDesign) -> analysis.Estimate:
    stat, variables, by = case["statistic"], case["variables"], case.get("by")
    if stat == "mean":
        return analysis.mean(design, variables, by=by)
    if stat == "total":
        return analysis.total(design, variables, by=by)
    if stat == "ratio":
        return analysis.ratio(design, variables, case["denominator"], by=by)
    return analysis.prop(design, variables[0], case["value"], by=by)


def rows_of(case: dict, design: analysis.SurveyDesign) -> pd.DataFrame:
    return estimate(case, design).to_frame(level=case.get("level", 0.95),
                                           method=case.get("ci_method"))


def agrees(actual: float, desired: float | str | None) -> bool:
    """``close`` at rtol 1e-9, with R's infinities (written as text in the JSON)."""
    if isinstance(desired, str):
        return actual == float(desired)
    return close(actual, desired)


def mismatches(case: dict, table: pd.DataFrame, fields: tuple[str, ...] = FIELDS) -> list[str]:
    out = []
    for row, mine in match_rows(case, table):
        for field in fields:
            if field in row and not agrees(float(mine[field]), row[field]):
                out.append(f"{row['domain']} {row['variable']} {field}: "
                           f"python {mine[field]!r} R {row[field]!r}")
    return out


def first_psu_rows(design: analysis.SurveyDesign) -> np.ndarray:
    """Row index of each first-stage PSU's first row, PSUs in order of first appearance."""
    _, first = np.unique(design.stages[0].row_cluster, return_index=True)
    return np.sort(first)


# ---------------------------------------------------------------------- agreement with R
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_matches_r(case: dict) -> None:
    with r_like_warnings():
        design = replicate_case_design(case)
        table = rows_of(case, design)
    bad = mismatches(case, table)
    assert not bad, f"{case['id']}: " + "; ".join(bad)


@pytest.mark.parametrize("block", DESIGNS.values(), ids=list(DESIGNS))
def test_replicate_set_matches_r(block: dict) -> None:
    """degf, scale, rscales, number of replicates, and R's replicate factors themselves."""
    with r_like_warnings():
        design = replicate_case_design(block)
    reps = design.replicates
    assert reps is not None
    assert reps.df == block["degf"]
    assert reps.count == block["n_replicates"]
    assert_allclose(reps.scale, block["scale"], rtol=RTOL, atol=0)
    assert_allclose(np.broadcast_to(reps.rscales, (reps.count,)), block["rscales"], rtol=RTOL,
                    atol=0)
    if "factors" in block:
        rows = first_psu_rows(design)
        factors = reps.weights[rows] / design.weights[rows, None]
        assert_allclose(factors, np.array(block["factors"], dtype=float), rtol=RTOL, atol=0)


@pytest.mark.parametrize("item", HADAMARD["matrices"], ids=[str(m["n"]) for m in
                                                            HADAMARD["matrices"]])
def test_hadamard_is_rs(item: dict) -> None:
    expected = np.array([[int(ch) for ch in row] for row in item["rows"]])
    assert np.array_equal(rep.hadamard(item["n"]), expected)


@pytest.mark.parametrize("item", QR_RANKS, ids=[f"{m['eps']:g}_{len(m['x'])}x{len(m['x'][0])}"
                                                 for m in QR_RANKS])
def test_qr_rank_is_rs(item: dict) -> None:
    """R's LINPACK rank with tol 1e-5 (what degf uses), near and far from the tolerance."""
    x = np.array(item["x"], dtype=float)
    assert rep.qr_rank(x) == item["rank"]
    # the domain path (collapsed rows, SVD shortcut) agrees with it
    assert rep.replicate_domain_degf(x, np.zeros(len(x), dtype=np.int64), 1)[0] == item["rank"] - 1


def test_qr_rank_is_not_an_svd_rank() -> None:
    """An SVD rank with numpy's default tolerance counts columns R treats as dependent."""
    item = next(m for m in QR_RANKS if m["eps"] == 1e-6 and len(m["x"]) == 12)
    x = np.array(item["x"], dtype=float)
    assert np.linalg.matrix_rank(x) != item["rank"]


# ---------------------------------------------------------------------- the tests can fail
BROKEN = {
    "mean": "stratclus_jkn_mean",
    "total": "clus1_jk1_total",
    "ratio": "pairs_brr_ratio",
    "prop": "strat_jkn_prop_by_stype_logit",
}


@pytest.mark.parametrize("statistic", list(BROKEN))
def test_broken_replicate_weights_fail_the_comparison(statistic: str) -> None:
    """Perturbing one replicate column by 1% must change the SEs beyond the tolerance."""
    case = next(c for c in CASES if c["id"] == BROKEN[statistic])
    design = replicate_case_design(case)
    reps = design.replicates
    assert reps is not None
    assert case["statistic"] == statistic
    weights = reps.weights.copy()
    weights[:, 0] *= np.linspace(1.0, 1.02, len(weights))
    broken = design.__class__(**{**design.__dict__, "replicates": reps.with_weights(weights)})
    bad = mismatches(case, rows_of(case, broken), ("se",))
    assert bad
    assert not mismatches(case, rows_of(case, design))


@pytest.mark.parametrize("other", ["sylvester", "rows_shifted"])
def test_wrong_hadamard_fails(monkeypatch: pytest.MonkeyPatch, other: str) -> None:
    """BRR from another Hadamard matrix than R's is not R's replicate set.

    For 100 strata R uses Paley's order-104 matrix; a Sylvester matrix of order 128 (what a
    naive implementation would double up to), or R's matrix with other rows assigned to the
    strata, must both fail the comparison.
    """
    block = DESIGNS["pairs_brr_design"]
    expected = np.array(block["factors"], dtype=float)
    real = rep.hadamard

    def wrong(n: int) -> np.ndarray:
        if other == "sylvester":
            h = rep._precooked(0)
            while h.shape[0] < n + 1:
                h = rep._doubler(h)
            return h
        h = real(n)
        return np.vstack([h[:1], np.roll(h[1:], 1, axis=0)])

    monkeypatch.setattr(rep, "hadamard", wrong)
    design = replicate_case_design(block)
    assert design.replicates is not None
    rows = first_psu_rows(design)
    factors = design.replicates.weights[rows] / design.weights[rows, None]
    assert factors.shape != expected.shape or not np.allclose(factors, expected, rtol=RTOL,
                                                              atol=0)


# ---------------------------------------------------------------------- policy and errors
def test_jk1_refuses_strata_and_brr_needs_pairs() -> None:
    strat = build_design(next(c for c in CASES if c["id"] == "strat_jkn_mean"))
    with pytest.raises(analysis.DesignError, match="JK1 for a stratified design"):
        rep.replicate_design(strat, "JK1")
    with pytest.raises(analysis.DesignError, match="exactly two PSUs"):
        rep.replicate_design(strat, "BRR")
    clus = build_design(next(c for c in CASES if c["id"] == "clus1_nofpc_jk1_mean"))
    with pytest.raises(analysis.DesignError, match="needs strata"):
        rep.replicate_design(clus, "jkn")
    with pytest.raises(analysis.DesignError, match="Unknown replicate type"):
        rep.replicate_design(clus, "jackknife")


def test_jkn_lonely_fail_names_the_stratum() -> None:
    case = next(c for c in CASES if c["id"] == "lonely_remove_jkn_mean")
    design = build_design(case).with_lonely_psu("fail")
    with pytest.raises(analysis.LonelyPSUError, match="Stratum D"):
        rep.replicate_design(design, "JKn")


def test_auto_is_jk1_or_jkn() -> None:
    clus = build_design(next(c for c in CASES if c["id"] == "clus1_nofpc_jk1_mean"))
    assert rep.replicate_design(clus).variance_method == "JK1"
    strat = build_design(next(c for c in CASES if c["id"] == "strat_nofpc_jkn_mean"))
    assert rep.replicate_design(strat).variance_method == "JKn"


def test_user_weights_validation() -> None:
    data = dataset("apiclus1_rep").copy()
    with pytest.raises(analysis.DesignError, match="No column matches"):
        rep.from_columns(data, "pw", "^nothing$", "JK1", scale=1.0)
    data.loc[3, "jkw02"] = np.nan
    with pytest.raises(analysis.DesignError, match="jkw02.*rows 4"):
        rep.from_columns(data, "pw", "^jkw[0-9]+$", "JK1", scale=1.0)
    with pytest.raises(analysis.DesignError, match="rscales for combined JKn"):
        rep.from_columns(dataset("apiclus1_rep"), "pw", "^jkw[0-9]+$", "JKn")
    with pytest.warns(UserWarning, match="guessing n = number of replicates"):
        guessed = rep.from_columns(dataset("apiclus1_rep"), "pw", "^jkw[0-9]+$", "JK1")
    assert guessed.replicates is not None
    assert guessed.replicates.scale == pytest.approx(14 / 15, rel=1e-15)


def test_bad_domain_replicates_warn_and_are_discarded() -> None:
    """A domain missing from a replicate gives no estimate there; R drops it with a warning."""
    data = dataset("apiclus1").copy()
    data["one_psu"] = np.where(data["dnum"] == data["dnum"].iloc[0], "a", "b")
    design = rep.replicate_design(analysis.SurveyDesign.from_frame(data, psu="dnum",
                                                                   weights="pw"), "JK1")
    with pytest.warns(UserWarning, match="1 replicate estimate"):
        result = analysis.mean(design, "api00", by="one_psu")
    assert result.se[0, 0] == 0.0  # every remaining replicate keeps the whole domain


# ---------------------------------------------------------------------- likelihood CI
def test_likelihood_interval_on_replicate_designs_is_defined() -> None:
    """R 4.1.1 returns NA here (its Pearson residuals break on svyrep designs); ours is the
    same algorithm with the replicate variance of the logit and the Taylor-style dispersion,
    so it lies near the logit interval (the profile is nearly quadratic) and contains p."""
    case = next(c for c in CASES if c["id"] == "clus1_jk1_prop_logit")
    design = replicate_case_design(case)
    result = analysis.prop(design, "sch.wide", "Yes")
    lik = result.confint(method="likelihood")[0, 0]
    logit = result.confint(method="logit")[0, 0]
    p = result.estimate[0, 0]
    assert lik[0] < p < lik[1]
    assert_allclose(lik, logit, rtol=0.01, atol=0)


# ---------------------------------------------------------------------- the SIPAS helpers
def test_replicate_variance_callback_matches_the_estimator() -> None:
    case = next(c for c in CASES if c["id"] == "strat_jkn_ratio_by_stype")
    design = replicate_case_design(case)
    data = design.data
    codes = pd.Categorical(data["stype"]).codes.astype(np.int64)
    num = data["api00"].to_numpy(float)
    den = data["api99"].to_numpy(float)

    def ratio(w: np.ndarray) -> np.ndarray:
        t = rep.domain_totals(w, np.column_stack([num, den]), codes, 3)
        return t[..., :1] / t[..., 1:]

    est, cov = rep.replicate_variance(design, ratio)
    direct = analysis.ratio(design, "api00", "api99", by="stype")
    assert_allclose(est, direct.estimate, rtol=1e-12, atol=0)
    assert_allclose(cov, direct.vcov, rtol=1e-9, atol=0)
    totals = rep.replicate_totals(design, np.column_stack([num, den]), codes, 3)
    assert totals.shape == (design.replicates.count + 1, 3, 2)
    assert_allclose(totals[0, :, 0], analysis.total(design, "api00", by="stype").estimate[:, 0],
                    rtol=1e-12, atol=0)


# ---------------------------------------------------------------------- bootstrap
def _strat(fpc: bool) -> analysis.SurveyDesign:
    return analysis.SurveyDesign.from_frame(dataset("apistrat"), strata="stype", weights="pw",
                                            fpc="fpc" if fpc else None)


def test_bootstrap_same_seed_same_numbers_different_seed_different() -> None:
    design = _strat(False)
    a = rep.replicate_design(design, "bootstrap", replicates=30, seed=7)
    b = rep.replicate_design(design, "bootstrap", replicates=30, seed=7)
    c = rep.replicate_design(design, "bootstrap", replicates=30, seed=8)
    assert a.replicates is not None
    assert b.replicates is not None
    assert c.replicates is not None
    assert np.array_equal(a.replicates.weights, b.replicates.weights)
    assert not np.array_equal(a.replicates.weights, c.replicates.weights)
    assert analysis.mean(a, "api00").se[0, 0] == analysis.mean(b, "api00").se[0, 0]
    assert analysis.mean(a, "api00").se[0, 0] != analysis.mean(c, "api00").se[0, 0]


def test_bootstrap_leaves_global_rng_alone() -> None:
    state = np.random.get_state()[1].copy()
    rep.replicate_design(_strat(False), "bootstrap", replicates=10, seed=1)
    assert np.array_equal(np.random.get_state()[1], state)


@pytest.mark.parametrize("fpc", [False, True])
def test_bootstrap_factors_average_one_within_strata(fpc: bool) -> None:
    """Rao-Wu factors: never negative, mean exactly 1 over each stratum's PSUs in every
    replicate, and variance 1 - f_h across replicates."""
    design = _strat(fpc)
    boot = rep.replicate_design(design, "bootstrap", replicates=2000, seed=3)
    assert boot.replicates is not None
    factors = boot.replicates.weights / design.weights[:, None]
    assert (factors >= 0).all()
    stratum = design.stages[0].cluster_stratum[design.stages[0].row_cluster]
    for h in np.unique(stratum):
        rows = stratum == h
        assert_allclose(factors[rows].mean(axis=0), 1.0, rtol=1e-12, atol=0)
        f = design.stages[0].n_sampled[h] / design.stages[0].popsize[h] if fpc else 0.0
        assert factors[rows].var(axis=1).mean() == pytest.approx(1 - f, rel=0.05)


@pytest.mark.parametrize("fpc", [False, True])
def test_bootstrap_variance_is_the_linearized_one_on_average(fpc: bool) -> None:
    """Averaged over seeds, bootstrap variances of a total and of means are within a few % of
    the linearized variances (with the fpc when the design has one)."""
    design = _strat(fpc)
    taylor_t = analysis.total(design, "enroll").var[0, 0]
    taylor_m = analysis.mean(design, ["api00", "api99"]).var[0]
    ratios_t, ratios_m = [], []
    for seed in range(20):
        boot = rep.replicate_design(design, "bootstrap", replicates=200, seed=seed)
        ratios_t.append(analysis.total(boot, "enroll").var[0, 0] / taylor_t)
        ratios_m.append(analysis.mean(boot, ["api00", "api99"]).var[0] / taylor_m)
    assert np.mean(ratios_t) == pytest.approx(1.0, abs=0.04)
    assert_allclose(np.mean(ratios_m, axis=0), 1.0, rtol=0, atol=0.04)


def test_bootstrap_df_is_rank_minus_one() -> None:
    boot = rep.replicate_design(_strat(False), "bootstrap", replicates=20, seed=1)
    assert boot.replicates is not None
    assert boot.replicates.df == 19
    assert analysis.mean(boot, "api00").df[0] == 19


# ---------------------------------------------------------------------- properties
def _jk1() -> analysis.SurveyDesign:
    return rep.replicate_design(
        analysis.SurveyDesign.from_frame(dataset("apiclus1"), psu="dnum", weights="pw"), "JK1")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c=st.floats(min_value=1e-3, max_value=1e3, allow_nan=False))
def test_scaling_weights_leaves_means_and_replicate_ses(c: float) -> None:
    design = _jk1()
    reps = design.replicates
    assert reps is not None
    scaled = design.__class__(**{**design.__dict__, "weights": design.weights * c,
                                 "replicates": reps.with_weights(reps.weights * c)})
    a = analysis.mean(design, ["api00", "api99"], by="stype")
    b = analysis.mean(scaled, ["api00", "api99"], by="stype")
    assert_allclose(b.estimate, a.estimate, rtol=1e-12, atol=0)
    assert_allclose(b.se, a.se, rtol=1e-9, atol=0)
    assert np.array_equal(a.df, b.df)
    pa = analysis.prop(design, "sch.wide", "Yes", by="stype")
    pb = analysis.prop(scaled, "sch.wide", "Yes", by="stype")
    assert_allclose(pb.confint(), pa.confint(), rtol=1e-9, atol=0)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_permuting_rows_changes_nothing(seed: int) -> None:
    design = _jk1()
    reps = design.replicates
    assert reps is not None
    order = np.random.default_rng(seed).permutation(design.n)
    data = design.data.iloc[order].reset_index(drop=True)
    permuted = analysis.SurveyDesign.from_frame(data, psu="dnum", weights="pw")
    permuted = permuted.__class__(**{**permuted.__dict__,
                                     "replicates": reps.with_weights(reps.weights[order])})
    for stat in ("mean", "total"):
        fn = getattr(analysis, stat)
        a, b = fn(design, ["api00"], by="stype"), fn(permuted, ["api00"], by="stype")
        assert_allclose(b.estimate, a.estimate, rtol=1e-12, atol=0)
        assert_allclose(b.se, a.se, rtol=1e-9, atol=0)
        assert_allclose(b.deff, a.deff, rtol=1e-9, atol=0)
        assert np.array_equal(a.df, b.df)
    ra = analysis.ratio(design, "api00", "api99")
    rb = analysis.ratio(permuted, "api00", "api99")
    assert_allclose(rb.se, ra.se, rtol=1e-9, atol=0)
    assert math.isfinite(float(rb.se[0, 0]))
