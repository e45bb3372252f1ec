"""Design weights from the frame: the cell rule, every collapsing step, reports, Kish deff."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.errors import EstimationError
from analysis.frame_weights import frame_weights
from tests.stats.r_cases import dataset


def responses_of(cells: dict[tuple[str, str, str], int], period: str = "2025Q1"
                 ) -> pd.DataFrame:
    """cells: (commune, centre, field) -> number of responses."""
    rows = [{"period": period, "commune": m, "centre": c, "field": f}
            for (m, c, f), k in cells.items() for _ in range(k)]
    return pd.DataFrame(rows)


def frame_of(cells: dict[tuple[str, str], float], period: str = "2025Q1") -> pd.DataFrame:
    return pd.DataFrame([{"period": period, "centre": c, "field": f, "dossiers": n}
                         for (c, f), n in cells.items()])


def action(result, centre: str, field: str) -> str:
    rep = result.report.set_index(["centre", "field"])
    return rep.loc[(centre, field), "action"]


def test_cells_weighted_on_their_own() -> None:
    resp = responses_of({("m1", "a", "land"): 10, ("m1", "a", "tax"): 5,
                         ("m1", "b", "land"): 8})
    frame = frame_of({("a", "land"): 200, ("a", "tax"): 50, ("b", "land"): 80})
    res = frame_weights(resp, frame)
    expected = np.r_[np.full(10, 20.0), np.full(5, 10.0), np.full(8, 10.0)]
    np.testing.assert_allclose(res.weights.to_numpy(), expected, rtol=1e-15)
    assert (res.report["action"] == "weighted").all()
    w = expected
    assert res.kish_deff == pytest.approx(len(w) * (w**2).sum() / w.sum() ** 2, rel=1e-12)
    assert res.n_eff == pytest.approx(w.sum() ** 2 / (w**2).sum(), rel=1e-12)
    assert res.weights.sum() == pytest.approx(330)


def test_small_or_empty_cells_collapse_to_the_centre() -> None:
    resp = responses_of({("m1", "a", "land"): 10, ("m1", "a", "tax"): 2,
                         ("m1", "a", "civil"): 6, ("m1", "b", "land"): 9})
    frame = frame_of({("a", "land"): 200, ("a", "tax"): 30, ("a", "birth"): 70,
                      ("b", "land"): 90})  # civil: responses, no frame; birth: the reverse
    res = frame_weights(resp, frame)
    assert action(res, "a", "tax") == "collapsed_to_centre"
    assert action(res, "a", "land") == "collapsed_to_centre"
    assert action(res, "b", "land") == "weighted"
    rep = res.report.set_index(["centre", "field"])
    assert rep.loc[("a", "tax"), "reason_code"] == "few_responses"
    assert rep.loc[("a", "civil"), "reason_code"] == "no_frame_count"
    assert rep.loc[("a", "birth"), "reason_code"] == "no_responses"
    assert rep.loc[("a", "land"), "reason_code"] == "sibling_collapsed"
    at_a = (resp["centre"] == "a").to_numpy()
    np.testing.assert_allclose(res.weights[at_a], 300 / 18, rtol=1e-15)
    assert res.weights.sum() == pytest.approx(390)  # every dossier represented
    assert res.weighting_cell[at_a].nunique() == 1


def test_failing_centre_collapses_to_the_commune() -> None:
    resp = responses_of({("m1", "a", "land"): 3, ("m1", "b", "land"): 12,
                         ("m2", "d", "land"): 7})
    frame = pd.concat([frame_of({("a", "land"): 40, ("b", "land"): 100, ("d", "land"): 70}),
                       frame_of({("c", "land"): 60}).assign(commune="m1")])
    res = frame_weights(resp, frame)
    for centre in ("a", "b", "c"):
        assert action(res, centre, "land") == "collapsed_to_commune"
    assert action(res, "d", "land") == "weighted"
    in_m1 = (resp["commune"] == "m1").to_numpy()
    np.testing.assert_allclose(res.weights[in_m1], 200 / 15, rtol=1e-15)
    assert res.weights.sum() == pytest.approx(270)


def test_unweightable_responses_are_reported_not_dropped() -> None:
    resp = responses_of({("m1", "a", "land"): 6, ("m2", "x", "land"): 4})
    frame = frame_of({("a", "land"): 60, ("z", "tax"): 10})  # z: no commune known
    res = frame_weights(resp, frame)
    assert action(res, "x", "land") == "not_weighted"
    assert "no_frame_in_commune" in res.report.set_index("centre").loc["x", "reason_code"]
    assert action(res, "z", "tax") == "not_represented"
    assert len(res.unweighted) == 4
    assert res.weights.isna().sum() == 4
    assert res.summary()["not_weighted"] == 1
    assert res.report["reason"].str.len().gt(0).sum() == 2


def test_unusable_responses_do_not_count() -> None:
    resp = responses_of({("m1", "a", "land"): 8})
    resp["usable"] = [True] * 6 + [False] * 2
    res = frame_weights(resp, frame_of({("a", "land"): 60}), usable="usable")
    np.testing.assert_allclose(res.weights[:6], 10.0)
    assert res.weights[6:].isna().all()
    assert len(res.unweighted) == 0


def test_periods_are_weighted_separately() -> None:
    resp = pd.concat([responses_of({("m1", "a", "land"): 5}, "p1"),
                      responses_of({("m1", "a", "land"): 10}, "p2")], ignore_index=True)
    frame = pd.concat([frame_of({("a", "land"): 50}, "p1"), frame_of({("a", "land"): 50}, "p2")])
    res = frame_weights(resp, frame)
    np.testing.assert_allclose(res.weights[:5], 10.0)
    np.testing.assert_allclose(res.weights[5:], 5.0)


@pytest.mark.parametrize(("frame", "message"), [
    (frame_of({("a", "land"): -3}), r"counts >= 0; bad rows 1"),
    (frame_of({("a", "land"): 3}).assign(dossiers="many"), r"counts >= 0"),
    (pd.concat([frame_of({("a", "land"): 3})] * 2), r"listed twice at rows 2"),
    (frame_of({("a", "land"): 3}).drop(columns="field"), r"not in the frame: field"),
])
def test_bad_frames(frame: pd.DataFrame, message: str) -> None:
    resp = responses_of({("m1", "a", "land"): 6})
    with pytest.raises(EstimationError, match=message):
        frame_weights(resp, frame)


def test_centre_in_two_communes_is_an_error() -> None:
    resp = responses_of({("m1", "a", "land"): 3, ("m2", "a", "tax"): 3})
    with pytest.raises(EstimationError, match="more than one commune"):
        frame_weights(resp, frame_of({("a", "land"): 10, ("a", "tax"): 5}))


def test_reproduces_the_weights_of_the_r_fixture_data() -> None:
    """sipas.csv's weights were made in R as dossiers / responses per centre x field."""
    data = dataset("sipas")
    frame = data[["centre", "field", "dossiers"]].drop_duplicates()
    res = frame_weights(data, frame, period=None, min_responses=4)
    assert (res.report["action"] == "weighted").all()
    np.testing.assert_allclose(res.weights.to_numpy(), data["weight"].to_numpy(), rtol=1e-14)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(1, 8))
def test_weights_add_up_to_the_represented_dossiers(seed: int, minimum: int) -> None:
    rng = np.random.default_rng(seed)
    cells, frame = {}, {}
    for m in range(3):
        for c in range(int(rng.integers(1, 4))):
            for f in ("land", "tax", "civil"):
                k = int(rng.integers(0, 9)) if rng.random() > 0.2 else 0
                if k:
                    cells[(f"m{m}", f"m{m}c{c}", f)] = k
                if rng.random() > 0.15:
                    frame[(f"m{m}c{c}", f)] = float(rng.integers(1, 300))
    resp = responses_of(cells) if cells else responses_of({("m0", "m0c0", "land"): 1})
    fr = frame_of(frame) if frame else frame_of({("m0c0", "land"): 5.0})
    fr["commune"] = fr["centre"].str[:2]
    res = frame_weights(resp, fr, min_responses=minimum)
    rep = res.report
    represented = rep.loc[rep["weighting_cell"] != "", "dossiers"].sum()
    assert res.weights.sum() == pytest.approx(represented, rel=1e-12)
    assert set(rep["action"]) <= {"weighted", "collapsed_to_centre", "collapsed_to_commune",
                                  "not_weighted", "not_represented"}
    assert rep.loc[rep["action"] == "weighted", "responses"].ge(minimum).all()
    n_resp = rep.loc[rep["action"] == "not_weighted", "responses"].sum()
    assert len(res.unweighted) == n_resp


def test_population_of_the_weighting_cell_for_fpc() -> None:
    resp = responses_of({("m1", "a", "land"): 10, ("m1", "a", "tax"): 2, ("m1", "b", "land"): 8})
    frame = frame_of({("a", "land"): 200, ("a", "tax"): 30, ("b", "land"): 80})
    res = frame_weights(resp, frame)
    at_a = (resp["centre"] == "a").to_numpy()
    np.testing.assert_allclose(res.population[at_a], 230.0)
    np.testing.assert_allclose(res.population[~at_a], 80.0)
    # weight x responses of the cell = its population
    cells = pd.DataFrame({"cell": res.weighting_cell, "w": res.weights,
                          "pop": res.population}).groupby("cell")
    np.testing.assert_allclose(cells["w"].sum(), cells["pop"].first())
