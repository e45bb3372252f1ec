"""Frozen result objects: estimate, covariance, SE, degrees of freedom, intervals, tables.

Modelled on statsmodels' results classes: the estimator does the work once; the result only
derives views (``se``, ``confint``, ``to_frame``) and never changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.intervals import CIMethod, ci_method, proportion_interval, t_interval

if TYPE_CHECKING:
    from analysis.likelihood_ci import LogisticFit

OUTPUT_COLUMNS = ["statistic", "variable", "estimate", "se", "ci_low", "ci_high", "df", "deff",
                  "n", "n_eff", "flag"]


@dataclass(frozen=True, eq=False)
class Estimate:
    """Estimates of ``k`` statistics in ``D`` domains.

    Attributes
    ----------
    statistic : 'total', 'mean', 'ratio' or 'prop'.
    variables : the k variable names (for ratios 'num/den', for proportions 'col=value').
    domains : D rows of domain labels, one column per ``by`` variable (none without ``by``).
    estimate : (D, k) point estimates.
    vcov : (D, k, k) linearized or replicate covariance of the k estimates within a domain.
    df : (D,) degrees of freedom (the domain's PSUs minus strata, as R's ``degf``).
    n : (D,) rows in the domain with non-zero weight and no missing value.
    n_rows : (D,) rows in the domain, zero weights included (R's ``nrow(design)``).
    deff : (D, k) design effect as R's ``deff=TRUE`` (without-replacement SRS reference).
    n_eff : (D,) Kish's effective sample size (sum w)^2 / sum w^2.
    logistic : for proportions, R's intercept-only quasibinomial fit per domain (the
        ``likelihood`` interval profiles it).
    logit_var : for proportions, the design variance of the fitted logit ``B0`` as R's
        ``vcov(svyglm)``: linearized with influence values centred at the fit (Taylor), or
        from refitting the model under every replicate weight (replicate designs).
    """

    statistic: str
    variables: tuple[str, ...]
    domains: pd.DataFrame
    estimate: np.ndarray
    vcov: np.ndarray
    df: np.ndarray
    n: np.ndarray
    n_rows: np.ndarray
    deff: np.ndarray
    n_eff: np.ndarray
    variance_method: str = "taylor"
    default_ci: str = field(default="t")
    logistic: LogisticFit | None = None
    logit_var: np.ndarray | None = None

    @property
    def se(self) -> np.ndarray:
        """(D, k) standard errors."""
        return np.sqrt(np.clip(np.diagonal(self.vcov, axis1=1, axis2=2), 0, None))

    @property
    def var(self) -> np.ndarray:
        return np.diagonal(self.vcov, axis1=1, axis2=2)

    @property
    def cv(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.se / np.abs(self.estimate)

    def degrees_of_freedom(self, df: str | float = "design") -> np.ndarray:
        """The df used for intervals: the design's, a number, or ``inf`` (normal quantiles)."""
        if isinstance(df, str) and df == "design":
            return self.df.astype(float)
        return np.full(len(self.df), float(df))

    def confint(self, level: float = 0.95, method: CIMethod | str | None = None,
                df: str | float = "design") -> np.ndarray:
        """(D, k, 2) interval bounds.

        Proportions use ``method`` (default ``logit``, as ``svyciprop``); other statistics use
        estimate +/- t SE with the design degrees of freedom.
        """
        d = self.degrees_of_freedom(df)[:, None]
        if self.statistic == "prop":
            m = ci_method(method or CIMethod.LOGIT)
            lo, hi = proportion_interval(self.estimate, self.var, d, level, m,
                                         n_rows=self.n_rows[:, None], fit=self.logistic,
                                         coef_var=self.logit_var)
        else:
            lo, hi = t_interval(self.estimate, self.se, d, level)
        return np.stack([lo, hi], axis=-1)

    def to_frame(self, level: float = 0.95, method: CIMethod | str | None = None,
                 df: str | float = "design") -> pd.DataFrame:
        """Long table: one row per domain x variable, columns as the command line writes."""
        ci = self.confint(level, method, df)
        d_count, k = self.estimate.shape
        dfs = self.degrees_of_freedom(df)
        frame = pd.DataFrame({
            "statistic": self.statistic,
            "variable": np.tile(np.array(self.variables, dtype=object), d_count),
            "estimate": self.estimate.ravel(),
            "se": self.se.ravel(),
            "ci_low": ci[..., 0].ravel(),
            "ci_high": ci[..., 1].ravel(),
            "df": np.repeat(dfs, k),
            "deff": self.deff.ravel(),
            "n": np.repeat(self.n, k),
            "n_eff": np.repeat(self.n_eff, k),
            "flag": "",
        })
        labels = self.domains.loc[self.domains.index.repeat(k)].reset_index(drop=True)
        return pd.concat([labels, frame], axis=1)
