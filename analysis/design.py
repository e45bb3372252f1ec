"""The survey design object: weights, strata, multi-stage clusters, fpc and the lonely-PSU rule.

A :class:`SurveyDesign` is built once from a table and validated there, then handed to every
estimator (as in R ``survey``: one design object, every estimator takes it). Construction mirrors
``survey::svydesign.default`` (survey 4.x) so that the same specification gives the same numbers:

* stage-``i`` cluster ids are the interaction of the ids of stages ``1..i`` (clusters are nested
  in their parents); with ``nest=True`` they are also made unique within strata;
* strata of stage ``i >= 2`` are the interaction of the stage's strata column (or the last one
  given) with the stage ``i-1`` cluster, so later-stage strata live inside their parent cluster;
* ``fpc`` per stage is either the population size (all values >= 1) or the sampling fraction
  (all values <= 1), and is validated against the number of sampled clusters;
* with no weights or probabilities, probabilities come from the fpc (product over stages of
  sampled/population units), otherwise every row gets weight 1.

References: Lumley, T. (2010) *Complex Surveys*, ch. 2-3; R ``survey`` sources ``svydesign.R``,
``as.fpc``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from analysis.arrays import unique
from analysis.errors import DesignError, describe_rows


class LonelyPSU(StrEnum):
    """What to do with a stratum that has a single sampled PSU (R ``survey.lonely.psu``)."""

    FAIL = "fail"  # raise, naming the stratum (R's default)
    REMOVE = "remove"  # the stratum contributes no variance
    CERTAINTY = "certainty"  # the PSU was sampled with certainty: no variance
    ADJUST = "adjust"  # centre the stratum at the grand mean instead of its own
    AVERAGE = "average"  # replace by the average variance of the other strata


@dataclass(frozen=True, eq=False)
class Stage:
    """One sampling stage, indexed by cluster code (0..n_clusters-1) and stratum code.

    ``row_cluster`` gives every row's cluster at this stage. Per stratum: ``n_sampled`` clusters
    were drawn out of ``popsize`` (``inf`` when sampled with replacement or no fpc given).
    """

    row_cluster: np.ndarray
    cluster_stratum: np.ndarray
    cluster_parent: np.ndarray
    n_sampled: np.ndarray
    popsize: np.ndarray | None
    stratum_labels: np.ndarray

    @property
    def n_clusters(self) -> int:
        return len(self.cluster_stratum)

    @property
    def n_strata(self) -> int:
        return len(self.n_sampled)

    @property
    def fpc_factor(self) -> np.ndarray:
        """Per stratum ``f = (N - n) / N`` (1 without fpc), as R's ``onestrat``."""
        if self.popsize is None:
            return np.ones(self.n_strata)
        with np.errstate(invalid="ignore", divide="ignore"):
            f = (self.popsize - self.n_sampled) / self.popsize
        return np.where(np.isinf(self.popsize), 1.0, f)

    @property
    def sampling_fraction(self) -> np.ndarray:
        """Per stratum ``n / N``: the weight of the next stage's variance (R ``multistage``)."""
        if self.popsize is None:
            return np.zeros(self.n_strata)
        return self.n_sampled / self.popsize


@dataclass(frozen=True, eq=False)
class Replicates:
    """Replicate weights and how their estimates combine into a variance (R ``svrVar``).

    ``weights`` is (n, R): full replicate *sampling* weights (not factors). The variance of a
    statistic is ``scale * sum_r rscales[r] * (theta_r - centre)^2`` with ``centre`` the
    full-sample estimate when ``mse`` is true, else the mean of the replicates. ``df`` is R's
    ``degf``: the rank of the replicate weights minus one. Build them with
    :mod:`analysis.replicates` (``replicate_design``, ``from_columns``); after changing the
    weights (e.g. recalibrating every replicate) use :meth:`with_weights`, which recomputes
    ``df``.
    """

    weights: np.ndarray
    scale: float
    rscales: np.ndarray
    mse: bool
    kind: str
    df: int

    @property
    def count(self) -> int:
        return self.weights.shape[1]

    def with_weights(self, weights: np.ndarray) -> Replicates:
        """A copy with new (n, R) replicate weights, same scale/rscales/mse/kind, df updated."""
        from analysis.replicates import replicate_degf

        weights = np.asarray(weights, dtype=float)
        if weights.shape != self.weights.shape:
            raise DesignError(
                f"Replicate weights must be {self.weights.shape}, not {weights.shape}"
            )
        return dataclasses.replace(self, weights=weights, df=replicate_degf(weights))

    def degf(self, mask: np.ndarray | None = None) -> int:
        """R ``degf`` of the design, or of ``subset(design, mask)`` (rank of its weights - 1)."""
        from analysis.replicates import replicate_degf

        return replicate_degf(self.weights if mask is None else self.weights[mask])

    def domain_degf(self, domain: np.ndarray, n_domains: int) -> np.ndarray:
        """``degf`` of every domain's subset (what ``svyby`` uses), domain codes 0..D-1."""
        from analysis.replicates import replicate_domain_degf

        return replicate_domain_degf(self.weights, domain, n_domains)


@dataclass(frozen=True)
class DesignSpec:
    """The columns and options a design was built from; stored with every analysis run."""

    psu: tuple[str, ...] = ()
    strata: tuple[str, ...] = ()
    weights: str | None = None
    probs: str | None = None
    fpc: tuple[str, ...] = ()
    nest: bool = False
    lonely_psu: str = LonelyPSU.FAIL.value

    def to_dict(self) -> dict[str, Any]:
        return {
            "psu": list(self.psu),
            "strata": list(self.strata),
            "weights": self.weights,
            "probs": self.probs,
            "fpc": list(self.fpc),
            "nest": self.nest,
            "lonely_psu": self.lonely_psu,
        }


@dataclass(frozen=True, eq=False)
class SurveyDesign:
    """A validated complex-sample design over ``data`` (one row per respondent).

    Build it with :meth:`from_frame`. ``weights`` are sampling (probability) weights, the
    inverse inclusion probabilities; they are *not* frequency or analytic weights.
    ``adjustments`` holds calibration steps (see :mod:`analysis.calibration`) whose effect on
    the variance is applied to influence values before they are summed to PSU totals.
    """

    data: pd.DataFrame
    weights: np.ndarray
    stages: tuple[Stage, ...]
    lonely_psu: LonelyPSU
    has_strata: bool
    spec: DesignSpec
    adjustments: tuple[Any, ...] = field(default=())
    replicates: Replicates | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frame(
        cls,
        data: pd.DataFrame,
        *,
        psu: str | Sequence[str] | None = None,
        strata: str | Sequence[str] | None = None,
        weights: str | None = None,
        probs: str | None = None,
        fpc: str | Sequence[str] | None = None,
        nest: bool = False,
        lonely_psu: LonelyPSU | str = LonelyPSU.FAIL,
        check_strata: bool | None = None,
    ) -> SurveyDesign:
        """Build a design as ``svydesign(ids=psu, strata=strata, weights=, fpc=, nest=)``.

        Parameters
        ----------
        data : DataFrame, one row per sampled unit.
        psu : cluster column(s), one per stage; ``None`` means every row is its own PSU.
        strata : stratum column(s), one per stage at most; later stages reuse the last.
        weights, probs : sampling weight or inclusion probability column (not both).
        fpc : per stage, population size (values >= 1) or sampling fraction (values <= 1).
        nest : cluster ids repeat across strata and are unique only within a stratum.
        lonely_psu : rule for strata with a single PSU (default ``fail``).
        """
        data = data.reset_index(drop=True)
        psu_cols = _as_tuple(psu)
        strata_cols = _as_tuple(strata)
        fpc_cols = _as_tuple(fpc)
        rule = _lonely_rule(lonely_psu)
        if check_strata is None:
            check_strata = not nest
        _require_columns(data, psu_cols + strata_cols + fpc_cols + _as_tuple(weights)
                         + _as_tuple(probs))
        n = len(data)
        if n == 0:
            raise DesignError("The data has no rows")

        ids = [_no_missing(data[c], c, "cluster") for c in psu_cols] or [pd.Series(np.arange(n))]
        n_stages = len(ids)
        has_strata = bool(strata_cols)
        if len(strata_cols) > n_stages:
            raise DesignError(
                f"{len(strata_cols)} strata columns given for a {n_stages}-stage design"
            )
        strata_series = [_no_missing(data[c], c, "stratum") for c in strata_cols]
        if not has_strata:
            strata_series = [pd.Series(np.ones(n, dtype=np.int64))]

        # stage-1 id codes, then ids of later stages as interactions (R: nested in parents)
        id_codes = [_codes(ids[: i + 1]) for i in range(n_stages)]
        if len(unique(id_codes[0])) == 1 and not (nest and has_strata):
            raise DesignError("Design has only one primary sampling unit")
        n_strata_cols = len(strata_series)
        if nest and has_strata:
            id_codes = [
                _codes([*strata_series[: min(i + 1, n_strata_cols)], ids[i], *ids[:i]])
                for i in range(n_stages)
            ]
        if check_strata and has_strata:
            _check_nested(id_codes[0], _codes(strata_series[:1]), ids[0],
                          psu_cols[0] if psu_cols else "(row)")

        stratum_codes: list[np.ndarray] = []
        stratum_labels: list[np.ndarray] = []
        for i in range(n_stages):
            col = strata_series[min(i, n_strata_cols - 1)]
            parts = [col] if i == 0 else [col, pd.Series(id_codes[i - 1])]
            codes = _codes(parts)
            stratum_codes.append(codes)
            stratum_labels.append(_labels(codes, col))

        sampsize = [_count_clusters(id_codes[i], stratum_codes[i]) for i in range(n_stages)]
        popsize = _popsize(data, fpc_cols, stratum_codes, sampsize, n_stages)

        w = _weights(data, weights, probs, popsize, sampsize, stratum_codes)

        stages = []
        for i in range(n_stages):
            cluster = id_codes[i]
            n_clusters = int(cluster.max()) + 1
            c_stratum = np.zeros(n_clusters, dtype=np.int64)
            c_stratum[cluster] = stratum_codes[i]
            c_parent = np.zeros(n_clusters, dtype=np.int64)
            if i > 0:
                c_parent[cluster] = id_codes[i - 1]
            stages.append(
                Stage(
                    row_cluster=cluster,
                    cluster_stratum=c_stratum,
                    cluster_parent=c_parent,
                    n_sampled=sampsize[i],
                    popsize=None if popsize is None else popsize[i],
                    stratum_labels=stratum_labels[i],
                )
            )
        spec = DesignSpec(
            psu=psu_cols,
            strata=strata_cols,
            weights=weights,
            probs=probs,
            fpc=fpc_cols,
            nest=nest,
            lonely_psu=rule.value,
        )
        return cls(
            data=data,
            weights=w,
            stages=tuple(stages),
            lonely_psu=rule,
            has_strata=has_strata,
            spec=spec,
        )

    # ------------------------------------------------------------------ derived facts
    @property
    def n(self) -> int:
        return len(self.weights)

    @property
    def has_fpc(self) -> bool:
        return self.stages[0].popsize is not None

    @property
    def variance_depth(self) -> int:
        """Stages whose within-cluster variance enters (all of them with fpc, else the first)."""
        return len(self.stages) if self.has_fpc else 1

    @property
    def variance_method(self) -> str:
        return "taylor" if self.replicates is None else self.replicates.kind

    def degf(self, mask: np.ndarray | None = None) -> int:
        """Design degrees of freedom: PSUs minus strata among rows with non-zero weight.

        With ``mask`` (a domain), counts only the domain's rows, as R's ``degf`` does on
        ``subset(design, ...)`` (this is what ``svyby(..., svyciprop)`` uses). Replicate
        designs use the rank of their replicate weights instead (``degf.svyrep.design``).
        """
        if self.replicates is not None:
            return self.replicates.degf(mask)
        inset = self.weights != 0
        if mask is not None:
            inset &= mask
        stage = self.stages[0]
        psus = unique(stage.row_cluster[inset])
        strata = unique(stage.cluster_stratum[psus])
        return int(len(psus) - len(strata))

    def domain_degf(self, domain: np.ndarray, n_domains: int) -> np.ndarray:
        """Degrees of freedom for every domain code 0..n_domains-1 in one pass."""
        if self.replicates is not None:
            return self.replicates.domain_degf(domain, n_domains)
        stage = self.stages[0]
        inset = (self.weights != 0) & (domain >= 0)
        d = domain[inset].astype(np.int64)
        c = stage.row_cluster[inset]
        n_cl = stage.n_clusters
        psu_keys = unique(d * n_cl + c)
        psu_dom = psu_keys // n_cl
        n_psu = np.bincount(psu_dom, minlength=n_domains)
        n_st = stage.n_strata
        strat_keys = unique(psu_dom * n_st + stage.cluster_stratum[psu_keys % n_cl])
        n_str = np.bincount(strat_keys // n_st, minlength=n_domains)
        return (n_psu - n_str).astype(np.int64)

    def with_weights(self, weights: np.ndarray, adjustment: Any | None = None) -> SurveyDesign:
        """A copy with new weights (after calibration or trimming) and its variance adjustment."""
        weights = np.asarray(weights, dtype=float)
        if weights.shape != self.weights.shape:
            raise DesignError("New weights must have one value per row of the design")
        adjustments = self.adjustments + ((adjustment,) if adjustment is not None else ())
        return dataclasses.replace(self, weights=weights, adjustments=adjustments)

    def with_lonely_psu(self, rule: LonelyPSU | str) -> SurveyDesign:
        """A copy with another lonely-PSU rule (the rule is part of the design, never global)."""
        rule = _lonely_rule(rule)
        spec = dataclasses.replace(self.spec, lonely_psu=rule.value)
        return dataclasses.replace(self, lonely_psu=rule, spec=spec)


# ---------------------------------------------------------------------- helpers
def _as_tuple(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(value)


def _lonely_rule(value: LonelyPSU | str) -> LonelyPSU:
    try:
        return LonelyPSU(value)
    except ValueError:
        choices = ", ".join(r.value for r in LonelyPSU)
        raise DesignError(f"Unknown lonely-PSU rule '{value}'; use one of {choices}") from None


def _require_columns(data: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DesignError(f"Column(s) not in the data: {', '.join(missing)}")


def _no_missing(series: pd.Series, column: str, role: str) -> pd.Series:
    bad = np.flatnonzero(series.isna().to_numpy())
    if len(bad):
        raise DesignError(
            f"Missing {role} values in column '{column}' at rows {describe_rows(bad)}"
        )
    return series.reset_index(drop=True)


def _codes(parts: Sequence[pd.Series | np.ndarray]) -> np.ndarray:
    """Integer codes 0..k-1 of the interaction of ``parts``, ordered by the sorted values.

    Each part is factorized on its own (categoricals use their categories, no strings made)
    and the codes are combined in mixed radix, re-coded after every part so they stay small.
    """
    key: np.ndarray | None = None
    for part in parts:
        codes, uniques = pd.factorize(part, sort=True, use_na_sentinel=False)
        codes = np.asarray(codes, dtype=np.int64)
        if key is None:
            key = codes
        else:
            key = pd.factorize(key * len(uniques) + codes, sort=True)[0].astype(np.int64)
    assert key is not None
    return key


def _labels(codes: np.ndarray, values: pd.Series) -> np.ndarray:
    """A readable label per code (the stratum's value), for error messages."""
    labels = np.empty(int(codes.max()) + 1, dtype=object)
    labels[codes] = np.asarray(values.astype(str))
    return labels


def _check_nested(psu_codes: np.ndarray, stratum_codes: np.ndarray, psu_values: pd.Series,
                  column: str) -> None:
    n_strata = int(stratum_codes.max()) + 1
    pairs = unique(psu_codes * n_strata + stratum_codes)
    counts = np.bincount(pairs // n_strata)
    if (counts > 1).any():
        bad = int(np.flatnonzero(counts > 1)[0])
        value = psu_values.iloc[int(np.flatnonzero(psu_codes == bad)[0])]
        raise DesignError(
            f"Clusters not nested in strata at top level: PSU '{value}' of column '{column}' "
            "appears in more than one stratum; use nest=True if PSU ids repeat across strata"
        )


def _count_clusters(cluster: np.ndarray, stratum: np.ndarray) -> np.ndarray:
    """Distinct clusters per stratum code (R ``as.fpc``'s ``sampsize``)."""
    first = np.unique(cluster, return_index=True)[1]
    return np.bincount(stratum[first], minlength=int(stratum.max()) + 1).astype(float)


def _popsize(
    data: pd.DataFrame,
    fpc_cols: tuple[str, ...],
    stratum_codes: list[np.ndarray],
    sampsize: list[np.ndarray],
    n_stages: int,
) -> list[np.ndarray] | None:
    """Per stage and stratum, the population size N implied by the fpc columns."""
    if not fpc_cols:
        return None
    if len(fpc_cols) != n_stages:
        raise DesignError(
            f"fpc needs one column per stage: {n_stages} stage(s), {len(fpc_cols)} fpc column(s)"
        )
    values = []
    for col in fpc_cols:
        v = pd.to_numeric(data[col], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(v) & ~np.isposinf(v) | (v <= 0))
        if len(bad):
            raise DesignError(
                f"fpc column '{col}' must be positive numbers; bad rows {describe_rows(bad)}"
            )
        values.append(v)
    allv = np.concatenate(values)
    finite = allv[np.isfinite(allv)]
    is_popsize = bool((finite > 1).any())
    if is_popsize and not (finite >= 1).all():
        raise DesignError(
            "fpc must be all population sizes (>= 1) or all sampling fractions (<= 1)"
        )
    out = []
    for i, (col, v) in enumerate(zip(fpc_cols, values, strict=True)):
        codes = stratum_codes[i]
        n_st = len(sampsize[i])
        lo = np.full(n_st, np.inf)
        hi = np.full(n_st, -np.inf)
        np.minimum.at(lo, codes, v)
        np.maximum.at(hi, codes, v)
        varies = np.flatnonzero(lo != hi)
        if len(varies):
            raise DesignError(
                f"fpc column '{col}' varies within stratum at stage {i + 1} "
                f"(stratum {varies[0]}); it must be constant within each stratum"
            )
        pop = lo if is_popsize else sampsize[i] / lo
        toobig = np.flatnonzero(pop < sampsize[i] - 1e-9)
        if len(toobig):
            h = int(toobig[0])
            raise DesignError(
                f"fpc column '{col}' implies more than 100% sampling at stage {i + 1}: "
                f"population {pop[h]:g} but {sampsize[i][h]:g} units sampled"
            )
        out.append(pop)
    return out


def _weights(
    data: pd.DataFrame,
    weights: str | None,
    probs: str | None,
    popsize: list[np.ndarray] | None,
    sampsize: list[np.ndarray],
    stratum_codes: list[np.ndarray],
) -> np.ndarray:
    if weights and probs:
        raise DesignError("Give sampling weights or probabilities, not both")
    if weights or probs:
        col = weights or probs
        assert col is not None
        raw = data[col]
        v = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        non_numeric = np.flatnonzero(np.isnan(v) & raw.notna().to_numpy())
        if len(non_numeric):
            raise DesignError(
                f"Column '{col}' has non-numeric values at rows {describe_rows(non_numeric)}"
            )
        missing = np.flatnonzero(np.isnan(v))
        if len(missing):
            raise DesignError(f"Column '{col}' has missing values at rows {describe_rows(missing)}")
        if probs:
            bad = np.flatnonzero((v < 0) | (v > 1))
            if len(bad):
                raise DesignError(
                    f"Probabilities in '{col}' must lie in [0, 1]; bad rows {describe_rows(bad)}"
                )
            with np.errstate(divide="ignore"):
                v = np.where(v == 0, 0.0, 1.0 / v)
        bad = np.flatnonzero((v < 0) | ~np.isfinite(v))
        if len(bad):
            raise DesignError(
                f"Weights in '{col}' must be finite and not negative; bad rows {describe_rows(bad)}"
            )
        if not (v > 0).any():
            raise DesignError(f"Every weight in '{col}' is zero: nothing to estimate")
        return v
    if popsize is not None:
        prob = np.ones(len(data))
        for pop, n_s, codes in zip(popsize, sampsize, stratum_codes, strict=True):
            prob *= (n_s / pop)[codes]
        return 1.0 / prob
    return np.ones(len(data))
