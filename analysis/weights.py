"""Weighting diagnostics: how unequal the weights are and what calibration did to them.

For the weighting-diagnostics page and the run record. Kept apart from
:mod:`analysis.calibration` because it describes any weights (design weights from a frame,
calibrated or trimmed ones) and never changes them.

* distribution of the positive weights: min, quartiles (R's default ``quantile`` type 7, as
  ``summary(weights(design))``), max, mean and the ratio max/min;
* Kish's (1965, 1992) design effect due to unequal weighting ``deff_w = n sum w^2 / (sum w)^2
  = 1 + CV^2`` (CV with divisor n) and the effective sample size ``n_eff = (sum w)^2 / sum w^2
  = n / deff_w``;
* after calibration, the g-weights ``g = w_calibrated / w_base`` (Deville & Särndal 1992;
  Lumley 2010 §7.1): their distribution and how many lie outside given bounds. Extreme or
  negative g-weights are what a statistician checks before trusting a calibration.

References: Kish, L. (1992) "Weighting for unequal P_i", *J. Official Statistics* 8:183-200;
Deville, J.-C. & Särndal, C.-E. (1992) *JASA* 87:376-382; Lumley, T. (2010) *Complex Surveys*,
ch. 7; Valliant, Dever & Kreuter (2018) *Practical Tools for Designing and Weighting Survey
Samples*, §14.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from analysis.design import SurveyDesign
from analysis.errors import DesignError


@dataclass(frozen=True)
class Distribution:
    """Five-number summary (type-7 quartiles) and mean of a set of values."""

    minimum: float
    q1: float
    median: float
    q3: float
    maximum: float
    mean: float

    @classmethod
    def of(cls, values: np.ndarray) -> Distribution:
        if len(values) == 0:
            nan = float("nan")
            return cls(nan, nan, nan, nan, nan, nan)
        q = np.quantile(values, [0.0, 0.25, 0.5, 0.75, 1.0])
        return cls(*(float(x) for x in q), mean=float(values.mean()))


@dataclass(frozen=True)
class WeightSummary:
    """Diagnostics of one set of weights (positive weights only, zero weights counted apart).

    Attributes
    ----------
    n : rows; n_positive : rows with a positive weight; total : sum of the weights.
    weights : distribution of the positive weights.
    ratio : max / min of the positive weights.
    cv : coefficient of variation of the positive weights (divisor n).
    deff : Kish's weighting design effect ``1 + cv^2``.
    n_eff : Kish's effective sample size ``(sum w)^2 / sum w^2``.
    g : distribution of ``w / base`` over rows with a positive base weight (calibration).
    g_below, g_above : g-weights below ``g_bounds[0]`` / above ``g_bounds[1]``.
    g_negative : negative g-weights (possible with unbounded linear calibration).
    """

    n: int
    n_positive: int
    total: float
    weights: Distribution
    ratio: float
    cv: float
    deff: float
    n_eff: float
    g: Distribution | None = None
    g_bounds: tuple[float, float] | None = None
    g_below: int | None = None
    g_above: int | None = None
    g_negative: int | None = None

    def to_dict(self) -> dict[str, object]:
        """Flat mapping (``weights_min``, ..., ``g_median``, ...) for JSON and templates."""
        out: dict[str, object] = {}
        for key, value in asdict(self).items():
            if isinstance(value, dict):
                prefix = "weights" if key == "weights" else key
                out.update({f"{prefix}_{k}": v for k, v in value.items()})
            else:
                out[key] = value
        return out


def weight_summary(weights: SurveyDesign | np.ndarray | Sequence[float], *,
                   base: SurveyDesign | np.ndarray | Sequence[float] | None = None,
                   g_bounds: tuple[float, float] | None = None) -> WeightSummary:
    """Summarize weights; with ``base`` (the weights before calibration) also the g-weights.

    Parameters
    ----------
    weights : a design (its sampling weights) or the weights themselves.
    base : the design or weights before calibration/trimming, same rows in the same order.
    g_bounds : ``(lower, upper)`` to count g-weights outside (e.g. the calibration bounds).

    Examples
    --------
    >>> s = weight_summary([1.0, 2.0, 3.0, 4.0])
    >>> round(s.deff, 4), round(s.n_eff, 4)
    (1.2, 3.3333)
    """
    w = _as_weights(weights)
    positive = w[w > 0]
    n_pos = len(positive)
    total = float(positive.sum())
    sum_sq = float((positive**2).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        n_eff = total**2 / sum_sq if n_pos else float("nan")
        deff = n_pos * sum_sq / total**2 if n_pos else float("nan")
        ratio = float(positive.max() / positive.min()) if n_pos else float("nan")
    cv = float(np.sqrt(max(deff - 1.0, 0.0))) if n_pos else float("nan")
    summary = WeightSummary(n=len(w), n_positive=n_pos, total=total,
                            weights=Distribution.of(positive), ratio=ratio, cv=cv, deff=deff,
                            n_eff=n_eff)
    if base is None:
        return summary
    b = _as_weights(base)
    if b.shape != w.shape:
        raise DesignError("Base weights must have one value per row, in the same order")
    keep = b > 0
    g = w[keep] / b[keep]
    below = above = None
    if g_bounds is not None:
        below = int((g < g_bounds[0]).sum())
        above = int((g > g_bounds[1]).sum())
    return WeightSummary(**{**summary.__dict__, "g": Distribution.of(g), "g_bounds": g_bounds,
                            "g_below": below, "g_above": above,
                            "g_negative": int((g < 0).sum())})


def weight_table(design: SurveyDesign, by: str | Sequence[str] | None = None, *,
                 base: SurveyDesign | np.ndarray | None = None,
                 g_bounds: tuple[float, float] | None = None) -> pd.DataFrame:
    """:func:`weight_summary` for the whole sample (``by=None``) or per group, one row each."""
    w = design.weights
    b = None if base is None else _as_weights(base)
    columns = [by] if isinstance(by, str) else list(by or [])
    if not columns:
        return pd.DataFrame([weight_summary(w, base=b, g_bounds=g_bounds).to_dict()])
    missing = [c for c in columns if c not in design.data.columns]
    if missing:
        raise DesignError(f"Column(s) not in the data: {', '.join(missing)}")
    rows = []
    groups = design.data[columns].reset_index(drop=True).groupby(columns, sort=True,
                                                                 dropna=False)
    for key, index in groups.indices.items():
        labels = dict(zip(columns, key if isinstance(key, tuple) else (key,), strict=True))
        part = weight_summary(w[index], base=None if b is None else b[index],
                              g_bounds=g_bounds)
        rows.append({**labels, **part.to_dict()})
    return pd.DataFrame(rows)


def _as_weights(value: SurveyDesign | np.ndarray | Sequence[float]) -> np.ndarray:
    if isinstance(value, SurveyDesign):
        return value.weights
    w = np.asarray(value, dtype=float)
    if w.ndim != 1:
        raise DesignError("Weights must be one value per row")
    if not np.isfinite(w).all():
        raise DesignError("Weights must be finite numbers")
    return w
