"""Comparisons for the province reports: change between periods, unit versus the rest of its
parent, Holm adjustment, rank intervals, and which contents drove a change.

* **Change between two periods** (:func:`period_change`): the two periods are independent
  samples, so ``var(p2 - p1) = var(p2) + var(p1)``; the interval is ``diff +/- t se`` with
  Welch-Satterthwaite degrees of freedom ``(v1 + v2)^2 / (v1^2/df1 + v2^2/df2)``
  (Satterthwaite 1946), and the two-sided t test gives the p-value.
* **Unit versus the rest of its parent** (:func:`unit_vs_rest`): for every unit u (e.g. a
  commune) inside its parent P (its province), the difference between u's index and the same
  index over the rest of P, ``I(u) - I(P minus u)``. Both are composites of domain totals on
  the *full* design, so the contrast's influence value is the difference of the two
  influences and its variance comes from the one linearization engine (as
  :func:`analysis.estimators.domain_contrast`): units that share strata with the rest covary
  correctly. Degrees of freedom: the parent's (PSUs minus strata). Replicate designs
  re-estimate both sides under every replicate (``svrVar``); calibrated designs residualize
  each contrast's full-length influence.
* **Holm** (:func:`holm`): step-down adjustment of p-values (Holm 1979), as R's
  ``p.adjust(method = "holm")``; :func:`unit_vs_rest` applies it across the units of each
  parent, per index.
* **Rank intervals** (:func:`rank_intervals`): joint confidence intervals for the ranks of K
  units (Klein, Wright & Wieczorek 2020, *A joint confidence region for an overall ranking of
  populations*, JRSS C 69(3), 589-606): individual intervals at level ``1 - alpha/K``
  (Bonferroni, valid under any dependence) or ``(1 - alpha)^(1/K)`` (independent estimates);
  unit k's rank lies in ``[1 + #{j: L_j > U_k}, K - #{j: U_j < L_k}]`` (rank 1 = highest),
  and all K rank intervals hold jointly with probability at least ``1 - alpha``.
  :func:`monte_carlo_ranks` gives the alternative many dashboards use: the distribution of
  each unit's rank when estimates are drawn from their approximate normal sampling
  distributions (seeded ``numpy.random.Generator``); its intervals are marginal, not joint.
* **Which contents drove the change** (:func:`change_drivers`): SIPAS is the mean of the
  contents, so its change is exactly the sum of the contents' changes over their number;
  each content's change comes with its own interval and significance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

from analysis import linearization
from analysis.arrays import unique
from analysis.design import SurveyDesign
from analysis.domains import Domains
from analysis.errors import EstimationError
from analysis.sipas import (
    OVERALL,
    SipasLevel,
    SipasResult,
    _cell_totals,
    _coefficients,
    _contents,
    _domain_df,
    _estimates,
    _group_sum,
    _item_columns,
    parse_items,
)


# ---------------------------------------------------------------------- Holm
def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (R ``p.adjust(p, "holm")``); NaN stays NaN."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    m = len(q)
    if m == 0:
        return out
    order = np.argsort(q, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * q[order]))
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out


# ---------------------------------------------------------------------- period change
def _t_quantile(level: float, df: np.ndarray) -> np.ndarray:
    df = np.asarray(df, dtype=float)
    q = np.full(df.shape, stats.norm.ppf((1 + level) / 2))
    finite = np.isfinite(df) & (df > 0)
    q[finite] = special.stdtrit(df[finite], (1 + level) / 2)
    q[~np.isfinite(df) & ~np.isinf(df)] = np.nan
    q[(df <= 0)] = np.nan
    return q


def _p_two_sided(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    t = np.asarray(t, dtype=float)
    df = np.broadcast_to(np.asarray(df, dtype=float), t.shape)
    out = np.full(t.shape, np.nan)
    finite = np.isfinite(df) & (df > 0) & np.isfinite(t)
    out[finite] = 2 * special.stdtr(df[finite], -np.abs(t[finite]))
    normal = np.isinf(df) & np.isfinite(t)
    out[normal] = 2 * special.ndtr(-np.abs(t[normal]))
    return out


def satterthwaite_df(v1: np.ndarray, df1: np.ndarray, v2: np.ndarray, df2: np.ndarray
                     ) -> np.ndarray:
    """Welch-Satterthwaite df of a sum of two independent variance estimates."""
    v1, df1, v2, df2 = (np.asarray(a, dtype=float) for a in (v1, df1, v2, df2))
    with np.errstate(divide="ignore", invalid="ignore"):
        den = np.where(v1 > 0, v1**2 / df1, 0.0) + np.where(v2 > 0, v2**2 / df2, 0.0)
        out = (v1 + v2) ** 2 / den
    return np.where(den > 0, out, np.nan)


def _level_frame(lev: SipasLevel, result: SipasResult) -> pd.DataFrame:
    d, k = lev.estimate.shape
    frame = lev.domains.loc[lev.domains.index.repeat(k)].reset_index(drop=True)
    frame["statistic"] = np.tile(np.array(result.statistics, dtype=object), d)
    frame["variable"] = np.tile(np.array(result.variables, dtype=object), d)
    frame["estimate"] = lev.estimate.ravel()
    frame["var"] = lev.var.ravel()
    frame["df"] = np.repeat(lev.df.astype(float), k)
    frame["flag"] = lev.flag.ravel()
    return frame


def period_change(current: SipasResult, previous: SipasResult, *, level_name: str | None = None,
                  level: float = 0.95) -> pd.DataFrame:
    """Change of every index in every domain from ``previous`` to ``current`` (independent).

    Domains are matched on the level's ``by`` columns; domains present in one period only are
    left out. Returns the ``by`` columns, ``statistic``, ``variable``, ``previous``,
    ``current``, ``change``, ``se``, ``ci_low``, ``ci_high``, ``df`` (Satterthwaite),
    ``p_value``, ``significant`` (at ``1 - level``), and both periods' reliability flags.
    """
    cur = current[level_name] if level_name else current.levels[0]
    prev = previous[level_name] if level_name else previous.levels[0]
    if cur.by != prev.by:
        raise EstimationError("The two periods were computed for different domain levels")
    keys = [*cur.by, "statistic", "variable"]
    a = _level_frame(cur, current)
    b = _level_frame(prev, previous)
    m = a.merge(b, on=keys, suffixes=("_cur", "_prev"), how="inner")
    change = m["estimate_cur"] - m["estimate_prev"]
    var = m["var_cur"] + m["var_prev"]
    df = satterthwaite_df(m["var_cur"], m["df_cur"], m["var_prev"], m["df_prev"])
    se = np.sqrt(var)
    q = _t_quantile(level, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = change / se
    p = _p_two_sided(t, df)
    out = m[keys].copy()
    out["previous"] = m["estimate_prev"]
    out["current"] = m["estimate_cur"]
    out["change"] = change
    out["se"] = se
    out["ci_low"] = change - q * se
    out["ci_high"] = change + q * se
    out["df"] = df
    out["p_value"] = p
    out["significant"] = p < (1 - level)
    out["flag_previous"] = m["flag_prev"]
    out["flag_current"] = m["flag_cur"]
    return out


def change_drivers(changes: pd.DataFrame) -> pd.DataFrame:
    """Content-level changes and their share of the SIPAS change, per domain.

    ``changes`` is :func:`period_change`'s table. SIPAS = mean of the contents, so
    ``contribution = change / number of contents`` and the contributions add up to the SIPAS
    change where every content is defined in both periods. Sorted by domain, then by the
    size of the contribution (largest first).
    """
    by = [c for c in changes.columns if c not in _CHANGE_COLUMNS]
    contents = changes[changes["statistic"] == "content"].copy()
    counts = contents.groupby(by, dropna=False)["variable"].transform("size") if by else len(
        contents)
    contents["contribution"] = contents["change"] / counts
    sipas = changes[changes["variable"] == OVERALL][[*by, "change"]].rename(
        columns={"change": "sipas_change"})
    out = contents.merge(sipas, on=by, how="left") if by else contents.assign(
        sipas_change=float(sipas["change"].iloc[0]) if len(sipas) else np.nan)
    out["_size"] = -out["contribution"].abs()
    out = out.sort_values([*by, "_size"]).drop(columns="_size").reset_index(drop=True)
    return out


_CHANGE_COLUMNS = {"statistic", "variable", "previous", "current", "change", "se", "ci_low",
                   "ci_high", "df", "p_value", "significant", "flag_previous", "flag_current"}


# ---------------------------------------------------------------------- unit vs rest
def unit_vs_rest(
    design: SurveyDesign,
    unit: str | Sequence[str],
    parent: str | Sequence[str] | None = None,
    items: Sequence[str] | None = None,
    *,
    level: float = 0.95,
    content_map: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Every index of every unit against the rest of its parent, with Holm across units.

    Parameters
    ----------
    design : the survey design (Taylor, replicate or calibrated).
    unit : the unit column(s) (e.g. ``"commune"``).
    parent : the parent column(s) (e.g. ``"province"``); ``None`` = the whole population.
    items, content_map : as :func:`analysis.sipas.sipas_indices`.

    Returns
    -------
    DataFrame: parent and unit columns, ``statistic``, ``variable``, ``unit_estimate``,
    ``rest_estimate``, ``difference``, ``se``, ``ci_low``, ``ci_high``, ``df`` (the parent's),
    ``p_value``, ``p_holm`` (across the units of the parent, per index), ``significant``
    (``p_holm < 1 - level``), ``below`` (significant and lower than the rest).
    """
    data = design.data
    items_t = _item_columns(data, items)
    contents, content_idx = _contents(items_t, content_map)
    n_contents = len(contents)
    classes = parse_items(data, items_t)
    w = np.asarray(design.weights, dtype=float)
    unit_cols = [unit] if isinstance(unit, str) else list(unit)
    parent_cols = [] if parent is None else ([parent] if isinstance(parent, str)
                                             else list(parent))
    pdom = Domains.from_columns(data, parent_cols)
    udom = Domains.from_columns(data, [*parent_cols, *unit_cols])
    u_codes = np.where(pdom.codes >= 0, udom.codes, -1)
    n_units = udom.count
    first = np.full(n_units, -1, dtype=np.int64)
    rows = np.flatnonzero(u_codes >= 0)
    first[u_codes[rows][::-1]] = rows[::-1]
    unit_parent = pdom.codes[first]
    n_parents = pdom.count

    s = (classes == 2).astype(float) * w[:, None]
    a = (classes > 0).astype(float) * w[:, None]
    p_in = pdom.codes >= 0
    s_p = _group_sum(pdom.codes[p_in], s[p_in], n_parents)
    a_p = _group_sum(pdom.codes[p_in], a[p_in], n_parents)
    u_in = u_codes >= 0
    s_u = _group_sum(u_codes[u_in], s[u_in], n_units)
    a_u = _group_sum(u_codes[u_in], a[u_in], n_units)
    s_r = s_p[unit_parent] - s_u
    a_r = a_p[unit_parent] - a_u
    co_u = _coefficients(s_u, a_u, content_idx, n_contents)
    co_r = _coefficients(s_r, a_r, content_idx, n_contents)
    est_u = _estimates(co_u, content_idx, n_contents)
    est_r = _estimates(co_r, content_idx, n_contents)
    diff = est_u - est_r

    if design.replicates is not None:
        var = _replicate_contrast_var(design, classes, pdom.codes, u_codes, unit_parent,
                                      co_u, co_r, content_idx, n_contents, diff)
    elif design.adjustments:
        var = _calibrated_contrast_var(design, classes, w, pdom.codes, u_codes, unit_parent,
                                       co_u, co_r, content_idx, n_contents)
    else:
        var = _taylor_contrast_var(design, classes, w, pdom.codes, u_codes, unit_parent,
                                   n_parents, co_u, co_r, content_idx, n_contents)
    var = np.where(np.isnan(diff), np.nan, var)
    if design.replicates is not None:
        from analysis.replicates import replicate_domain_degf

        parent_df = replicate_domain_degf(design.replicates.weights, pdom.codes, n_parents)
    else:
        depth = design.variance_depth
        cl = design.stages[depth - 1].row_cluster
        n_cl = design.stages[depth - 1].n_clusters
        keep = p_in & (w != 0)
        cells = unique(pdom.codes[keep] * n_cl + cl[keep])
        parent_df = _domain_df(design, cells // n_cl, cells % n_cl, n_parents)
    df = parent_df[unit_parent].astype(float)
    se = np.sqrt(var)
    q = _t_quantile(level, df)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = diff / se
    p = _p_two_sided(t, df[:, None])
    p_holm = np.full(p.shape, np.nan)
    for g in range(n_parents):
        members = unit_parent == g
        for j in range(p.shape[1]):
            p_holm[members, j] = holm(p[members, j])

    k = diff.shape[1]
    names = (*items_t, *contents, OVERALL)
    kinds = ("criterion",) * len(items_t) + ("content",) * n_contents + ("sipas",)
    out = udom.labels.loc[udom.labels.index.repeat(k)].reset_index(drop=True)
    out["statistic"] = np.tile(np.array(kinds, dtype=object), n_units)
    out["variable"] = np.tile(np.array(names, dtype=object), n_units)
    out["unit_estimate"] = est_u.ravel()
    out["rest_estimate"] = est_r.ravel()
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


def _taylor_contrast_var(design: SurveyDesign, classes: np.ndarray, w: np.ndarray,
                         p_codes: np.ndarray, u_codes: np.ndarray, unit_parent: np.ndarray,
                         n_parents: int, co_u, co_r, content_idx: np.ndarray,
                         n_contents: int) -> np.ndarray:
    """Influence totals of ``I(u) - I(rest)`` on every PSU cell of u's parent."""
    depth = design.variance_depth
    cl = design.stages[depth - 1].row_cluster
    n_cl = design.stages[depth - 1].n_clusters
    n_items = classes.shape[1]
    n_units = len(unit_parent)
    sa = np.concatenate([(classes == 2), (classes > 0)], axis=1).astype(float) * w[:, None]
    p_in = p_codes >= 0
    pkey, p_inv = np.unique(p_codes[p_in] * n_cl + cl[p_in], return_inverse=True)
    p_cell = _group_sum(p_inv, sa[p_in], len(pkey))
    u_in = u_codes >= 0
    ukey, u_inv = np.unique(u_codes[u_in] * n_cl + cl[u_in], return_inverse=True)
    u_cell = _group_sum(u_inv, sa[u_in], len(ukey))
    # every unit x every PSU cell of its parent
    p_of_cell = pkey // n_cl
    order = np.argsort(p_of_cell, kind="stable")
    starts = np.searchsorted(p_of_cell[order], np.arange(n_parents + 1))
    sizes = (starts[1:] - starts[:-1])[unit_parent]
    unit_of = np.repeat(np.arange(n_units), sizes)
    offsets = np.arange(len(unit_of)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    pcell = order[starts[unit_parent][unit_of] + offsets]
    cluster = pkey[pcell] % n_cl
    want = unit_of * n_cl + cluster
    pos = np.searchsorted(ukey, want)
    pos = np.minimum(pos, len(ukey) - 1)
    hit = ukey[pos] == want
    uvals = np.where(hit[:, None], u_cell[pos], 0.0)
    pvals = p_cell[pcell]
    t_u = _cell_totals(co_u, unit_of, uvals[:, :n_items], uvals[:, n_items:], content_idx,
                       n_contents)
    rest = pvals - uvals
    t_r = _cell_totals(co_r, unit_of, rest[:, :n_items], rest[:, n_items:], content_idx,
                       n_contents)
    return linearization.vcov_from_totals(design, cluster, unit_of, t_u - t_r, n_units,
                                          full=False)


def _row_influence(co, dom: np.ndarray, classes: np.ndarray, w: np.ndarray,
                   content_idx: np.ndarray, n_contents: int) -> np.ndarray:
    """(n, K) influence values of every index for rows of domain ``dom`` (-1: zero)."""
    inside = dom >= 0
    d = np.where(inside, dom, 0)
    s = (classes == 2).astype(float)
    a = (classes > 0).astype(float)
    return np.where(inside[:, None],
                    _cell_totals(co, d, s * w[:, None], a * w[:, None], content_idx,
                                 n_contents), 0.0)


def _calibrated_contrast_var(design: SurveyDesign, classes: np.ndarray, w: np.ndarray,
                             p_codes: np.ndarray, u_codes: np.ndarray, unit_parent: np.ndarray,
                             co_u, co_r, content_idx: np.ndarray, n_contents: int
                             ) -> np.ndarray:
    """Calibrated designs: one full-length residualized influence column set per unit."""
    n_units = len(unit_parent)
    k = len(content_idx) + n_contents + 1
    var = np.empty((n_units, k))
    z_units = _row_influence(co_u, u_codes, classes, w, content_idx, n_contents)
    for u in range(n_units):
        rest_rows = np.where((p_codes == unit_parent[u]) & (u_codes != u), u, -1)
        z_rest = _row_influence(co_r, rest_rows, classes, w, content_idx, n_contents)
        z = np.where((u_codes == u)[:, None], z_units, 0.0) - z_rest
        var[u] = linearization.vcov(design, z, full=False)[0]
    return var


def _replicate_contrast_var(design: SurveyDesign, classes: np.ndarray, p_codes: np.ndarray,
                            u_codes: np.ndarray, unit_parent: np.ndarray, co_u, co_r,
                            content_idx: np.ndarray, n_contents: int,
                            diff: np.ndarray) -> np.ndarray:
    from analysis.replicates import domain_totals, svrvar

    reps = design.replicates
    assert reps is not None
    n_items = classes.shape[1]
    values = np.concatenate([(classes == 2), (classes > 0)], axis=1).astype(float)
    tot_p = domain_totals(reps.weights, values, p_codes, int(unit_parent.max()) + 1)
    tot_u = domain_totals(reps.weights, values, u_codes, len(unit_parent))
    defined = ~np.isnan(diff)
    thetas = np.empty((tot_u.shape[0], *diff.shape))
    for r in range(tot_u.shape[0]):
        su, au = tot_u[r][:, :n_items], tot_u[r][:, n_items:]
        sr = tot_p[r][unit_parent][:, :n_items] - su
        ar = tot_p[r][unit_parent][:, n_items:] - au
        thetas[r] = np.where(defined, _composite(co_u, su, au, content_idx, n_contents)
                             - _composite(co_r, sr, ar, content_idx, n_contents), 0.0)
    cov = svrvar(thetas, np.where(defined, diff, 0.0), reps)
    return np.diagonal(cov, axis1=1, axis2=2).copy()


def _composite(co, s: np.ndarray, a: np.ndarray, content_idx: np.ndarray, n_contents: int
               ) -> np.ndarray:
    """Indices from totals with fixed coefficients (the full sample's definition)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(co.a > 0, s / a, 0.0)
    content = np.zeros((len(p), n_contents))
    for c in range(n_contents):
        cols = content_idx == c
        content[:, c] = (co.content_coef[:, cols] * p[:, cols]).sum(axis=1)
    return np.column_stack([p, content, (co.sipas_coef * p).sum(axis=1)])


# ---------------------------------------------------------------------- ranks
def rank_intervals(estimate: np.ndarray, se: np.ndarray, df: np.ndarray | float = np.inf, *,
                   alpha: float = 0.05, method: str = "bonferroni",
                   descending: bool = True) -> pd.DataFrame:
    """Joint rank intervals (Klein, Wright & Wieczorek 2020).

    Parameters
    ----------
    estimate, se : (K,) estimates and standard errors of the units to rank.
    df : degrees of freedom for the t quantiles (``inf``: normal).
    alpha : the K intervals hold jointly with probability at least ``1 - alpha``.
    method : ``bonferroni`` (individual level ``1 - alpha/K``, any dependence) or
        ``independent`` (``(1 - alpha)^(1/K)``, independent estimates).
    descending : rank 1 is the highest estimate (satisfaction), else the lowest.

    Returns
    -------
    DataFrame with ``rank`` (of the point estimate, ties share the best rank), ``rank_low``,
    ``rank_high``, and the individual interval ``ci_low``/``ci_high`` used.
    """
    est = np.asarray(estimate, dtype=float)
    se = np.asarray(se, dtype=float)
    k = len(est)
    if k == 0:
        return pd.DataFrame(columns=["rank", "rank_low", "rank_high", "ci_low", "ci_high"])
    if np.isnan(est).any() or np.isnan(se).any():
        raise EstimationError("Rank intervals need an estimate and SE for every unit")
    if method == "bonferroni":
        ind_level = 1 - alpha / k
    elif method == "independent":
        ind_level = (1 - alpha) ** (1 / k)
    else:
        raise EstimationError(f"Unknown rank-interval method '{method}'")
    q = _t_quantile(ind_level, np.broadcast_to(np.asarray(df, dtype=float), est.shape))
    lo, hi = est - q * se, est + q * se
    sign = -1.0 if descending else 1.0
    # in the ranking direction, "better than k for sure": its lower bound exceeds k's upper
    s_est, s_lo, s_hi = sign * est, np.minimum(sign * lo, sign * hi), np.maximum(sign * lo,
                                                                                 sign * hi)
    surely_before = (s_hi[None, :] < s_lo[:, None]).sum(axis=1)  # j ranked before k surely
    surely_after = (s_lo[None, :] > s_hi[:, None]).sum(axis=1)
    rank = 1 + (s_est[None, :] < s_est[:, None]).sum(axis=1)
    return pd.DataFrame({"rank": rank, "rank_low": 1 + surely_before,
                         "rank_high": k - surely_after, "ci_low": lo, "ci_high": hi})


def monte_carlo_ranks(estimate: np.ndarray, se: np.ndarray, *, draws: int = 10000,
                      level: float = 0.95, seed: int | np.random.Generator = 0,
                      descending: bool = True) -> pd.DataFrame:
    """Ranks under draws from independent normal sampling distributions N(estimate, se^2).

    Returns each unit's median rank, the marginal ``level`` interval of its rank, and the
    probability of being ranked first. Deterministic for a given ``seed`` (a
    ``numpy.random.Generator``; never the global random state).
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    est = np.asarray(estimate, dtype=float)
    se = np.asarray(se, dtype=float)
    sims = rng.standard_normal((draws, len(est))) * se + est
    order = np.argsort(-sims if descending else sims, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, len(est) + 1)[None, :], axis=1)
    lo, med, hi = np.quantile(ranks, [(1 - level) / 2, 0.5, (1 + level) / 2], axis=0,
                              method="inverted_cdf")
    return pd.DataFrame({"rank_median": med, "rank_low": lo, "rank_high": hi,
                         "p_first": (ranks == 1).mean(axis=0)})
