"""Design-based estimators: totals, means, ratios and proportions, overall or by domain.

Each estimator computes, per domain, the point estimate and the influence values of that
estimate (Binder 1983; Lumley 2010 appendix), then hands them to the one linearization engine
(:func:`analysis.linearization.vcov`). Formulas (w = sampling weight, D = domain rows):

* total  ``t = sum_D w y``,               influence ``w y``
* mean   ``m = sum_D w y / sum_D w``,     influence ``w (y - m) / sum_D w``
* ratio  ``r = sum_D w y / sum_D w x``,   influence ``w (y - r x) / sum_D w x``
* proportion of a category: the mean of its indicator.

Design effects follow R's ``deff=TRUE``: the design variance over the variance of the same
estimator under simple random sampling without replacement of the domain's n units from a
population of sum(w) (``svymean``/``svytotal``/``svyratio`` sources).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import linearization
from analysis.design import SurveyDesign
from analysis.domains import Domains
from analysis.errors import EstimationError, describe_rows
from analysis.results import Estimate


@dataclass(frozen=True, eq=False)
class Linearized:
    """Per-domain estimates with their row-level influence values (the raw material of SEs)."""

    statistic: str
    variables: tuple[str, ...]
    domains: Domains
    estimate: np.ndarray  # (D, k)
    influence: np.ndarray  # (n, k): row i's influence on its own domain's estimate
    srs_variance: np.ndarray  # (D, k): the SRS-without-replacement variance, for deff
    denominator: np.ndarray | None = None  # (n,) a ratio's denominator (0 where missing)


def total(design: SurveyDesign, variables: str | Sequence[str], *,
          by: str | Sequence[str] | None = None, na_rm: bool = True) -> Estimate:
    """Population totals (R ``svytotal``, with ``svyby`` for ``by``)."""
    return _finish(design, _linearize(design, "total", _names(variables), by, na_rm))


def mean(design: SurveyDesign, variables: str | Sequence[str], *,
         by: str | Sequence[str] | None = None, na_rm: bool = True) -> Estimate:
    """Population means (R ``svymean``, with ``svyby`` for ``by``)."""
    return _finish(design, _linearize(design, "mean", _names(variables), by, na_rm))


def prop(design: SurveyDesign, variable: str, value: object, *,
         by: str | Sequence[str] | None = None, na_rm: bool = True) -> Estimate:
    """Share of rows whose ``variable`` equals ``value``; intervals by ``svyciprop`` methods."""
    return _finish(design, _linearize(design, "prop", (variable,), by, na_rm, value=value))


def ratio(design: SurveyDesign, numerator: str | Sequence[str], denominator: str, *,
          by: str | Sequence[str] | None = None, na_rm: bool = True) -> Estimate:
    """Ratios of totals ``sum w y / sum w x`` (R ``svyratio``)."""
    nums = _names(numerator)
    return _finish(design, _linearize(design, "ratio", nums, by, na_rm, denominator=denominator))


def linearize(design: SurveyDesign, statistic: str, variables: str | Sequence[str], *,
              by: str | Sequence[str] | None = None, na_rm: bool = True,
              value: object = None, denominator: str | None = None) -> Linearized:
    """Estimates and influence values, for contrasts across domains (:mod:`analysis.compare`)."""
    return _linearize(design, statistic, _names(variables), by, na_rm, value=value,
                      denominator=denominator)


def domain_contrast(design: SurveyDesign, lin: Linearized, coefficients: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Linear combinations of domain estimates with their covariance.

    ``coefficients`` is (m, D): contrast j is ``sum_d c[j, d] * estimate[d]``. Returns the
    (m, k) contrasts and their (k, m, m) covariance, computed on the full design from the
    combined influence values (so domains that share PSUs covary correctly).
    """
    c = np.atleast_2d(np.asarray(coefficients, dtype=float))
    codes = lin.domains.codes
    inside = codes >= 0
    values = c @ lin.estimate  # (m, k)
    m, k = c.shape[0], lin.estimate.shape[1]
    cov = np.empty((k, m, m))
    for j in range(k):
        z = np.zeros((len(codes), m))
        z[inside] = lin.influence[inside, j][:, None] * c[:, codes[inside]].T
        cov[j] = linearization.vcov(design, z)[0]
    return values, cov


# ---------------------------------------------------------------------- internals
def _names(value: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(value)


def numeric_columns(data: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """(n, k) float matrix; NaN where missing; a clear error for text in a numeric column."""
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise EstimationError(f"Column(s) not in the data: {', '.join(missing)}")
    out = np.empty((len(data), len(columns)))
    for j, col in enumerate(columns):
        raw = data[col]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(np.isnan(values) & raw.notna().to_numpy())
        if len(bad):
            raise EstimationError(
                f"Column '{col}' has non-numeric values at rows {describe_rows(bad)}"
            )
        out[:, j] = values
    return out


def _linearize(design: SurveyDesign, statistic: str, variables: tuple[str, ...],
               by: str | Sequence[str] | None, na_rm: bool, *, value: object = None,
               denominator: str | None = None) -> Linearized:
    if not variables:
        raise EstimationError("No variable given to estimate")
    data = design.data
    if statistic == "prop":
        col = variables[0]
        if col not in data.columns:
            raise EstimationError(f"Column not in the data: {col}")
        raw = data[col]
        y = (raw.astype(str) == str(value)).to_numpy(dtype=float)[:, None]
        y[raw.isna().to_numpy()] = np.nan
        names: tuple[str, ...] = (f"{col}={value}",)
        columns: tuple[str, ...] = (col,)
    else:
        y = numeric_columns(data, variables)
        names = variables if statistic != "ratio" else tuple(f"{v}/{denominator}"
                                                              for v in variables)
        columns = variables
    x = None
    if statistic == "ratio":
        if denominator is None:
            raise EstimationError("A ratio needs a denominator column")
        x = numeric_columns(data, [denominator])[:, 0]
        columns = (*variables, denominator)
    missing = np.isnan(y).any(axis=1) | (np.isnan(x) if x is not None else False)
    for j, col in enumerate(columns):
        col_missing = np.isnan(y[:, j]) if j < y.shape[1] else np.isnan(x)
        if col_missing.all():
            raise EstimationError(f"Column '{col}' has no values to estimate from (all missing)")
    if missing.any() and not na_rm:
        rows = describe_rows(np.flatnonzero(missing))
        raise EstimationError(
            f"Missing values in {', '.join(columns)} at rows {rows}; drop them or estimate "
            "with missing values removed"
        )
    domains = Domains.from_columns(data, by).restrict(~missing)
    present = np.bincount(domains.codes[domains.codes >= 0], minlength=domains.count) > 0
    if not present.any():
        raise EstimationError("No rows left to estimate from in any domain")
    domains = domains.select(present)
    x = None if x is None else np.nan_to_num(x)
    return _influence(design, statistic, names, domains, np.nan_to_num(y), x)


def _influence(design: SurveyDesign, statistic: str, names: tuple[str, ...], domains: Domains,
               y: np.ndarray, x: np.ndarray | None) -> Linearized:
    codes = domains.codes
    n_dom = domains.count
    inside = codes >= 0
    d = np.where(inside, codes, 0)
    w = np.where(inside, design.weights, 0.0)
    sum_w = np.bincount(d, weights=w, minlength=n_dom)
    n_pos = np.bincount(d, weights=(w != 0).astype(float), minlength=n_dom)
    k = y.shape[1]
    wy = w[:, None] * y
    sum_wy = np.column_stack([np.bincount(d, weights=wy[:, j], minlength=n_dom)
                              for j in range(k)])
    with np.errstate(divide="ignore", invalid="ignore"):
        if statistic == "total":
            est = sum_wy
            z = wy
            resid_scale = y  # SRS variance uses the spread of y itself
        elif statistic in ("mean", "prop"):
            est = sum_wy / sum_w[:, None]
            resid_scale = y - est[d]
            z = w[:, None] * resid_scale / sum_w[d][:, None]
        elif statistic == "ratio":
            assert x is not None
            sum_wx = np.bincount(d, weights=w * x, minlength=n_dom)
            est = sum_wy / sum_wx[:, None]
            resid_scale = (y - est[d] * x[:, None]) / sum_wx[d][:, None]
            z = w[:, None] * resid_scale
        else:
            raise EstimationError(f"Unknown statistic '{statistic}'")
    z = np.where(inside[:, None], z, 0.0)
    srs = _srs_variance(statistic, d, w, resid_scale, sum_w, n_pos, n_dom)
    return Linearized(statistic, names, domains, est, z, srs, denominator=x)


def _srs_variance(statistic: str, d: np.ndarray, w: np.ndarray, v: np.ndarray,
                  sum_w: np.ndarray, n_pos: np.ndarray, n_dom: int) -> np.ndarray:
    """R's ``vsrs``: weighted variance of ``v`` (n/(n-1)) scaled to the statistic."""
    k = v.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        vbar = np.column_stack([np.bincount(d, weights=w * v[:, j], minlength=n_dom)
                                for j in range(k)]) / sum_w[:, None]
        dev = v - vbar[d]
        ss = np.column_stack([np.bincount(d, weights=w * dev[:, j] ** 2, minlength=n_dom)
                              for j in range(k)])
        s2 = ss / sum_w[:, None] * (n_pos / (n_pos - 1))[:, None]
        big_n = sum_w[:, None]
        n = n_pos[:, None]
        if statistic in ("mean", "prop"):
            return np.where(big_n < n, np.nan, s2 * (big_n - n) / (big_n * n))
        return s2 * big_n**2 * (big_n - n) / (big_n * n)


def _finish(design: SurveyDesign, lin: Linearized) -> Estimate:
    codes = lin.domains.codes
    n_dom = lin.domains.count
    logistic = None
    if lin.statistic == "prop":  # R's svyglm(y ~ 1, quasibinomial) for logit/likelihood CIs
        from analysis.likelihood_ci import fit_logistic, indicator_from_influence

        y = indicator_from_influence(codes, design.weights, lin.estimate, lin.influence)
        logistic = fit_logistic(codes, n_dom, design.weights, y)
    logit_var = None
    if design.replicates is None:
        if logistic is not None:  # one engine pass for var(p) and R's var(logit coefficient)
            from analysis.likelihood_ci import taylor_variances

            cov, logit_var = taylor_variances(design, codes, n_dom, lin.influence,
                                              lin.estimate, logistic)
        else:
            cov = linearization.vcov(design, lin.influence, codes, n_dom)
        with np.errstate(divide="ignore", invalid="ignore"):
            deff = np.diagonal(cov, axis1=1, axis2=2) / lin.srs_variance
    else:  # replicate weights: re-estimate under each replicate (analysis.replicates)
        from analysis.replicates import replicate_summary

        rep = replicate_summary(design, lin, logistic)
        cov, deff, logit_var = rep.vcov, rep.deff, rep.logit_var
    df = design.domain_degf(codes, n_dom)  # replicate designs: rank of replicate weights - 1
    inside = codes >= 0
    d = codes[inside]
    w = design.weights[inside]
    sum_w = np.bincount(d, weights=w, minlength=n_dom)
    sum_w2 = np.bincount(d, weights=w * w, minlength=n_dom)
    n_pos = np.bincount(d, weights=(w != 0).astype(float), minlength=n_dom).astype(np.int64)
    n_rows = np.bincount(d, minlength=n_dom).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        kish = sum_w**2 / sum_w2
    return Estimate(
        statistic=lin.statistic,
        variables=lin.variables,
        domains=lin.domains.labels,
        estimate=lin.estimate,
        vcov=cov,
        df=df,
        n=n_pos,
        n_rows=n_rows,
        deff=deff,
        n_eff=kish,
        variance_method=design.variance_method,
        default_ci="logit" if lin.statistic == "prop" else "t",
        logistic=logistic,
        logit_var=logit_var,
    )
