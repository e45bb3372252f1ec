"""Unit versus the rest of its parent for a national run, in O(cells) instead of O(units x cells).

``analysis.compare.unit_vs_rest`` builds the contrast's influence total on every PSU cell of
the parent *for every unit*: with centre-day PSUs a province has ~10^5 cells and ~300 centres,
so a national run would need ~10^10 cell totals. When every stratum lies inside one centre
(strata = weighting cell or centre, the default) the contrast splits exactly:

* the influence of ``I(u) - I(P minus u)`` on a cell is ``alpha_u . x_c`` on u's cells and
  ``beta_u . x_c`` on the other cells of P, where ``x_c`` are the cell's weighted sums
  (satisfied and answered, per item) and ``alpha_u``/``beta_u`` the linearization
  coefficients of the unit's and the rest's index (``analysis.sipas._coefficients``);
* strata never mix u's cells with the rest's, so the variance is the sum of the two
  quadratic forms ``alpha' M_u alpha + beta' (M_P - M_u) beta``, where ``M_X`` is the
  covariance matrix of the cell sums over X's strata as the one linearization engine
  computes it (``analysis.linearization.vcov_from_totals`` with ``full=True``, per centre;
  fpc, lonely-PSU rule and padding included), summed over the centres of X.

Estimates, degrees of freedom (the parent's), p-values, Holm and ``below`` are those of
``unit_vs_rest``; the tests check both agree to 1e-9. For designs where strata cross centres,
calibrated or replicate designs, or the ``average`` lonely-PSU rule, ``compare`` falls back to
the engine's function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from analysis.arrays import unique
from analysis.compare import _p_two_sided, _t_quantile, holm, unit_vs_rest
from analysis.design import LonelyPSU, SurveyDesign
from analysis.sipas import (
    _cell_totals,
    _coefficients,
    _contents,
    _domain_df,
    _estimates,
    _group_sum,
    parse_items,
)

ATOM = "centre_code"
FALLBACK_LIMIT = 2e8  # rows x units beyond which the engine's contrast is too slow to try


DENSE_LIMIT = 10**8  # key range up to which a presence table replaces sorting


def sorted_unique(keys: np.ndarray, size: int, inverse: bool = True
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """``np.unique(keys, return_inverse=True)`` for non-negative integer keys below
    ``size``: a presence table instead of a sort of 10^6 keys (the sort was ~1.5 s of a
    national run's comparisons); same sorted values, same inverse."""
    if size > DENSE_LIMIT or (len(keys) and keys.min() < 0):  # e.g. a missing parent (-1)
        return np.unique(keys, return_inverse=True) if inverse else (unique(keys), None)
    present = np.zeros(size, dtype=bool)
    present[keys] = True
    values = np.flatnonzero(present)
    if not inverse:  # the running count over the whole key range is most of the cost
        return values, None
    slot = np.cumsum(present, dtype=np.int64) - 1
    return values, slot[keys]


def fast_path_ok(design: SurveyDesign, strata_option: str) -> bool:
    return (design.replicates is None and not design.adjustments
            and strata_option in ("cell", "centre") and design.variance_depth == 1
            and design.lonely_psu is not LonelyPSU.AVERAGE
            and _strata_nest_in_centres(design))


def _strata_nest_in_centres(design: SurveyDesign) -> bool:
    stage = design.stages[0]
    centre = pd.factorize(design.data[ATOM])[0]
    pairs = unique(stage.cluster_stratum[stage.row_cluster] * (centre.max() + 1) + centre)
    return len(pairs) == stage.n_strata


class VsRest:
    """Per-PSU deviations and variance factors of the single-stage design, computed once.

    For a single-stage stratified design the engine's variance of influence totals ``t`` is
    ``sum_c factor_h (t_c - centre_h)^2`` over the PSUs c of the domain's strata
    (``analysis.linearization._onestage``: ``centre_h`` the stratum mean, or 0 for a lonely
    PSU under ``adjust``; ``factor_h = f_h n_h/(n_h - 1)``, or ``f_h`` for a lonely PSU, 0 in
    a census stratum; no padding, as every PSU of a stratum belongs to the domain). ``t`` is
    linear in the PSU's sums ``x``, so ``t_c - centre_h = coef . dev_c`` with
    ``dev_c = x_c - centre_h(x)``: the deviations are computed once for all units.
    """

    def __init__(self, design: SurveyDesign, items: Sequence[str]) -> None:
        self.design = design
        data = design.data
        self.items = tuple(items)
        self.contents, self.content_idx = _contents(self.items, None)
        classes = parse_items(data, self.items)
        w = np.asarray(design.weights, dtype=float)
        n_items = len(self.items)
        stage = design.stages[0]
        cl = stage.row_cluster
        self.psu_first = np.full(stage.n_clusters, -1, dtype=np.int64)
        self.psu_first[cl[::-1]] = np.arange(len(cl))[::-1]
        x = np.empty((stage.n_clusters, 2 * n_items))
        cl3 = cl.astype(np.int64) * 3
        for i in range(n_items):  # weights by class (0/1/2) per PSU: one bincount per item
            k = np.bincount(cl3 + classes[:, i], weights=w,
                            minlength=3 * stage.n_clusters).reshape(-1, 3)
            x[:, i] = k[:, 2]
            x[:, n_items + i] = k[:, 1] + k[:, 2]
        self.x = x
        h = stage.cluster_stratum
        n_h = stage.n_sampled[h]
        f_h = stage.fpc_factor[h]
        sums = np.zeros((stage.n_strata, x.shape[1]))
        np.add.at(sums, h, x)
        mean = sums[h] / n_h[:, None]
        lonely = n_h == 1
        centred = ~(lonely & (design.lonely_psu is LonelyPSU.ADJUST))
        self.dev = x - np.where(centred[:, None], mean, 0.0)
        scale = np.where(n_h > 1, f_h * n_h / np.maximum(n_h - 1, 1), f_h)
        self.factor = np.where(f_h < 1e-7, 0.0, scale)

    def _psu_codes(self, codes: np.ndarray) -> np.ndarray:
        return codes[self.psu_first]

    def compare(self, unit: list[str], parent: list[str], level: float) -> pd.DataFrame:
        """The ``unit_vs_rest`` table for units (columns ``unit``) within ``parent``."""
        data = self.design.data
        n_items, n_contents = len(self.items), len(self.contents)
        if len(unit) != 1 or len(parent) > 1:
            raise ValueError("one unit column and at most one parent column")
        if parent:
            p_codes, p_values = pd.factorize(data[parent[0]], sort=True)
        else:
            p_codes, p_values = np.zeros(len(data), dtype=np.int64), np.array([None])
        u_raw, u_values = pd.factorize(data[unit[0]], sort=True)
        valid = (u_raw >= 0) & (p_codes >= 0)
        n_parents = max(int(p_codes.max()) + 1, 1)
        pairs, inv = sorted_unique(p_codes[valid].astype(np.int64) * len(u_values)
                                   + u_raw[valid], n_parents * len(u_values))
        u_codes = np.full(len(data), -1, dtype=np.int64)
        u_codes[valid] = inv
        n_units = len(pairs)
        labels = pd.DataFrame({unit[0]: np.asarray(u_values)[pairs % len(u_values)]})
        if parent:
            labels.insert(0, parent[0], np.asarray(p_values)[pairs // len(u_values)])
        unit_parent = np.zeros(n_units, dtype=np.int64)
        unit_parent[u_codes[valid]] = p_codes[valid]
        psu_unit, psu_parent = self._psu_codes(u_codes), self._psu_codes(p_codes)
        inside = psu_unit >= 0
        s_a_u = _group_sum(psu_unit[inside], self.x[inside], n_units)
        s_a_p = _group_sum(psu_parent, self.x, n_parents)
        su, au = s_a_u[:, :n_items], s_a_u[:, n_items:]
        sr = s_a_p[unit_parent, :n_items] - su
        ar = s_a_p[unit_parent, n_items:] - au
        co_u = _coefficients(su, au, self.content_idx, n_contents)
        co_r = _coefficients(sr, ar, self.content_idx, n_contents)
        diff = (_estimates(co_u, self.content_idx, n_contents)
                - _estimates(co_r, self.content_idx, n_contents))
        var_u = self._own_variance(co_u, psu_unit, n_units)
        var_r_own = self._own_variance(co_r, psu_unit, n_units)
        m_p = np.zeros((n_parents, self.x.shape[1], self.x.shape[1]))
        order = np.argsort(psu_parent, kind="stable")
        cuts = np.searchsorted(psu_parent[order], np.arange(n_parents + 1))
        for g in range(n_parents):
            rows = order[cuts[g]:cuts[g + 1]]
            d = self.dev[rows]
            m_p[g] = d.T @ (d * self.factor[rows, None])
        v_r = self._vectors(co_r)
        quad = np.empty(v_r.shape[:2])
        for g in range(n_parents):  # v' M_P v for the units of each parent
            members = np.flatnonzero(unit_parent == g)
            v = v_r[members]
            quad[members] = (np.matmul(v, m_p[g]) * v).sum(axis=2)
        var = var_u + quad - var_r_own
        var = np.where(np.isnan(diff), np.nan, np.maximum(var, 0.0))
        return self._table(labels, diff, var, p_codes, unit_parent, n_parents, level, co_u,
                           co_r)

    def _own_variance(self, co, psu_unit: np.ndarray, n_units: int) -> np.ndarray:  # noqa: ANN001
        """Variance over each unit's own PSUs of its cell influence with coefficients ``co``
        (the engine's ``_cell_totals`` applied to deviations instead of totals)."""
        inside = np.flatnonzero(psu_unit >= 0)
        u = psu_unit[inside]
        n_items = len(self.items)
        dev = self.dev[inside]
        t = _cell_totals(co, u, dev[:, :n_items], dev[:, n_items:], self.content_idx,
                         len(self.contents))
        t *= t
        t *= self.factor[inside, None]
        return _group_sum(u, t, n_units)

    def _vectors(self, co) -> np.ndarray:  # noqa: ANN001 - analysis.sipas._Coefficients
        """(units, K, 2I) linearization coefficients on the cell sums (S_i, A_i)."""
        p0 = np.nan_to_num(co.p)
        with np.errstate(divide="ignore", invalid="ignore"):
            b_s = np.where(co.a > 0, 1.0 / co.a, 0.0)
            b_a = np.where(co.a > 0, -p0 / co.a, 0.0)
        n_units, n_items = b_s.shape
        n_contents = len(self.contents)
        omega = np.zeros((n_units, n_items + n_contents + 1, n_items))
        omega[:, np.arange(n_items), np.arange(n_items)] = 1.0
        for c in range(n_contents):
            cols = self.content_idx == c
            omega[:, n_items + c, cols] = co.content_coef[:, cols]
        omega[:, -1, :] = co.sipas_coef
        return np.concatenate([omega * b_s[:, None, :], omega * b_a[:, None, :]], axis=2)

    def _table(self, labels: pd.DataFrame, diff: np.ndarray, var: np.ndarray,
               p_codes: np.ndarray, unit_parent: np.ndarray, n_parents: int, level: float,
               co_u, co_r) -> pd.DataFrame:  # noqa: ANN001
        design = self.design
        w = np.asarray(design.weights)
        depth = design.variance_depth
        cl = design.stages[depth - 1].row_cluster
        n_cl = design.stages[depth - 1].n_clusters
        cells = sorted_unique(p_codes[w != 0].astype(np.int64) * n_cl + cl[w != 0],
                              n_parents * n_cl, inverse=False)[0]
        parent_df = _domain_df(design, cells // n_cl, cells % n_cl, n_parents)
        df = parent_df[unit_parent].astype(float)
        se = np.sqrt(var)
        q = _t_quantile(level, df)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            p = _p_two_sided(diff / se, df[:, None])
        p_holm = np.full(p.shape, np.nan)
        for g in range(n_parents):
            members = unit_parent == g
            for j in range(p.shape[1]):
                p_holm[members, j] = holm(p[members, j])
        k = diff.shape[1]
        n_items = len(self.items)
        names = (*self.items, *self.contents, "SIPAS")
        kinds = ("criterion",) * n_items + ("content",) * len(self.contents) + ("sipas",)
        out = labels.loc[labels.index.repeat(k)].reset_index(drop=True)
        out["statistic"] = np.tile(np.array(kinds, dtype=object), len(labels))
        out["variable"] = np.tile(np.array(names, dtype=object), len(labels))
        out["unit_estimate"] = _estimates(co_u, self.content_idx, len(self.contents)).ravel()
        out["rest_estimate"] = _estimates(co_r, self.content_idx, len(self.contents)).ravel()
        out["difference"] = diff.ravel()
        out["se"] = se.ravel()
        out["ci_low"] = (diff - q * se).ravel()
        out["ci_high"] = (diff + q * se).ravel()
        out["df"] = np.repeat(df, k)
        out["p_value"] = p.ravel()
        out["p_holm"] = p_holm.ravel()
        out["significant"] = out["p_holm"] < (1 - level)
        out["below"] = out["significant"] & (out["difference"] < 0)
        return out


def vs_rest(design: SurveyDesign, items: Sequence[str], strata_option: str,
            levels: dict[str, tuple[list[str], list[str]]], level: float,
            on_level: Callable[[str, pd.DataFrame | None], None] | None = None
            ) -> tuple[dict[str, pd.DataFrame | None], str]:
    """``unit_vs_rest`` for each named level: the fast path when it applies, else the
    engine's function when small enough, else ``None`` (returned note says which).
    ``on_level(name, table)`` is called as each level is done (a run stores its rows)."""
    out: dict[str, pd.DataFrame | None] = {}

    def done(name: str, table: pd.DataFrame | None) -> None:
        out[name] = table
        if on_level is not None:
            on_level(name, table)

    if fast_path_ok(design, strata_option):
        shared = VsRest(design, items)
        for name, (unit, parent) in levels.items():
            done(name, shared.compare(unit, parent, level))
        return out, "split"
    note = "engine"
    for name, (unit, parent) in levels.items():
        n_units = design.data[unit].drop_duplicates().shape[0]
        if design.n * n_units > FALLBACK_LIMIT:
            note = "skipped_too_large"
            done(name, None)
            continue
        done(name, unit_vs_rest(design, unit, parent or None, list(items), level=level))
    return out, note


__all__ = ["VsRest", "fast_path_ok", "sorted_unique", "vs_rest"]
