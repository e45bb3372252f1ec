"""Comparisons: unit vs rest and Holm against R, period change, drivers, rank intervals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.compare import (
    change_drivers,
    holm,
    monte_carlo_ranks,
    period_change,
    rank_intervals,
    satterthwaite_df,
    unit_vs_rest,
)
from analysis.sipas import sipas_indices
from tests.stats.r_cases import build_design, dataset, load_cases

RTOL = 1e-9
ALL = load_cases("sipas")
CONTRAST = next(c for c in ALL if c["id"] == "unit_vs_rest_taylor")
HOLM = next(c for c in ALL if c["id"] == "holm")


def close(a: float, b: float) -> bool:
    return bool(np.isclose(a, b, rtol=RTOL, atol=0))


def contrast_table(data: pd.DataFrame | None = None) -> pd.DataFrame:
    design = build_design(CONTRAST, dataset("sipas") if data is None else data)
    return unit_vs_rest(design, "commune", "province")


def test_holm_matches_r() -> None:
    p = np.array([np.nan if v is None else v for v in HOLM["p"]])
    expected = np.array([np.nan if v is None else v for v in HOLM["adjusted"]])
    np.testing.assert_allclose(holm(p), expected, rtol=1e-15, equal_nan=True)


def test_unit_vs_rest_matches_r() -> None:
    table = contrast_table().set_index(["province", "commune", "variable"])
    for row in CONTRAST["rows"]:
        key = (row["domain"]["province"], row["domain"]["commune"], row["variable"])
        mine = table.loc[key]
        where = f"{key}"
        assert close(mine["difference"], row["difference"]), where
        assert mine["df"] == row["df"], where
        if row["se"] < 1e-9:
            continue
        assert close(mine["se"], row["se"]), f"{where} se {mine['se']} R {row['se']}"
        if row["p_value"] is not None:
            assert close(mine["p_value"], row["p_value"]), where
            assert close(mine["p_holm"], row["p_holm"]), where
    assert len(CONTRAST["rows"]) > 300


def test_unit_vs_rest_detects_a_wrong_number() -> None:
    data = dataset("sipas").copy()
    data["weight"] = data["weight"] * np.linspace(1.0, 1.02, len(data))
    table = contrast_table(data).set_index(["province", "commune", "variable"])
    bad = [r for r in CONTRAST["rows"]
           if not close(table.loc[(r["domain"]["province"], r["domain"]["commune"],
                                   r["variable"]), "difference"], r["difference"])]
    assert len(bad) > 100


def test_unit_vs_rest_flags_units_below() -> None:
    data = dataset("sipas").copy()
    low = data["commune"] == "K04"
    for item in [c for c in data.columns if c.startswith("C")]:
        data.loc[low, item] = data.loc[low, item].where(data.loc[low, item] == "na", "1")
    table = contrast_table(data)
    k04 = table[(table["commune"] == "K04") & (table["variable"] == "SIPAS")].iloc[0]
    assert k04["difference"] < -0.5
    assert k04["below"]


def test_unit_vs_rest_on_replicate_and_calibrated_designs() -> None:
    from analysis.calibration import poststratify
    from analysis.replicates import replicate_design

    design = build_design(CONTRAST, dataset("sipas"))
    taylor = unit_vs_rest(design, "commune", "province")
    # deleting the only centre of commune X01 leaves it undefined in that replicate (R too)
    with pytest.warns(UserWarning, match="undefined"):
        jk = unit_vs_rest(replicate_design(design, "JKn"), "commune", "province")
    np.testing.assert_allclose(jk["difference"], taylor["difference"], rtol=1e-12)
    # an independent route: the contrast as a statistic of the weight columns
    from analysis.replicates import domain_totals, replicate_variance

    data = dataset("sipas")
    items = [c for c in data.columns if c.startswith("C")]
    num = data[items].apply(pd.to_numeric, errors="coerce")
    sat = (num >= 4).to_numpy(float)
    ans = num.notna().to_numpy(float)
    side = np.where(data["commune"] == "K04", 0, np.where(data["province"] == "P1", 1, -1))
    content = np.array([int(i[1]) - 1 for i in items])

    def contrast(weights: np.ndarray) -> np.ndarray:
        p = domain_totals(weights, sat, side, 2) / domain_totals(weights, ans, side, 2)
        cont = np.stack([p[..., content == c].mean(axis=-1) for c in range(5)], axis=-1)
        idx = np.concatenate([p, cont, cont.mean(axis=-1, keepdims=True)], axis=-1)
        return idx[:, :1] - idx[:, 1:]

    jk_design = replicate_design(design, "JKn")
    full, cov = replicate_variance(jk_design, contrast)
    mine = jk[jk["commune"] == "K04"]
    np.testing.assert_allclose(mine["difference"], full[0], rtol=1e-12)
    np.testing.assert_allclose(mine["se"] ** 2, np.diagonal(cov[0]), rtol=1e-9)
    ok = taylor["se"] > 1e-9
    population = pd.DataFrame({"field": ["land", "justice", "business"],
                               "Freq": [9000.0, 4000.0, 6000.0]})
    cal = poststratify(design, "field", population)
    calibrated = unit_vs_rest(cal, "commune", "province")
    defined = np.isfinite(calibrated["difference"])
    assert np.isfinite(calibrated["se"][defined]).all()
    assert not np.allclose(calibrated["se"][ok], taylor["se"][ok], rtol=1e-4)


def test_whole_population_as_parent() -> None:
    design = build_design(CONTRAST, dataset("sipas"))
    table = unit_vs_rest(design, "province")
    res = sipas_indices(design, by=None).levels[0]
    assert set(table["province"]) == {f"P{i}" for i in range(1, 7)}
    assert np.isfinite(table["se"]).all()
    assert (table["df"] == res.df[0]).all()


# ---------------------------------------------------------------------- period change
def two_periods() -> tuple:
    data = dataset("sipas")
    design = build_design(CONTRAST, data)
    rng = np.random.default_rng(3)
    later = data.copy()
    items = [c for c in data.columns if c.startswith("C")]
    for item in items:
        later[item] = later[item].where(rng.random(len(later)) > 0.3, "5")
    design2 = build_design(CONTRAST, later)
    return (sipas_indices(design, by="province"), sipas_indices(design2, by="province"))


def test_period_change_by_hand() -> None:
    prev, cur = two_periods()
    table = period_change(cur, prev)
    row = table[(table["province"] == "P2") & (table["variable"] == "SIPAS")].iloc[0]
    a, b = cur["province"], prev["province"]
    d = list(a.domains["province"]).index("P2")
    v1, v2 = a.var[d, -1], b.var[d, -1]
    assert row["change"] == pytest.approx(a.estimate[d, -1] - b.estimate[d, -1], rel=1e-14)
    assert row["se"] == pytest.approx(math.sqrt(v1 + v2), rel=1e-14)
    df = (v1 + v2) ** 2 / (v1**2 / a.df[d] + v2**2 / b.df[d])
    assert row["df"] == pytest.approx(df, rel=1e-12)
    from scipy import stats

    q = stats.t.ppf(0.975, df)
    assert row["ci_low"] == pytest.approx(row["change"] - q * row["se"], rel=1e-10)
    assert row["p_value"] == pytest.approx(2 * stats.t.sf(abs(row["change"] / row["se"]), df),
                                           rel=1e-10)
    assert row["significant"] == (row["p_value"] < 0.05)


def test_change_drivers_add_up() -> None:
    prev, cur = two_periods()
    drivers = change_drivers(period_change(cur, prev))
    for _, group in drivers.groupby("province"):
        assert group["contribution"].sum() == pytest.approx(group["sipas_change"].iloc[0],
                                                            rel=1e-12)
        sizes = group["contribution"].abs().to_numpy()
        assert (np.diff(sizes) <= 1e-15).all()  # largest first
    assert {"ci_low", "ci_high", "significant"} <= set(drivers.columns)


def test_satterthwaite_reduces_to_df_when_one_side_has_no_variance() -> None:
    assert satterthwaite_df(np.array(2.0), np.array(7.0), np.array(0.0),
                            np.array(3.0)) == pytest.approx(7.0)


# ---------------------------------------------------------------------- ranks
def test_rank_intervals_klein_wright_wieczorek() -> None:
    est = np.array([0.90, 0.85, 0.80, 0.60])
    se = np.array([0.01, 0.01, 0.05, 0.01])
    table = rank_intervals(est, se, alpha=0.05)
    assert table["rank"].tolist() == [1, 2, 3, 4]
    # Bonferroni level 1 - 0.05/4, z = 2.4977: [.875, .925], [.825, .875], [.675, .925],
    # [.575, .625] (half-widths .02498, .1249): 1 is surely above 2 and 4, 3 above 4
    assert table["rank_low"].tolist() == [1, 2, 1, 4]
    assert table["rank_high"].tolist() == [2, 3, 3, 4]
    z = 2.497705474412
    np.testing.assert_allclose(table["ci_low"], est - z * se, rtol=1e-9)
    wide = rank_intervals(est, se * 100)
    assert wide["rank_low"].tolist() == [1] * 4
    assert wide["rank_high"].tolist() == [4] * 4
    asc = rank_intervals(est, se, descending=False)
    assert asc["rank"].tolist() == [4, 3, 2, 1]


def test_rank_intervals_cover_jointly_in_simulation() -> None:
    rng = np.random.default_rng(11)
    truth = np.linspace(0.6, 0.9, 12)
    se = np.full(12, 0.03)
    true_rank = 1 + (truth[None, :] > truth[:, None]).sum(axis=1)
    covered = 0
    for _ in range(300):
        t = rank_intervals(truth + rng.standard_normal(12) * se, se)
        covered += bool(((t["rank_low"] <= true_rank) & (true_rank <= t["rank_high"])).all())
    assert covered / 300 >= 0.95


def test_monte_carlo_ranks_are_seeded() -> None:
    est = np.array([0.9, 0.85, 0.5])
    se = np.array([0.05, 0.05, 0.01])
    a = monte_carlo_ranks(est, se, seed=5)
    b = monte_carlo_ranks(est, se, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert a["rank_high"].iloc[2] == 3
    assert a["rank_low"].iloc[2] == 3
    assert a["p_first"].sum() == pytest.approx(1.0)
    assert a["p_first"].iloc[0] > a["p_first"].iloc[1]


def test_calibrated_contrast_matches_domain_contrast() -> None:
    """For a criterion, unit - rest on a calibrated design equals the engine's
    domain_contrast of two ratio domains (influence values residualized on the full design)."""
    from analysis.calibration import poststratify
    from analysis.estimators import domain_contrast, linearize

    data = dataset("sipas").copy()
    num = pd.to_numeric(data["C2.2"], errors="coerce")
    data["s"] = (num >= 4).astype(float)
    data["a"] = num.notna().astype(float)
    data["side"] = np.where(data["commune"] == "K04", "a_unit",
                            np.where(data["province"] == "P1", "b_rest", None))
    population = pd.DataFrame({"field": ["land", "justice", "business"],
                               "Freq": [9000.0, 4000.0, 6000.0]})
    for design in (build_design(CONTRAST, data),
                   poststratify(build_design(CONTRAST, data), "field", population)):
        lin = linearize(design, "ratio", "s", by="side", denominator="a")
        value, cov = domain_contrast(design, lin, np.array([[1.0, -1.0]]))
        mine = unit_vs_rest(design, "commune", "province")
        row = mine[(mine["commune"] == "K04") & (mine["variable"] == "C2.2")].iloc[0]
        assert close(row["difference"], value[0, 0])
        assert close(row["se"] ** 2, cov[0, 0, 0])
