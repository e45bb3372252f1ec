"""Reliability flags for proportions: the NCHS Data Presentation Standards for Proportions.

Implements Parker, J.D., Talih, M., Malec, D.J., et al. (2017) *National Center for Health
Statistics Data Presentation Standards for Proportions*, Vital Health Stat 2(175), as NCHS's own
implementation reads it (R package ``surveytable``, ``.lpe_percents``, CDC/NCHS):

1. effective sample size ``n_eff = n / deff`` with the design effect floored at 1, i.e.
   ``n_eff = min(n, p(1-p) / var)``; ``n_eff < 30`` -> **suppress**;
2. Korn-Graubard 95% interval (Clopper-Pearson on the df-adjusted effective sample size
   ``n_eff (t_{n-1} / t_df)^2``, Korn & Graubard 1998) of absolute width ``<= 0.05`` -> present;
3. width ``>= 0.30`` -> **suppress**;
4. width between: relative width ``width / p > 130%`` -> **suppress**; otherwise present, and
   if the complement's relative width ``width / (1 - p) > 130%`` the estimate is presented
   with a footnote (here: ``review``), as NCHS's implementation does;
5. presented estimates with design degrees of freedom ``< 8`` -> flagged for statistical
   **review**;
6. ``p = 0`` or ``1``: the design variance is zero, so the effective sample size is the
   nominal ``n`` (the interval is the Clopper-Pearson interval on ``n``); presented only with
   ``n >= 30`` and always flagged for **review**.

Two platform rules are added (not part of the NCHS text, stated in the reason): an estimate
whose design-based variance is zero although ``0 < p < 1`` (a domain inside one PSU, or PSU
totals that agree exactly) never gets a zero-width interval -- it is assessed like ``p = 0``
(nominal ``n``) and flagged for **review**; a SIPAS composite computed from only some of its
criteria (the others had no answers in the domain) is flagged for **review**. A domain with no
answers at all is **suppress**ed with no number.

The flag always uses the 95% Korn-Graubard interval (the standard's), whatever interval is
displayed. Every assessment carries stable reason codes (``;``-separated, most serious first)
and the numbers behind them, so that the web application can translate by code; ``reason`` is
the English sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

import numpy as np
from scipy import special

MIN_EFFECTIVE_N = 30.0
PRESENT_WIDTH = 0.05
SUPPRESS_WIDTH = 0.30
MAX_RELATIVE_WIDTH = 1.30
MIN_DF = 8.0
STANDARD_LEVEL = 0.95


class Flag(StrEnum):
    """What to do with a number: show it, show it after statistical review, or suppress it."""

    OK = "ok"
    REVIEW = "review"
    SUPPRESS = "suppress"


class Reason(StrEnum):
    """Stable reason codes (the web application translates by code)."""

    NO_ANSWERS = "no_answers"
    EFFECTIVE_N = "effective_n_below_30"
    WIDE_CI = "ci_width_at_least_0.30"
    RELATIVE_WIDTH = "relative_ci_width_above_130pct"
    COMPLEMENT_WIDTH = "complement_relative_ci_width_above_130pct"
    LOW_DF = "df_below_8"
    EXTREME = "estimate_is_0_or_1"
    ZERO_VARIANCE = "zero_design_variance"
    PARTIAL = "partial_composite"


REASON_ORDER = (Reason.NO_ANSWERS, Reason.EFFECTIVE_N, Reason.WIDE_CI, Reason.RELATIVE_WIDTH,
                Reason.EXTREME, Reason.ZERO_VARIANCE, Reason.COMPLEMENT_WIDTH, Reason.LOW_DF,
                Reason.PARTIAL)

_TEXT = {
    Reason.NO_ANSWERS: "No answers in this domain: nothing to estimate.",
    Reason.EFFECTIVE_N: "Effective sample size {n_eff:.1f} is below 30 (NCHS standard).",
    Reason.WIDE_CI: "The 95% Korn-Graubard interval is 0.30 wide or more (NCHS standard).",
    Reason.RELATIVE_WIDTH: "The 95% Korn-Graubard interval is wider than 130% of the estimate "
                           "(NCHS standard).",
    Reason.COMPLEMENT_WIDTH: "The interval is wider than 130% of the complement "
                             "(1 - estimate): footnote (NCHS standard).",
    Reason.LOW_DF: "Only {df:g} degrees of freedom (fewer than 8): statistical review "
                   "(NCHS standard).",
    Reason.EXTREME: "The estimate is {p:.0%}: no design-based variance; interval from the "
                    "nominal sample size, statistical review (NCHS standard).",
    Reason.ZERO_VARIANCE: "The design-based variance is zero (the domain lies within one PSU "
                          "or its PSU totals agree): the interval assumes simple random "
                          "sampling of the {n:g} respondents.",
    Reason.PARTIAL: "Computed from only some of its criteria: the others had no answers here.",
}


def reason_text(code: Reason | str, **params: float) -> str:
    """English sentence for a reason code, filled with its parameters."""
    return _TEXT[Reason(code)].format(**params)


@dataclass(frozen=True, eq=False)
class Assessment:
    """Per-estimate result of the standard (arrays of one shape).

    ``flag`` holds ``ok``/``review``/``suppress``; ``reasons`` a bit mask over
    :data:`REASON_ORDER`; ``reason_code`` the ``;``-joined codes and ``reason`` the English
    sentences (built on first use). ``n_eff`` is the effective sample size used, ``kg_low``/
    ``kg_high`` the 95% Korn-Graubard interval, ``width``/``relative_width``/
    ``complement_relative_width`` its absolute and relative widths, ``p``/``n``/``df`` the inputs.
    """

    flag: np.ndarray
    reasons: np.ndarray
    n_eff: np.ndarray
    p: np.ndarray
    n: np.ndarray
    df: np.ndarray

    @cached_property
    def _kg(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = korn_graubard_interval(self.p, np.maximum(self.n_eff, 1e-300), self.df,
                                        self.n, STANDARD_LEVEL)
        empty = self.n_eff <= 0
        return np.where(empty, np.nan, lo), np.where(empty, np.nan, hi)

    @property
    def kg_low(self) -> np.ndarray:
        """Lower bound of the 95% Korn-Graubard interval (computed on first use)."""
        return self._kg[0]

    @property
    def kg_high(self) -> np.ndarray:
        return self._kg[1]

    @property
    def width(self) -> np.ndarray:
        return self._kg[1] - self._kg[0]

    @property
    def relative_width(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.p > 0, self.width / self.p, np.inf)

    @property
    def complement_relative_width(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.p < 1, self.width / (1 - self.p), np.inf)

    @cached_property
    def reason_code(self) -> np.ndarray:
        """``;``-joined reason codes, most serious first ('' when there is nothing to say)."""
        uniq, inv = np.unique(self.reasons, return_inverse=True)
        table = np.array([";".join(r.value for k, r in enumerate(REASON_ORDER) if u >> k & 1)
                          for u in uniq], dtype=object)
        return table[inv].reshape(self.reasons.shape)

    @cached_property
    def reason(self) -> np.ndarray:
        """English sentences for the reasons (the web application translates by code).

        Built reason by reason on the distinct parameter values (fast for large tables). The
        width-based sentences state the criterion; the widths themselves are ``width``,
        ``relative_width`` and ``complement_relative_width`` (exact, computed on first use).
        """
        out = np.full(self.reasons.shape, "", dtype=object)
        flat = out.reshape(-1)
        bits = self.reasons.reshape(-1)
        p, n_eff, df, n = (np.asarray(a, dtype=float).reshape(-1)
                           for a in (self.p, self.n_eff, self.df, self.n))
        params = {"n_eff": n_eff, "df": df, "p": p, "n": n}
        for k, reason in enumerate(REASON_ORDER):
            rows = np.flatnonzero(bits >> k & 1)
            if not len(rows):
                continue
            name = _PARAM.get(reason)
            if name is None:
                texts = np.full(len(rows), reason_text(reason), dtype=object)
            else:
                uniq, inv = np.unique(params[name][rows], return_inverse=True)
                texts = np.array([reason_text(reason, **{name: v}) for v in uniq],
                                 dtype=object)[inv]
            current = flat[rows]
            flat[rows] = np.where(current == "", texts, current + " " + texts)
        return out


_PARAM = {Reason.EFFECTIVE_N: "n_eff", Reason.LOW_DF: "df", Reason.EXTREME: "p",
          Reason.ZERO_VARIANCE: "n"}


def cv(estimate: np.ndarray, se: np.ndarray) -> np.ndarray:
    """Coefficient of variation ``se / |estimate|`` (NaN where the estimate is 0)."""
    estimate = np.asarray(estimate, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(estimate != 0, np.asarray(se, dtype=float) / np.abs(estimate), np.nan)


def ci_width(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Absolute interval width ``high - low``."""
    return np.asarray(high, dtype=float) - np.asarray(low, dtype=float)


def relative_ci_width(low: np.ndarray, high: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """Interval width over the estimate (NCHS relative CI width; ``inf`` for an estimate of 0)."""
    estimate = np.asarray(estimate, dtype=float)
    width = ci_width(low, high)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(estimate > 0, width / estimate, np.inf)


def effective_sample_size(p: np.ndarray, var: np.ndarray, n: np.ndarray) -> np.ndarray:
    """NCHS effective sample size ``n / max(deff, 1)`` with ``deff = var / (p(1-p)/n)``.

    Equals ``min(n, p(1-p)/var)``; ``n`` itself where ``p`` is 0 or 1 or the variance is 0.
    """
    p = np.asarray(p, dtype=float)
    var = np.asarray(var, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        binom = np.where(var > 0, p * (1 - p) / var, np.inf)
    return np.minimum(n, binom)


def korn_graubard_interval(p: np.ndarray, n_eff: np.ndarray, df: np.ndarray, n: np.ndarray,
                           level: float = STANDARD_LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Korn & Graubard (1998) interval: Clopper-Pearson on ``n_eff (t_{n-1}/t_df)^2``.

    The df adjustment is skipped (ratio 1) when ``df`` is not positive or infinite; as R's
    ``svyciprop(method = "beta")`` it uses ``t_{max(n - 1, 1)}``.
    """
    p, n_eff, df, n = (np.array(a, dtype=float) for a in
                       np.broadcast_arrays(p, n_eff, df, n))
    alpha = 1 - level
    n_adj = _adjusted_n(n_eff, df, n, level)
    x = n_adj * p
    y = n_adj * (1 - p)
    lo = np.zeros_like(p)
    hi = np.ones_like(p)
    has_x = x > 0
    has_y = y > 0
    lo[has_x] = special.betaincinv(x[has_x], y[has_x] + 1, alpha / 2)
    hi[has_y] = special.betaincinv(x[has_y] + 1, y[has_y], 1 - alpha / 2)
    return lo, hi


def assess_proportions(
    p: np.ndarray,
    var: np.ndarray,
    n: np.ndarray,
    df: np.ndarray,
    *,
    n_eff: np.ndarray | None = None,
    partial: np.ndarray | None = None,
) -> Assessment:
    """Apply the NCHS standard to proportions (arrays broadcast to one shape).

    Parameters
    ----------
    p : estimates in [0, 1]; NaN means "no answers" (suppressed, no number).
    var : design-based variances.
    n : nominal sample sizes (respondents in the denominator).
    df : design degrees of freedom of each estimate's domain.
    n_eff : effective sample sizes if computed elsewhere (e.g. for SIPAS composites); by
        default ``min(n, p(1-p)/var)``. Replaced by ``n`` when ``p`` is 0 or 1 or ``var`` is 0.
    partial : composites computed from only some of their components (flagged for review).
    """
    p, var, n, df = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (p, var, n, df)))
    shape = p.shape
    empty = ~np.isfinite(p) | (n <= 0)
    pe = np.where(empty, 0.5, p)
    extreme = ~empty & ((pe <= 0) | (pe >= 1))
    zero_var = ~empty & ~extreme & ~(var > 0)
    if n_eff is None:
        ne = effective_sample_size(pe, var, n)
    else:
        ne = np.minimum(np.broadcast_to(np.asarray(n_eff, dtype=float), shape), n)
    ne = np.where(extreme | zero_var | ~np.isfinite(ne), n, ne)
    ne = np.where(empty, 0.0, ne)
    width = _screened_width(pe, ne, df, n, ~empty & (ne >= MIN_EFFECTIVE_N))
    width = np.where(empty, np.nan, width)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(pe > 0, width / pe, np.inf)
        comp = np.where(pe < 1, width / (1 - pe), np.inf)

    small_n = ~empty & (ne < MIN_EFFECTIVE_N)
    judged = ~empty & ~small_n
    narrow = judged & (width <= PRESENT_WIDTH)
    wide = judged & ~narrow & (width >= SUPPRESS_WIDTH)
    mid = judged & ~narrow & ~wide
    rel_bad = mid & ~extreme & (rel > MAX_RELATIVE_WIDTH)
    suppressed = empty | small_n | wide | rel_bad
    shown = ~suppressed
    comp_bad = shown & mid & ~extreme & (comp > MAX_RELATIVE_WIDTH)
    low_df = shown & ~(df >= MIN_DF)
    partial_arr = (np.zeros(shape, dtype=bool) if partial is None
                   else np.broadcast_to(np.asarray(partial, dtype=bool), shape))
    review = shown & (extreme | zero_var | comp_bad | low_df | partial_arr)

    flag = np.full(shape, Flag.OK.value, dtype=object)
    flag[review] = Flag.REVIEW.value
    flag[suppressed] = Flag.SUPPRESS.value
    masks = {
        Reason.NO_ANSWERS: empty,
        Reason.EFFECTIVE_N: small_n,
        Reason.WIDE_CI: wide,
        Reason.RELATIVE_WIDTH: rel_bad,
        Reason.EXTREME: shown & extreme,
        Reason.ZERO_VARIANCE: shown & zero_var,
        Reason.COMPLEMENT_WIDTH: comp_bad,
        Reason.LOW_DF: low_df,
        Reason.PARTIAL: ~empty & partial_arr,
    }
    bits = np.zeros(shape, dtype=np.int64)
    for k, reason in enumerate(REASON_ORDER):
        bits |= masks[reason].astype(np.int64) << k
    return Assessment(flag=flag, reasons=bits, n_eff=ne, p=pe, n=n, df=df)


def _adjusted_n(n_eff: np.ndarray, df: np.ndarray, n: np.ndarray, level: float) -> np.ndarray:
    """Korn-Graubard's df-adjusted effective sample size ``n_eff (t_{n-1}/t_df)^2``."""
    alpha = 1 - level
    ratio = np.ones_like(n_eff)
    ok = np.isfinite(df) & (df > 0)
    if np.any(ok):  # R svyciprop: qt(alpha/2, nrow - 1) / qt(alpha/2, degf)
        ratio[ok] = (_t_lower(np.maximum(n[ok] - 1, 1), alpha / 2)
                     / _t_lower(df[ok], alpha / 2))
    return n_eff * ratio**2


def _t_lower(df: np.ndarray, q: float) -> np.ndarray:
    """t quantiles, computed once per distinct df (there are few)."""
    uniq, inv = np.unique(df, return_inverse=True)
    return special.stdtrit(uniq, q)[inv]


def _screened_width(p: np.ndarray, n_eff: np.ndarray, df: np.ndarray, n: np.ndarray,
                    needed: np.ndarray) -> np.ndarray:
    """Korn-Graubard widths, exact wherever a threshold decision could depend on them.

    The Clopper-Pearson width is first approximated by Newcombe's (1998) continuity-corrected
    Wilson interval on the same adjusted n, which is within 5% of it (log scale) when both
    ``n* p`` and ``n* (1 - p)`` are at least 5 (checked over 10^5 random cases). Entries with
    fewer "successes" or "failures", or whose approximate width is within 10% of a threshold
    (0.05, 0.30, 130% of p or 1 - p), get the exact interval; the others cannot change side.
    """
    p, n_eff, df, n = (np.array(a, dtype=float) for a in np.broadcast_arrays(p, n_eff, df, n))
    width = np.full(p.shape, np.nan)
    if not needed.any():
        return width
    idx = np.nonzero(needed)
    pp, ne, dd, nn = p[idx], n_eff[idx], df[idx], n[idx]
    n_adj = _adjusted_n(ne, dd, nn, STANDARD_LEVEL)
    z = special.ndtri(1 - (1 - STANDARD_LEVEL) / 2)
    q = 1 - pp
    with np.errstate(invalid="ignore", divide="ignore"):
        den = 2 * (n_adj + z * z)
        lo = (2 * n_adj * pp + z * z - 1
              - z * np.sqrt(np.maximum(z * z - 2 - 1 / n_adj + 4 * pp * (n_adj * q + 1), 0)))
        hi = (2 * n_adj * pp + z * z + 1
              + z * np.sqrt(np.maximum(z * z + 2 - 1 / n_adj + 4 * pp * (n_adj * q - 1), 0)))
        approx = np.minimum(hi / den, 1) - np.maximum(lo / den, 0)
        # twice the largest log-error of the approximation seen in 4 x 10^5 random cases,
        # by the smaller of n* p and n* (1 - p)
        fewest = np.minimum(n_adj * pp, n_adj * q)
        margin = np.select([fewest >= 5, fewest >= 2, fewest >= 1, fewest >= 0.5],
                           [0.10, 0.20, 0.30, 0.40], default=0.80)
        near = np.zeros(len(pp), dtype=bool)
        for value in (approx / PRESENT_WIDTH, approx / SUPPRESS_WIDTH,
                      approx / (pp * MAX_RELATIVE_WIDTH), approx / (q * MAX_RELATIVE_WIDTH)):
            near |= np.abs(np.log(value)) < margin
    exact = near | (n_adj < 0.5) | ~np.isfinite(approx)
    out = approx
    if exact.any():
        elo, ehi = korn_graubard_interval(pp[exact], ne[exact], dd[exact], nn[exact],
                                          STANDARD_LEVEL)
        out = approx.copy()
        out[exact] = ehi - elo
    width[idx] = out
    return width
