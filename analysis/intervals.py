"""Confidence intervals: t intervals for means and totals, and R ``svyciprop``'s methods for
proportions.

Proportion methods (Lumley 2010 §2.3.1; Korn & Graubard 1998; R ``survey::svyciprop``):

* ``logit`` (default): Wald interval for logit(p) with SE(p)/(p(1-p)), back-transformed (on
  replicate designs R refits the logistic model per replicate and uses the replicate variance
  of the logit itself, as here);
* ``xlogit``: the same interval obtained by the delta method on ``log(p/(1-p))``;
* ``asin``: Wald interval for asin(sqrt(p)), back-transformed with sin^2;
* ``mean``: Wald interval p +/- t SE;
* ``beta``: Korn-Graubard Clopper-Pearson interval with the effective sample size
  p(1-p)/var(p), adjusted by (t_{n-1} / t_df)^2;
* ``likelihood``: profile-likelihood interval of the design-adjusted binomial likelihood
  (:mod:`analysis.likelihood_ci`, R's algorithm step by step).

All quantiles are t quantiles on the design degrees of freedom, or normal when ``df`` is
infinite. Where R would return NaN because the estimate is 0 or 1 (zero variance), every method
falls back to the Korn-Graubard interval with the nominal sample size: an interval that is
defined and honest, flagged by :mod:`analysis.reliability`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np
from scipy import special, stats

from analysis.errors import EstimationError

if TYPE_CHECKING:
    from analysis.likelihood_ci import LogisticFit


class CIMethod(StrEnum):
    LOGIT = "logit"
    BETA = "beta"
    MEAN = "mean"
    LIKELIHOOD = "likelihood"
    XLOGIT = "xlogit"
    ASIN = "asin"


def ci_method(value: CIMethod | str) -> CIMethod:
    try:
        return CIMethod(value)
    except ValueError:
        choices = ", ".join(m.value for m in CIMethod)
        raise EstimationError(f"Unknown CI method '{value}'; use one of {choices}") from None


def t_quantile(level: float, df: np.ndarray | float) -> np.ndarray:
    """Upper quantile ``t_{df, (1+level)/2}``; normal for infinite df, NaN for df <= 0."""
    df = np.asarray(df, dtype=float)
    q = np.where(np.isinf(df), stats.norm.ppf((1 + level) / 2), np.nan)
    ok = np.isfinite(df) & (df > 0)
    if np.any(ok):
        q = np.where(ok, stats.t.ppf((1 + level) / 2, np.where(ok, df, 1.0)), q)
    return q


def t_interval(estimate: np.ndarray, se: np.ndarray, df: np.ndarray | float,
               level: float) -> tuple[np.ndarray, np.ndarray]:
    """``estimate +/- t * se`` (R ``confint(stat, df=)``)."""
    q = t_quantile(level, df)
    return estimate - q * se, estimate + q * se


def proportion_interval(
    p: np.ndarray,
    var: np.ndarray,
    df: np.ndarray | float,
    level: float,
    method: CIMethod | str = CIMethod.LOGIT,
    n_rows: np.ndarray | float | None = None,
    *,
    fit: LogisticFit | None = None,
    coef_var: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Interval for a proportion ``p`` with design variance ``var`` (arrays broadcast).

    ``n_rows`` is the number of rows in the (domain of the) design, used by ``beta`` for the
    t-ratio adjustment and by every method for the zero-variance fallback.

    ``fit`` is R's intercept-only quasibinomial fit per domain (required by ``likelihood``);
    ``coef_var`` is the design variance of its coefficient ``B0`` (``vcov(svyglm)``); with
    both, ``logit`` is R's ``expit(B0 +/- t se(B0))`` and ``likelihood`` profiles the fit, as
    ``svyciprop`` does (on replicate designs R refits the model per replicate, so ``se(B0)`` is
    not the delta-method transform of ``se(p)``). Without them ``logit`` uses the delta method.
    """
    method = ci_method(method)
    p = np.asarray(p, dtype=float)
    var = np.asarray(var, dtype=float)
    df = np.broadcast_to(np.asarray(df, dtype=float), p.shape)
    n_rows_arr = np.broadcast_to(
        np.asarray(np.nan if n_rows is None else n_rows, dtype=float), p.shape
    )
    se = np.sqrt(var)
    q = t_quantile(level, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method is CIMethod.LOGIT and coef_var is not None and fit is not None:
            eta = fit.coef  # R: expit(confint(svyglm)) with the replicate variance of B0
            se_eta = np.sqrt(coef_var)
            lo, hi = special.expit(eta - q * se_eta), special.expit(eta + q * se_eta)
        elif method in (CIMethod.LOGIT, CIMethod.XLOGIT):
            eta = special.logit(p)
            se_eta = se / (p * (1 - p))
            lo, hi = special.expit(eta - q * se_eta), special.expit(eta + q * se_eta)
        elif method is CIMethod.MEAN:
            lo, hi = p - q * se, p + q * se
        elif method is CIMethod.ASIN:
            eta = np.arcsin(np.sqrt(p))
            se_eta = se / (2 * np.sqrt(p * (1 - p)))
            lo, hi = np.sin(eta - q * se_eta) ** 2, np.sin(eta + q * se_eta) ** 2
        elif method is CIMethod.BETA:
            lo, hi = _korn_graubard(p, p * (1 - p) / var, df, n_rows_arr, level)
        else:
            lo, hi = likelihood_interval(var, df, level, fit, coef_var)
    degenerate = (var <= 0) | (p <= 0) | (p >= 1)
    if np.any(degenerate):
        flo, fhi = _korn_graubard(p, n_rows_arr, df, n_rows_arr, level)
        lo = np.where(degenerate, flo, lo)
        hi = np.where(degenerate, fhi, hi)
    return lo, hi


def _korn_graubard(p: np.ndarray, n_eff: np.ndarray, df: np.ndarray, n_rows: np.ndarray,
                   level: float) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson on the effective n, with R's (t_{n-1}/t_df)^2 adjustment."""
    alpha = 1 - level
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(
            np.isfinite(df) & (df > 0),
            stats.t.ppf(alpha / 2, np.maximum(n_rows - 1, 1)) / stats.t.ppf(alpha / 2, df),
            1.0,
        )
        n_adj = n_eff * ratio**2
        x = n_adj * p
        lo = np.where(x > 0, stats.beta.ppf(alpha / 2, x, n_adj * (1 - p) + 1), 0.0)
        hi = np.where(n_adj * (1 - p) > 0, stats.beta.ppf(1 - alpha / 2, x + 1, n_adj * (1 - p)),
                      1.0)
    return lo, hi


def likelihood_interval(var: np.ndarray, df: np.ndarray, level: float,
                        fit: LogisticFit | None,
                        coef_var: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Profile-likelihood interval of the design-adjusted binomial likelihood.

    Implemented in :mod:`analysis.likelihood_ci` (R ``confint.svyglm(method="likelihood")``);
    kept here as the single dispatch point. Without ``coef_var`` the coefficient's variance is
    the Taylor one, ``var / (mu (1 - mu))^2``.
    """
    from analysis.likelihood_ci import profile_interval

    if fit is None:
        raise EstimationError(
            "The likelihood interval needs the model fit of the estimate; use "
            "Estimate.confint(method='likelihood')"
        )
    if coef_var is None:
        coef_var = fit.coef_var(var)
    return profile_interval(fit, coef_var, df, level)
