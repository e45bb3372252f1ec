"""SIPAS indices against R ``survey`` (fixtures from scripts/r_reference/sipas.R), bad inputs,
and properties (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import analysis
from analysis.errors import EstimationError
from analysis.sipas import CONVENTION, parse_items, sipas_indices
from tests.stats.r_cases import build_design, dataset, load_cases

RTOL = 1e-9
CASES = [c for c in load_cases("sipas") if "kind" not in c]
LEVELS = [None, "province", "commune"]
ITEMS = [f"C{c}.{k}" for c, m in enumerate([4, 4, 5, 3, 3], 1) for k in range(1, m + 1)]


def case_data(case: dict) -> pd.DataFrame:
    data = dataset(case["data"]).copy()
    for col, value in (case.get("extra_columns") or {}).items():
        data[col] = value
    return data


def run_case(case: dict, data: pd.DataFrame | None = None) -> pd.DataFrame:
    design = build_design(case, case_data(case) if data is None else data)
    return sipas_indices(design, by=LEVELS).to_frame()


def domain_of(row: dict) -> dict:
    return row["domain"] if isinstance(row["domain"], dict) else {}


def pairs(case: dict, table: pd.DataFrame) -> list[tuple[dict, pd.Series]]:
    """Each fixture row with the engine's row for the same level, domain and index."""
    out = []
    for row in case["rows"]:
        sel = (table["level"] == row["level"]) & (table["variable"] == row["variable"])
        for col, value in domain_of(row).items():
            sel &= table[col].astype(str) == str(value)
        found = table[sel]
        assert len(found) == 1, f"no unique row for {row['level']} {row['domain']}"
        out.append((row, found.iloc[0]))
    assert len(table) == len(case["rows"])
    return out


def close(actual: float, desired: float) -> bool:
    return bool(np.isclose(actual, desired, rtol=RTOL, atol=0))


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_matches_r(case: dict) -> None:
    table = run_case(case)
    checked = 0
    for row, mine in pairs(case, table):
        where = f"{case['id']} {row['level']} {domain_of(row)} {row['variable']}"
        assert mine["statistic"] == row["statistic"]
        assert mine["n"] == row["n"], where
        assert mine["df"] == row["df"], where
        if row["estimate"] is None:  # no answers: flagged, no number
            assert math.isnan(mine["estimate"]), where
            assert mine["flag"] == "suppress", where
            assert "no_answers" in mine["reason_code"], where
            continue
        assert close(mine["estimate"], row["estimate"]), where
        if row["se"] < 1e-12:  # R's value is rounding noise around an exact zero
            assert mine["se"] < 1e-12, where
            assert mine["ci_high"] > mine["ci_low"], f"{where}: zero-width interval"
            assert mine["flag"] != "ok", where
            continue
        assert close(mine["se"], row["se"]), f"{where}: se {mine['se']!r} R {row['se']!r}"
        # svycontrast's delta-method SE, where R's two routes agree to 1e-10
        alt = row.get("se_svycontrast")
        if alt is not None and abs(alt / row["se"] - 1) < 1e-10:
            assert close(mine["se"], alt), where
        for field in ("ci_low", "ci_high", "deff"):
            if row.get(field) is not None:
                assert close(mine[field], row[field]), (
                    f"{where} {field}: python {mine[field]!r} R {row[field]!r}")
        checked += 1
    assert checked > 350


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_criterion_deff_is_svyratio_deff(case: dict) -> None:
    """Our deff (SRS-without-replacement variance of the total of the linearized variable)
    is R's ``svyratio(deff=TRUE)`` for a criterion; R's svyratio estimate and SE agree too."""
    table = run_case(case)
    n = 0
    for row, mine in pairs(case, table):
        if row["statistic"] != "criterion" or row.get("deff_svyratio") is None:
            continue
        if row["se_svyratio"] < 1e-12:
            continue
        assert close(mine["deff"], row["deff_svyratio"])
        assert close(mine["estimate"], row["estimate_svyratio"])
        assert close(mine["se"], row["se_svyratio"])
        n += 1
    assert n > 300


def test_special_domains_are_defined_and_flagged() -> None:
    case = CASES[0]
    table = run_case(case)
    com = table[table["level"] == "commune"].set_index(["commune", "variable"])
    # X01: one centre -> every ratio variance is exactly zero; never a zero-width interval
    x01 = com.loc["X01"]
    assert (x01["se"] < 1e-12).all()
    assert (x01["ci_high"] - x01["ci_low"] > 0.01).all()
    assert x01["reason_code"].str.contains("zero_design_variance|effective_n").all()
    # X02: every answer satisfied -> estimates 1, Korn-Graubard interval on the nominal n
    x02 = com.loc["X02"]
    assert (x02["estimate"] == 1).all()
    assert (x02["se"] == 0).all()
    assert (x02["ci_high"] == 1).all()
    assert (x02["ci_low"] < 1).all()
    assert x02["reason_code"].str.contains("estimate_is_0_or_1|effective_n|ci_width").all()
    # X03: C5.3 has no answers; C5 and SIPAS average what is there and say so
    x03 = com.loc["X03"]
    assert x03.loc["C5.3", "flag"] == "suppress"
    assert math.isnan(x03.loc["C5.3", "estimate"])
    assert "partial_composite" in x03.loc["C5", "reason_code"]
    assert "partial_composite" in x03.loc["SIPAS", "reason_code"]
    published = table[table["flag"] != "suppress"]
    assert published[["estimate", "ci_low", "ci_high"]].notna().all().all()


def test_comparison_detects_a_wrong_number() -> None:
    """A deliberately broken input must fail the comparison (the test can fail)."""
    case = CASES[0]
    data = case_data(case)
    data["weight"] = data["weight"] * np.linspace(1.0, 1.02, len(data))
    table = run_case(case, data)
    bad = [row for row, mine in pairs(case, table)
           if row["estimate"] is not None and row["se"] > 1e-12
           and not (close(mine["estimate"], row["estimate"]) and close(mine["se"], row["se"]))]
    assert len(bad) > 100


def test_percent_output_and_columns() -> None:
    design = build_design(CASES[0], case_data(CASES[0]))
    res = sipas_indices(design, by="province")
    frac, pct = res.to_frame(), res.to_frame(percent=True)
    assert list(frac.columns[:3]) == ["province", "statistic", "variable"]
    for col in ("estimate", "se", "ci_low", "ci_high"):
        np.testing.assert_allclose(pct[col], frac[col] * 100, rtol=1e-12)
    assert {"df", "deff", "n", "n_eff", "flag", "reason", "reason_code"} <= set(frac.columns)
    assert set(frac["statistic"]) == {"criterion", "content", "sipas"}
    assert len(frac) == 6 * 25
    assert res.convention == CONVENTION
    assert "not a MoHA specification" in CONVENTION


# ---------------------------------------------------------------------- bad inputs
def small_frame(values: list[object]) -> pd.DataFrame:
    n = len(values)
    frame = pd.DataFrame({"s": ["a"] * (n // 2) + ["b"] * (n - n // 2),
                          "psu": [f"p{i % 4}" for i in range(n)], "w": 1.0})
    frame["psu"] = frame["s"] + frame["psu"]
    for item in ITEMS:
        frame[item] = "4"
    frame["C2.3"] = values
    return frame


def test_bad_item_value_names_column_and_rows() -> None:
    frame = small_frame(["4", "5", "x", "1", "na", "", "6", "2"])
    design = analysis.SurveyDesign.from_frame(frame, psu="psu", strata="s", weights="w")
    with pytest.raises(EstimationError, match=r"Item 'C2\.3' .*'x'.* rows 3, 7"):
        sipas_indices(design)


@pytest.mark.parametrize("values", [[1.0, 2.5, 3.0, 4.0], [1, 0, 3, 4], [1, 2, 3, 9]])
def test_bad_numeric_item_values(values: list[float]) -> None:
    frame = pd.DataFrame({"C1.1": values})
    with pytest.raises(EstimationError, match=r"Item 'C1\.1' must hold 1-5.* rows"):
        parse_items(frame, ["C1.1"])


def test_all_na_item_is_an_error() -> None:
    frame = small_frame(["na", "", None, "NA", "na", "na", "", "na"])
    design = analysis.SurveyDesign.from_frame(frame, psu="psu", strata="s", weights="w")
    with pytest.raises(EstimationError, match=r"Item 'C2\.3' has no answers at all"):
        sipas_indices(design)


def test_value_codings_agree() -> None:
    """Text, numbers, nullable integers and categoricals give the same classes."""
    text = pd.Series(["1", "5", "na", "NA", "", None, " 4 ", "3"])
    nums = pd.Series([1, 5, None, None, None, None, 4, 3], dtype="Int8")
    floats = nums.astype("float64")
    cats = text.astype("category")
    expected = np.array([1, 2, 0, 0, 0, 0, 2, 1])
    for series in (text, nums, floats, cats):
        got = parse_items(pd.DataFrame({"C1.1": series}), ["C1.1"])[:, 0]
        np.testing.assert_array_equal(got, expected)


def test_questionnaires_are_never_pooled() -> None:
    frame = pd.DataFrame({"C1.1": [4, 5], "L1.1": [4, 1], "psu": ["a", "b"]})
    design = analysis.SurveyDesign.from_frame(frame, psu="psu")
    with pytest.raises(EstimationError, match="never pooled"):
        sipas_indices(design)


def test_content_map_overrides_the_code() -> None:
    frame = small_frame(["4", "5", "1", "1", "na", "2", "3", "4"])
    design = analysis.SurveyDesign.from_frame(frame, psu="psu", strata="s", weights="w")
    mapping = {item: "C1" for item in ITEMS}
    res = sipas_indices(design, content_map=mapping)
    assert res.contents == ("C1",)
    lev = res.levels[0]
    np.testing.assert_allclose(lev.estimate[0, -1], lev.estimate[0, :19].mean(), rtol=1e-12)


# ---------------------------------------------------------------------- properties
SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
FEW_ITEMS = ["C1.1", "C1.2", "C2.1", "C3.1", "C3.2"]


@st.composite
def sipas_samples(draw: st.DrawFn) -> pd.DataFrame:
    """2-4 strata (provinces) of 2-5 PSUs (centres); communes of 1-3 centres; 5 items."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    rows = []
    for h in range(draw(st.integers(2, 4))):
        n_psu = int(rng.integers(2, 6))
        commune = rng.integers(0, 3, n_psu)
        for j in range(n_psu):
            for _ in range(int(rng.integers(2, 10))):
                row = {"province": f"p{h}", "centre": f"p{h}c{j}",
                       "commune": f"p{h}m{commune[j]}", "w": float(rng.uniform(1, 40))}
                for item in FEW_ITEMS:
                    row[item] = int(rng.integers(1, 6)) if rng.random() > 0.15 else None
                rows.append(row)
    frame = pd.DataFrame(rows)
    for item in FEW_ITEMS:  # every item answered at least once
        frame.loc[0, item] = 4
    return frame


def design_of(frame: pd.DataFrame, **kw: object) -> analysis.SurveyDesign:
    return analysis.SurveyDesign.from_frame(frame, psu="centre", strata="province",
                                            weights="w", **kw)


def indices(frame: pd.DataFrame, **kw: object) -> pd.DataFrame:
    res = sipas_indices(design_of(frame, **kw), FEW_ITEMS, by=LEVELS)
    return res.to_frame().sort_values(["level", "province", "commune", "variable"],
                                      na_position="first").reset_index(drop=True)


@SETTINGS
@given(sipas_samples(), st.floats(0.01, 1000))
def test_scaling_weights_leaves_indices_and_ses_unchanged(frame: pd.DataFrame, c: float
                                                          ) -> None:
    a = indices(frame)
    b = indices(frame.assign(w=frame["w"] * c))
    np.testing.assert_allclose(a["estimate"], b["estimate"], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(a["se"], b["se"], rtol=1e-7, atol=1e-12)


@SETTINGS
@given(sipas_samples(), st.integers(0, 2**31 - 1))
def test_permuting_rows_changes_nothing(frame: pd.DataFrame, seed: int) -> None:
    shuffled = frame.sample(frac=1.0, random_state=np.random.RandomState(seed))
    a = indices(frame)
    b = indices(shuffled)
    cols = ["estimate", "se", "ci_low", "ci_high", "df", "n", "deff", "n_eff"]
    np.testing.assert_allclose(a[cols].to_numpy(float), b[cols].to_numpy(float), rtol=1e-9,
                               atol=1e-13)
    assert (a["flag"] == b["flag"]).all()


@SETTINGS
@given(sipas_samples())
def test_census_with_full_fpc_has_zero_variance(frame: pd.DataFrame) -> None:
    psus = frame.groupby("province")["centre"].transform("nunique")
    table = indices(frame.assign(fpc=psus), fpc="fpc")
    assert (table["se"].fillna(0) < 1e-12).all()


@SETTINGS
@given(sipas_samples())
def test_commune_sums_add_up_to_province_sums(frame: pd.DataFrame) -> None:
    res = sipas_indices(design_of(frame), FEW_ITEMS, by=["province", "commune"])
    prov, com = res["province"], res["commune"]
    parent = com.domains["commune"].str.split("m").str[0].to_numpy()
    order = prov.domains["province"].to_numpy()
    for target, source in ((prov.numerator, com.numerator),
                           (prov.denominator, com.denominator)):
        summed = pd.DataFrame(source).groupby(parent).sum().loc[order].to_numpy()
        np.testing.assert_allclose(summed, target, rtol=1e-12)
    np.testing.assert_allclose(prov.estimate[:, : len(FEW_ITEMS)],
                               prov.numerator / prov.denominator, rtol=1e-12)


# ---------------------------------------------------------------------- other variance routes
def zero_coded(data: pd.DataFrame) -> pd.DataFrame:
    """Satisfied/answered 0-1 columns per item (s_i, a_i) for the ratio estimator."""
    out = data.copy()
    for item in ITEMS:
        num = pd.to_numeric(data[item], errors="coerce")
        out["s_" + item] = (num >= 4).astype(float)
        out["a_" + item] = num.notna().astype(float)
    return out


def criteria_by_ratio(design: analysis.SurveyDesign, by: str) -> tuple[np.ndarray, np.ndarray]:
    est, var = [], []
    for item in ITEMS:
        r = analysis.ratio(design, "s_" + item, "a_" + item, by=by)
        est.append(r.estimate[:, 0])
        var.append(r.var[:, 0])
    return np.column_stack(est), np.column_stack(var)


def test_replicate_designs_use_replicate_variance() -> None:
    from analysis.replicates import domain_totals, replicate_design, replicate_variance

    data = zero_coded(case_data(CASES[0]))
    design = replicate_design(build_design(CASES[0], data), "JKn")
    res = sipas_indices(design, by="province")["province"]
    est, var = criteria_by_ratio(design, "province")
    np.testing.assert_allclose(res.estimate[:, :19], est, rtol=1e-12)
    np.testing.assert_allclose(res.var[:, :19], var, rtol=1e-9)
    # composites: an independent route through replicate_variance
    codes = analysis.domains.Domains.from_columns(data, "province").codes
    sat = data[["s_" + i for i in ITEMS]].to_numpy()
    ans = data[["a_" + i for i in ITEMS]].to_numpy()
    content_of = np.array([int(i[1]) - 1 for i in ITEMS])

    def composite(weights: np.ndarray) -> np.ndarray:
        p = domain_totals(weights, sat, codes, 6) / domain_totals(weights, ans, codes, 6)
        contents = np.stack([p[..., content_of == c].mean(axis=-1) for c in range(5)], -1)
        return np.concatenate([contents, contents.mean(axis=-1, keepdims=True)], axis=-1)

    full, cov = replicate_variance(design, composite)
    np.testing.assert_allclose(res.estimate[:, 19:], full, rtol=1e-12)
    np.testing.assert_allclose(res.var[:, 19:], np.diagonal(cov, axis1=1, axis2=2), rtol=1e-9)
    assert res.df.tolist() == analysis.ratio(design, "s_C1.1", "a_C1.1",
                                             by="province").df.tolist()


def test_calibrated_designs_residualize_the_composites() -> None:
    from analysis.calibration import poststratify

    data = zero_coded(case_data(CASES[0]))
    design = build_design(CASES[0], data)
    population = pd.DataFrame({"field": ["land", "justice", "business"],
                               "Freq": [9000.0, 4000.0, 6000.0]})
    cal = poststratify(design, "field", population)
    res = sipas_indices(cal, by="province")["province"]
    est, var = criteria_by_ratio(cal, "province")
    np.testing.assert_allclose(res.estimate[:, :19], est, rtol=1e-12)
    np.testing.assert_allclose(res.var[:, :19], var, rtol=1e-9)
    plain = sipas_indices(design, by="province")["province"]
    assert not np.allclose(plain.var, res.var, rtol=1e-3)  # calibration changes the variance


@pytest.mark.parametrize("method", ["beta", "mean", "xlogit", "asin"])
def test_other_interval_methods(method: str) -> None:
    from analysis.intervals import proportion_interval

    design = build_design(CASES[0], case_data(CASES[0]))
    lev = sipas_indices(design, by="province", ci=method)["province"]
    ok = lev.var > 0
    lo, hi = proportion_interval(lev.estimate[ok], lev.var[ok],
                                 np.broadcast_to(lev.df[:, None], ok.shape)[ok], 0.95, method,
                                 n_rows=lev.n[ok])
    np.testing.assert_allclose(lev.ci[..., 0][ok], lo, rtol=1e-12)
    np.testing.assert_allclose(lev.ci[..., 1][ok], hi, rtol=1e-12)


def test_likelihood_is_refused_for_composites() -> None:
    design = build_design(CASES[0], case_data(CASES[0]))
    with pytest.raises(EstimationError, match="Likelihood intervals"):
        sipas_indices(design, ci="likelihood")


def test_categorical_domains_give_the_same_table() -> None:
    data = case_data(CASES[0])
    cat = data.assign(province=data["province"].astype("category"),
                      commune=pd.Categorical(data["commune"],
                                             categories=sorted(data["commune"].unique())[::-1]))
    a = sipas_indices(build_design(CASES[0], data), by=LEVELS).to_frame()
    b = sipas_indices(build_design(CASES[0], cat), by=LEVELS).to_frame()
    key = ["level", "province", "commune", "variable"]
    for frame in (a, b):
        frame[["province", "commune"]] = frame[["province", "commune"]].astype(object)
    a = a.sort_values(key, na_position="first").reset_index(drop=True)
    b = b.sort_values(key, na_position="first").reset_index(drop=True)
    pd.testing.assert_frame_equal(a.astype({"province": str, "commune": str}),
                                  b.astype({"province": str, "commune": str}))


def test_item_by_item_path_for_very_many_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    """Designs with very many cells (e.g. multi-stage with fpc) sum item by item: same table."""
    import analysis.sipas as sipas_module

    design = build_design(CASES[1], case_data(CASES[1]))
    a = sipas_indices(design, by=LEVELS).to_frame()
    monkeypatch.setattr(sipas_module, "_PATTERN_CELLS", 0)
    b = sipas_indices(design, by=LEVELS).to_frame()
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)


def test_content_of_many_items_is_split_in_blocks() -> None:
    """A content with more than five items (several pattern blocks) gives the same numbers as
    the mean of its criteria computed directly."""
    design = build_design(CASES[0], case_data(CASES[0]))
    mapping = {item: ("A" if item < "C4" else "B") for item in ITEMS}
    res = sipas_indices(design, content_map=mapping, by="province")["province"]
    crit = res.estimate[:, :19]
    first = np.array([item < "C4" for item in ITEMS])
    np.testing.assert_allclose(res.estimate[:, 19], crit[:, first].mean(axis=1), rtol=1e-12)
    plain = sipas_indices(design, by="province")["province"]
    np.testing.assert_allclose(res.var[:, :19], plain.var[:, :19], rtol=1e-10)
    assert np.isfinite(res.deff[:, 19:]).all()
    # deff of content A by brute force from row-level linearized variables
    data = zero_coded(case_data(CASES[0]))
    s = data[["s_" + i for i in ITEMS]].to_numpy()[:, first]
    a = data[["a_" + i for i in ITEMS]].to_numpy()[:, first]
    w = data["weight"].to_numpy()
    for d, prov in enumerate(res.domains["province"]):
        rows = (data["province"] == prov).to_numpy()
        big_a = (w[rows, None] * a[rows]).sum(axis=0)
        p = (w[rows, None] * s[rows]).sum(axis=0) / big_a
        u = ((s[rows] - p * a[rows]) / big_a).sum(axis=1) / first.sum()
        any_answer = a[rows].any(axis=1)
        n, big_n = any_answer.sum(), w[rows][any_answer].sum()
        v_srs = (w[rows] * u**2).sum() * (big_n - n) / (n - 1)
        assert res.deff[d, 19] == pytest.approx(res.var[d, 19] / v_srs, rel=1e-10)
        assert res.n[d, 19] == n


def test_rows_with_a_missing_domain_value_leave_that_level_only() -> None:
    data = case_data(CASES[0])
    holed = data.assign(commune=data["commune"].where(data["commune"] != "K05"))
    a = sipas_indices(build_design(CASES[0], data), by=LEVELS)
    b = sipas_indices(build_design(CASES[0], holed), by=LEVELS)
    assert "K05" not in set(b["commune"].domains["commune"])
    assert len(b["commune"].domains) == len(a["commune"].domains) - 1
    np.testing.assert_allclose(b["overall"].estimate, a["overall"].estimate, rtol=1e-14)
    np.testing.assert_allclose(b["overall"].var, a["overall"].var, rtol=1e-12)
    keep = (a["commune"].domains["commune"] != "K05").to_numpy()
    np.testing.assert_allclose(b["commune"].var, a["commune"].var[keep], rtol=1e-12)


@SETTINGS
@given(sipas_samples())
def test_on_level_hands_over_each_level_as_the_result_holds_it(frame: pd.DataFrame) -> None:
    """``on_level`` gets a one-level result per level, in the order of ``by``, equal to the
    level in the returned result; and each level alone equals the level computed with the
    others (a level's numbers involve no other level)."""
    design = design_of(frame)
    seen: list[analysis.SipasResult] = []
    res = sipas_indices(design, FEW_ITEMS, by=LEVELS, on_level=seen.append)
    assert [one.levels[0].name for one in seen] == [lev.name for lev in res.levels]
    for one, lev in zip(seen, res.levels, strict=True):
        (handed,) = one.levels
        assert one.variables == res.variables
        pd.testing.assert_frame_equal(handed.domains, lev.domains)
        for attr in ("estimate", "var", "ci", "df", "n", "n_eff", "deff"):
            np.testing.assert_array_equal(getattr(handed, attr), getattr(lev, attr), attr)
        alone = sipas_indices(design, FEW_ITEMS, by={lev.name: lev.by or None}).levels[0]
        np.testing.assert_allclose(alone.estimate, lev.estimate, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(alone.var, lev.var, rtol=1e-9, atol=1e-18)
