"""Replicate-weight variance: JK1, JKn, BRR/Fay, Rao-Wu bootstrap, and user-supplied weights.

A replicate design carries, beside the full-sample weights, R columns of replicate weights
(:class:`analysis.design.Replicates`). Every statistic is re-estimated under each column and
the spread of the R replicate estimates is its variance -- one function for all statistics,
R's ``svrVar`` (:func:`svrvar`)::

    V = scale * sum_r rscales[r] * (theta_r - c)(theta_r - c)'

with ``c`` the full-sample estimate when ``mse`` is true, else the mean of the replicates.

Building replicate weights from a design (R ``as.svrepdesign``; :func:`replicate_design`):

* ``JK1`` -- delete-one-PSU jackknife for unstratified designs: the deleted PSU gets weight 0,
  the others ``n/(n-1)``; ``scale = f (n-1)/n`` with ``f = (N-n)/N`` under an fpc, else 1
  (R ``jk1weights``; Wolter 2007 §4.2).
* ``JKn`` -- stratified jackknife: one replicate per PSU, reweighting only its stratum by
  ``n_h/(n_h-1)``; ``rscales = f_h (n_h-1)/n_h``; fully sampled strata give no replicate; a
  stratum with one PSU follows the design's lonely-PSU rule as R's ``jknweights`` does
  (Wolter 2007 §4.5).
* ``BRR`` (and ``Fay`` with ``fay_rho``) -- balanced repeated replication for designs with two
  PSUs per stratum: half-samples from the rows of a Hadamard matrix chosen exactly as R's
  ``hadamard()`` (Sylvester doublings of R's stored 4/16/28/36 matrices, or Paley's
  construction), so the replicate set is R's; weights ``2 - rho`` / ``rho``, ``scale = 1/(R
  (1-rho)^2)`` (R ``brrweights``; Wolter 2007 ch. 3; Judkins 1990 for Fay).
* ``bootstrap`` -- the Rao-Wu (1988) rescaling bootstrap with ``m_h = n_h - 1`` PSUs drawn with
  replacement per stratum: factor ``1 - l_h + l_h n_h/m_h r_hi`` with ``l_h = sqrt(1 - f_h)``
  (Rao, Wu & Yue 1992), so factors are never negative and average exactly 1 over the PSUs of
  every stratum; ``scale = 1/(R-1)``. Random numbers come from ``numpy.random.default_rng(
  seed)``, never the global generator. (R's ``bootweights`` is the Canty-Davison variant; the
  two agree in distribution, not in draws.)

Only the first sampling stage enters (as in R, which warns that later-stage fpcs are dropped).
User-supplied replicate weights: :func:`from_columns` (R ``svrepdesign``), with R's defaults
for ``scale``/``rscales`` by kind.

Estimation (:func:`replicate_summary`, called by the estimators): for a total, mean, ratio or
proportion in every domain, all replicate estimates come from one sparse-matrix product of
(domain x row) influence values with the (row x replicate) weights -- no loop over rows or
replicates. Degrees of freedom are R's ``degf.svyrep.design``: the rank of the replicate
weights (of the domain's rows, for a domain) minus one, with R's LINPACK rank rule
(:func:`qr_rank`). Design effects follow
``svymean.svyrep.design(deff=TRUE)``: SRS-without-replacement variance over all rows of the
domain. For proportions the logit interval uses R's replicate refits of ``svyglm``.

Composite statistics (the SIPAS indices) use the same machinery through two small functions:

* :func:`replicate_totals` -- weighted totals of value columns under the full-sample weights
  and every replicate, by domain: an array (R+1, D, k), row 0 the full sample;
* :func:`replicate_variance` -- give it ``statistic(W)`` mapping an (n, m) weight matrix to
  (m, D, k) estimates (e.g. built from :func:`domain_totals`); it returns the full-sample
  estimate (D, k) and its replicate covariance (D, k, k) via :func:`svrvar`.

Example (a content index = mean of criterion ratios, per commune)::

    def content(W):                                   # W: (n, m) weight columns
        sat = domain_totals(W, satisfied, codes, D)   # (m, D, n_criteria)
        ans = domain_totals(W, answered, codes, D)
        return (sat / ans).mean(axis=-1, keepdims=True)

    estimate, vcov = replicate_variance(design, content)

References: R ``survey`` 4.1 sources (``as.svrepdesign``, ``jk1weights``, ``jknweights``,
``brrweights``, ``hadamard``, ``paley``, ``svrepdesign``, ``svrVar``, ``degf``,
``svymean.svyrep.design``, ``svyglm.svyrep.design``); Wolter, K. (2007) *Introduction to
Variance Estimation*, 2nd ed.; Rust, K. & Rao, J.N.K. (1996) Variance estimation for complex
surveys using replication techniques, *Stat. Methods Med. Res.* 5; Rao, J.N.K. & Wu, C.F.J.
(1988) Resampling inference with complex survey data, *JASA* 83; Rao, Wu & Yue (1992)
*Survey Methodology* 18.
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse

from analysis.design import LonelyPSU, Replicates, SurveyDesign
from analysis.errors import DesignError, EstimationError, LonelyPSUError, describe_rows

if TYPE_CHECKING:
    from analysis.estimators import Linearized
    from analysis.likelihood_ci import LogisticFit


class ReplicateKind(StrEnum):
    """Replicate types (R ``as.svrepdesign``/``svrepdesign`` ``type=``)."""

    JK1 = "JK1"
    JKN = "JKn"
    BRR = "BRR"
    FAY = "Fay"
    BOOTSTRAP = "bootstrap"
    JK2 = "JK2"
    SDR = "successive-difference"
    ACS = "ACS"
    OTHER = "other"


_MAX_VALUES = 1 << 27  # replicate weights are dense (n, R): cap them at 1 GiB

_BUILT = (ReplicateKind.JK1, ReplicateKind.JKN, ReplicateKind.BRR, ReplicateKind.FAY,
          ReplicateKind.BOOTSTRAP)


def replicate_kind(value: ReplicateKind | str) -> ReplicateKind:
    """Parse a replicate type, case-insensitively (``jk1``, ``JKn``, ``brr``, ``bootstrap``...)."""
    if isinstance(value, ReplicateKind):
        return value
    for kind in ReplicateKind:
        if str(value).lower() == kind.value.lower():
            return kind
    choices = ", ".join(k.value for k in ReplicateKind)
    raise DesignError(f"Unknown replicate type '{value}'; use one of {choices}")


# ---------------------------------------------------------------------- building from a design
def replicate_design(design: SurveyDesign, kind: ReplicateKind | str = "auto", *,
                     replicates: int | None = None, seed: int | None = None,
                     fay_rho: float = 0.0, mse: bool | None = None) -> SurveyDesign:
    """A copy of ``design`` carrying replicate weights built from it (R ``as.svrepdesign``).

    Parameters
    ----------
    design : a Taylor design (strata, clusters, fpc); only its first stage is used.
    kind : ``JK1`` (unstratified), ``JKn`` (stratified), ``BRR`` (two PSUs per stratum),
        ``bootstrap`` (Rao-Wu), or ``auto`` (R's default: JK1 without strata, else JKn).
    replicates : bootstrap replicates (default 50, as R).
    seed : seed of the bootstrap's ``numpy.random.Generator``; ``None`` draws fresh entropy.
    fay_rho : Fay's factor for BRR (``0`` = plain BRR; R then calls the type ``Fay``).
    mse : centre the variance at the full-sample estimate (default ``False``, as R).

    Returns
    -------
    SurveyDesign with ``replicates`` set; its estimators then use replicate variances.

    Examples
    --------
    >>> jk = replicate_design(design, "JKn")                       # doctest: +SKIP
    >>> boot = replicate_design(design, "bootstrap", replicates=500, seed=1)  # doctest: +SKIP
    """
    if str(kind).lower() == "auto":
        kind = ReplicateKind.JKN if design.has_strata else ReplicateKind.JK1
    kind = replicate_kind(kind)
    if kind not in _BUILT:
        raise DesignError(f"Replicate type '{kind.value}' cannot be built from a design; "
                          "supply the weights with from_columns")
    if replicates is not None and kind is not ReplicateKind.BOOTSTRAP:
        raise DesignError("The number of replicates is set only for the bootstrap")
    if seed is not None and kind is not ReplicateKind.BOOTSTRAP:
        raise DesignError("A seed applies only to the bootstrap")
    if fay_rho and kind not in (ReplicateKind.BRR, ReplicateKind.FAY):
        raise DesignError("Fay's rho applies only to BRR")
    if not 0 <= fay_rho < 1:
        raise DesignError(f"Fay's rho must be in [0, 1), not {fay_rho}")
    psu = _StageOne.of(design, kind)
    if kind is ReplicateKind.JK1:
        factors, scale, rscales = _jk1(design, psu)
    elif kind is ReplicateKind.JKN:
        factors, scale, rscales = _jkn(design, psu)
    elif kind in (ReplicateKind.BRR, ReplicateKind.FAY):
        factors, scale, rscales = _brr(design, psu, fay_rho)
        kind = ReplicateKind.FAY if fay_rho else ReplicateKind.BRR
    else:
        factors, scale, rscales = _bootstrap(design, psu, 50 if replicates is None else replicates,
                                             seed)
    if design.n * factors.shape[1] > _MAX_VALUES:
        raise DesignError(
            f"{kind.value} gives {factors.shape[1]} replicates; their weights for "
            f"{design.n} rows would take {design.n * factors.shape[1] * 8 / 2**30:.1f} GB. Use "
            "the bootstrap with fewer replicates, or Taylor linearization")
    weights = design.weights[:, None] * factors[psu.index]
    reps = Replicates(weights=weights, scale=float(scale), rscales=np.asarray(rscales, float),
                      mse=bool(mse), kind=kind.value, df=replicate_degf(weights))
    return dataclasses.replace(design, replicates=reps)


@dataclass(frozen=True)
class _StageOne:
    """First-stage PSUs in order of first appearance (R's ``unique(psu)``) and their strata."""

    index: np.ndarray  # (n,) row -> PSU position
    stratum: np.ndarray  # (n_psu,) stratum code of each PSU
    first_row: np.ndarray  # (n_psu,) first row of each PSU
    n_psu: int

    @classmethod
    def of(cls, design: SurveyDesign, kind: ReplicateKind) -> _StageOne:
        if kind is ReplicateKind.JK1 and design.has_strata:
            raise DesignError("Can't use JK1 for a stratified design; use JKn")
        if kind in (ReplicateKind.JKN, ReplicateKind.BRR, ReplicateKind.FAY) \
                and not design.has_strata:
            raise DesignError(f"{kind.value} needs strata; use JK1 or bootstrap for an "
                              "unstratified design")
        stage = design.stages[0]
        codes, first = np.unique(stage.row_cluster, return_index=True)
        order = np.argsort(first, kind="stable")
        position = np.empty(stage.n_clusters, dtype=np.int64)
        position[codes[order]] = np.arange(len(order))
        return cls(index=position[stage.row_cluster],
                   stratum=stage.cluster_stratum[codes[order]],
                   first_row=first[order], n_psu=len(order))


def _first_stage_fpc(design: SurveyDesign, kind: ReplicateKind) -> np.ndarray | None:
    """Population size per stage-1 stratum, or None; warns as R when later stages are dropped."""
    if not design.has_fpc:
        return None
    if kind in (ReplicateKind.BRR, ReplicateKind.FAY):
        warnings.warn("Finite population correction dropped in conversion to BRR (as R)",
                      UserWarning, stacklevel=4)
        return None
    if len(design.stages) > 1:
        warnings.warn("Finite population corrections after the first stage have been dropped "
                      "(as R's as.svrepdesign)", UserWarning, stacklevel=4)
    return design.stages[0].popsize


def _jk1(design: SurveyDesign, psu: _StageOne) -> tuple[np.ndarray, float, np.ndarray]:
    """R ``jk1weights``: column j deletes PSU j (first-appearance order)."""
    n = psu.n_psu
    pop = _first_stage_fpc(design, ReplicateKind.JK1)
    f = 1.0 if pop is None else float((pop[0] - n) / pop[0])
    if f == 0:  # census: R drops every replicate (survey.drop.replicates)
        return np.zeros((n, 0)), 0.0, np.zeros(0)
    factors = np.full((n, n), n / (n - 1))
    np.fill_diagonal(factors, 0.0)
    return factors, f * (n - 1) / n, np.ones(n)


def _jkn(design: SurveyDesign, psu: _StageOne) -> tuple[np.ndarray, float, np.ndarray]:
    """R ``jknweights``: one replicate per PSU of each sampled stratum, lonely-PSU rules."""
    pop = _first_stage_fpc(design, ReplicateKind.JKN)
    stage = design.stages[0]
    rule = design.lonely_psu
    # strata in order of first appearance
    strata_order = list(dict.fromkeys(psu.stratum.tolist()))
    nstrat = len(strata_order)
    columns: list[np.ndarray] = []
    rscales: list[float] = []
    for h in strata_order:
        members = np.flatnonzero(psu.stratum == h)
        n_h = len(members)
        f = 1.0 if pop is None else float((pop[h] - n_h) / pop[h])
        if f == 0:
            continue  # fully sampled stratum: no replicate (survey.drop.replicates)
        if n_h == 1:
            if rule is LonelyPSU.FAIL:
                raise LonelyPSUError(stage.stratum_labels[h], stage=1,
                                     column=design.spec.strata[0] if design.spec.strata else None)
            if rule is LonelyPSU.ADJUST:
                col = np.full(psu.n_psu, nstrat / (nstrat - 1))
                col[members] = 0.0
                columns.append(col)
                rscales.append((nstrat - 1) / nstrat)
            continue  # remove, certainty, average: the stratum gets no replicate
        for j in members:
            col = np.ones(psu.n_psu)
            col[members] = n_h / (n_h - 1)
            col[j] = 0.0
            columns.append(col)
            rscales.append(f * (n_h - 1) / n_h)
    if not columns:
        raise DesignError("All strata were exhaustively sampled: you have the whole population")
    scale = 1.0
    if len(columns) < psu.n_psu and rule is LonelyPSU.AVERAGE:
        scale = psu.n_psu / len(columns)
    return np.column_stack(columns), scale, np.asarray(rscales)


def _r_character(values: pd.Series) -> np.ndarray:
    """Values as R's ``as.character`` writes them (integral numbers without a decimal point)."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        v = values.to_numpy(dtype=float)
        return np.array([str(int(x)) if float(x).is_integer() else format(x, ".15g") for x in v],
                        dtype=object)
    return values.astype(str).to_numpy(dtype=object)


def _brr(design: SurveyDesign, psu: _StageOne, rho: float
         ) -> tuple[np.ndarray, float, np.ndarray]:
    """R ``brrweights`` for strata of exactly two PSUs, with R's Hadamard matrix."""
    sizes = np.bincount(psu.stratum, minlength=design.stages[0].n_strata)
    sizes = sizes[np.unique(psu.stratum)]
    if (sizes != 2).any():
        raise DesignError(
            "BRR needs exactly two PSUs in every stratum; found strata with "
            f"{', '.join(str(int(s)) for s in sorted(set(sizes.tolist()) - {2}))} PSUs "
            "(use JKn or bootstrap)")
    _first_stage_fpc(design, ReplicateKind.BRR)
    labels = _r_character(design.data[design.spec.strata[0]])[psu.first_row]
    # R: order(sunq, match) -- stratum label (as character), then first appearance
    order = sorted(range(psu.n_psu), key=lambda j: (labels[j], psu.first_row[j]))
    strata_sorted = sorted(set(labels.tolist()))
    g_of = {s: g for g, s in enumerate(strata_sorted, start=1)}
    first_in_pair = np.zeros(psu.n_psu, dtype=bool)
    first_in_pair[order[0::2]] = True
    g = np.array([g_of[s] for s in labels])
    h = hadamard(len(strata_sorted))
    signs = h[g, :]  # row g of H (row 0, all ones, is never used), one column per replicate
    half = np.where(first_in_pair[:, None], signs == 1, signs == 0)
    factors = np.where(half, 2.0 - rho, rho)
    n_rep = h.shape[1]
    return factors, 1.0 / (n_rep * (1.0 - rho) ** 2), np.ones(n_rep)


def _bootstrap(design: SurveyDesign, psu: _StageOne, replicates: int, seed: int | None
               ) -> tuple[np.ndarray, float, np.ndarray]:
    """Rao-Wu rescaling bootstrap, ``m_h = n_h - 1`` (Rao, Wu & Yue 1992)."""
    if replicates < 2:
        raise DesignError("The bootstrap needs at least 2 replicates")
    pop = _first_stage_fpc(design, ReplicateKind.BOOTSTRAP)
    stage = design.stages[0]
    rng = np.random.default_rng(seed)
    factors = np.ones((psu.n_psu, replicates))
    for h in list(dict.fromkeys(psu.stratum.tolist())):
        members = np.flatnonzero(psu.stratum == h)
        n_h = len(members)
        if n_h == 1:
            if design.lonely_psu is LonelyPSU.FAIL and not (pop is not None and pop[h] == 1):
                raise LonelyPSUError(stage.stratum_labels[h], stage=1,
                                     column=design.spec.strata[0] if design.spec.strata else None)
            continue  # one PSU: every replicate keeps it (no variance), as R's bootweights
        f = 0.0 if pop is None else float(n_h / pop[h])
        lam = math.sqrt(max(1.0 - f, 0.0))
        m_h = n_h - 1
        counts = rng.multinomial(m_h, np.full(n_h, 1.0 / n_h), size=replicates).T  # (n_h, R)
        factors[members] = 1.0 - lam + lam * (n_h / m_h) * counts
    return factors, 1.0 / (replicates - 1), np.ones(replicates)


# ---------------------------------------------------------------------- Hadamard matrices
_PRECOOKED_ROWS = (
    ("1111", "1010", "1100", "1001"),
    ("1111111111111111", "1010101010101010", "1100110011001100", "1001100110011001",
     "1111000011110000", "1010010110100101", "1100001111000011", "1001011010010110",
     "1111111100000000", "1010101001010101", "1100110000110011", "1001100101100110",
     "1111000000001111", "1010010101011010", "1100001100111100", "1001011001101001"),
    ("1111111111111111111111111111", "1001110001110001110001111000",
     "1000001111001101001101111000", "1000001110110010111001100110",
     "1001101000001111100011010110", "1001010100101100010110101110",
     "1000110011010010001110011110", "0101100010101010011111110000",
     "0100010110110101100111010100", "0100011011001011110010101100",
     "0101011000010111011101001010", "0100101101100100111010011010",
     "0101100101011001101100100110", "0010110100011110101011101000",
     "0011011001100110101100110100", "0010101100111011010100011100",
     "0011000111010111010010110010", "0011001011111000100111001010",
     "0010110011101101011001000110", "1110101001010100010111100100",
     "1111000101100011001011001100", "1111000010011100111000011100",
     "1110010101001010110101010010", "1110011000111001001010110010",
     "1110100010100111100100101010", "1101111111111110000000000000",
     "1011111110000001111110000000", "0111111110000000000001111110"),
    ("111111111111111111111111111111111111", "010111000111110111001000010101100100",
     "101110001111101110010000101011001000", "011100011111011100100001010110010010",
     "111000111110111001000010101100100100", "110001111101110010000101011001001010",
     "100011111011100100001010110010010110", "000111110111001000010101100100101110",
     "001111101110010000101011001001011100", "011111011100100001010110010010111000",
     "111110111001000010101100100101110000", "111101110010000101011001001011100010",
     "111011100100001010110010010111000110", "110111001000010101100100101110001110",
     "101110010000101011001001011100011110", "011100100001010110010010111000111110",
     "111001000010101100100101110001111100", "110010000101011001001011100011111010",
     "100100001010110010010111000111110110", "001000010101100100101110001111101110",
     "010000101011001001011100011111011100", "100001010110010010111000111110111000",
     "000010101100100101110001111101110010", "000101011001001011100011111011100100",
     "001010110010010111000111110111001000", "010101100100101110001111101110010000",
     "101011001001011100011111011100100000", "010110010010111000111110111001000010",
     "101100100101110001111101110010000100", "011001001011100011111011100100001010",
     "110010010111000111110111001000010100", "100100101110001111101110010000101010",
     "001001011100011111011100100001010110", "010010111000111110111001000010101100",
     "100101110001111101110010000101011000", "001011100011111011100100001010110010"),
)
_SIZES = (4, 16, 28, 36)  # R survey:::hadamard.sizes


def _precooked(i: int) -> np.ndarray:
    return np.array([[int(c) for c in row] for row in _PRECOOKED_ROWS[i]], dtype=np.int8)


def _doubler(h: np.ndarray) -> np.ndarray:
    """R ``hadamard.doubler``: ``rbind(cbind(H, H), cbind(H, 1 - H))``."""
    return np.block([[h, h], [h, 1 - h]]).astype(np.int8)


def _small_primes() -> tuple[int, ...]:
    """R ``paley``'s ``small.primes``: the primes p = 3 (mod 4) up to 7919."""
    limit = 7920
    sieve = np.ones(limit, dtype=bool)
    sieve[:2] = False
    for i in range(2, int(limit**0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = False
    return tuple(int(p) for p in np.flatnonzero(sieve) if p % 4 == 3)


_SMALL_PRIMES = _small_primes()


def paley(n: int | None = None, nmax: int | None = None, prime: int | None = None
          ) -> np.ndarray | None:
    """R ``survey::paley``: a (p+1)-order 0/1 Hadamard matrix from a prime p = 3 (mod 4)."""
    if prime is not None and n is None:
        n = prime
    assert n is not None
    if nmax is None:
        nmax = 2 * n
    if prime is None:
        nceil = nn = n + 4 - (n % 4)
        if (n % 4) + 4 == (n % 8):
            while not nn % 8:
                nn //= 2
            if (nn - 1) in _SMALL_PRIMES:
                m = paley(prime=nn - 1)
                assert m is not None
                while nn < nceil:
                    m = _doubler(m)
                    nn *= 2
                return m
        if n > _SMALL_PRIMES[-1]:
            return None
        p = min(q for q in _SMALL_PRIMES if q >= n)
        if (p + 1 > nceil + 4) and (nceil + 4 < nmax):
            return paley(nceil + 3)
        if p > nmax:
            return None
    else:
        p = prime
        if (p + 1) % 4 != 0 or p < n:
            return None
    m = np.add.outer(np.arange(p), np.arange(p)) % p
    res = {0, 1}
    half = (p - 1) // 2
    # R: for (i in 2:floor((p-1)/2)) -- with p = 3 this runs i = 2, 1
    for i in (range(2, half + 1) if half >= 2 else (2, 1)):
        res.add((i * i) % p)
    m = np.where(np.isin(m, list(res)), 0, 1)
    out = np.ones((p + 1, p + 1), dtype=np.int8)
    out[1:, 1:] = m
    return out


def hadamard(n: int) -> np.ndarray:
    """R ``survey::hadamard(n)``: the 0/1 Hadamard matrix R uses for ``n`` strata.

    Its order is at least ``n + 1``; R stores matrices of order 4, 16, 28 and 36 and otherwise
    doubles the best-fitting one (Sylvester) or uses Paley's construction when doubling
    overshoots by more than 4.
    """
    m = n - (n % 4)
    pre = [i for i, s in enumerate(_SIZES) if m < s <= m + 4]
    if pre:
        return _precooked(min(pre))
    if all(m < s for s in _SIZES):
        return _precooked(0)
    sizes = [s * 2 ** max(0, math.ceil(np.log2((n + 1) / s))) for s in _SIZES]
    best = int(np.argmin([s - n for s in sizes]))
    h = None
    if sizes[best] - n > 4:
        h = paley(n, sizes[best])
    if h is None:
        h = _precooked(best)
        for _ in range(math.ceil(np.log2(sizes[best] / _SIZES[best]))):
            h = _doubler(h)
    return h


# ---------------------------------------------------------------------- user-supplied weights
def from_columns(data: pd.DataFrame, weights: str | None, repweights: str | Sequence[str],
                 kind: ReplicateKind | str, *, scale: float | None = None,
                 rscales: float | Sequence[float] | np.ndarray | None = None,
                 mse: bool = False, combined_weights: bool = True,
                 fay_rho: float | None = None) -> SurveyDesign:
    """A replicate design from replicate-weight columns in the data (R ``svrepdesign``).

    Parameters
    ----------
    data : one row per respondent.
    weights : the full-sample sampling weight column (``None``: all 1, R warns).
    repweights : the replicate columns, as a list of names or a regular expression matched
        against the column names (R: ``repweights = "repw[0-9]+"``).
    kind : ``BRR``, ``Fay``, ``JK1``, ``JKn``, ``bootstrap``, ``JK2``,
        ``successive-difference``, ``ACS`` or ``other``.
    scale, rscales : the variance multipliers; defaults by kind as R: BRR ``1/R``; Fay
        ``1/(R (1-rho)^2)``; JK1 ``(R-1)/R`` (combined weights, R warns it guesses) or
        ``1/max(first column)``; JKn needs ``rscales`` with combined weights, otherwise
        ``1/max`` per column; bootstrap ``1/(R-1)``; JK2 1; successive-difference and ACS
        ``4/R``; other 1.
    mse : centre at the full-sample estimate instead of the replicate mean.
    combined_weights : the columns are full replicate weights (True) or factors multiplying
        the sampling weight (False).
    fay_rho : Fay's rho, required for ``Fay``.

    Notes
    -----
    Rows whose full-sample weight is zero must have zero replicate weights (the estimators
    re-derive each row's value from its influence on the full-sample estimate).
    """
    kind = replicate_kind(kind)
    if data.empty:
        raise DesignError("The data has no rows")
    data = data.reset_index(drop=True)
    cols = _repweight_columns(data, repweights)
    raw = data[cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(np.isnan(raw).any(axis=1))
    if len(bad):
        col = cols[int(np.flatnonzero(np.isnan(raw[bad[0]]))[0])]
        raise DesignError(f"Missing or non-numeric replicate weights (column '{col}') at rows "
                          f"{describe_rows(bad)}")
    if weights is None:
        warnings.warn("No sampling weights provided: equal probability assumed (as R)",
                      UserWarning, stacklevel=2)
    design = SurveyDesign.from_frame(data, weights=weights)
    w = design.weights
    n_rep = raw.shape[1]
    if n_rep < 2:
        raise DesignError("Give at least two replicate weight columns")
    scale, rscales_arr = _default_scales(kind, raw, combined_weights, scale, rscales, fay_rho)
    rep_w = raw if combined_weights else raw * w[:, None]
    orphan = np.flatnonzero((w == 0) & (rep_w != 0).any(axis=1))
    if len(orphan):
        raise DesignError("Rows with a zero sampling weight must have zero replicate weights; "
                          f"rows {describe_rows(orphan)} do not")
    reps = Replicates(weights=rep_w, scale=float(scale), rscales=rscales_arr, mse=bool(mse),
                      kind=kind.value, df=replicate_degf(rep_w))
    return dataclasses.replace(design, replicates=reps)


def _repweight_columns(data: pd.DataFrame, repweights: str | Sequence[str]) -> list[str]:
    if isinstance(repweights, str):
        pattern = re.compile(repweights)
        cols = [c for c in data.columns if pattern.search(str(c))]
        if not cols:
            raise DesignError(f"No column matches the replicate-weight pattern '{repweights}'")
        return cols
    cols = list(repweights)
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DesignError(f"Replicate weight column(s) not in the data: {', '.join(missing)}")
    return cols


def _default_scales(kind: ReplicateKind, raw: np.ndarray, combined: bool, scale: float | None,
                    rscales: float | Sequence[float] | np.ndarray | None,
                    rho: float | None) -> tuple[float, np.ndarray]:
    """R ``svrepdesign.default``'s choice of ``scale`` and ``rscales`` for each type."""
    n_rep = raw.shape[1]
    rs = None
    if rscales is not None:
        rs = np.broadcast_to(np.asarray(rscales, dtype=float).ravel(), (n_rep,)).copy() \
            if np.size(rscales) in (1, n_rep) else None
        if rs is None:
            raise DesignError(f"rscales has length {np.size(rscales)}, should be {n_rep}")
    if kind is ReplicateKind.FAY and rho is None:
        raise DesignError("With type 'Fay' give the correct fay_rho")
    if rho is not None and kind is not ReplicateKind.FAY:
        raise DesignError(f"fay_rho applies to type 'Fay', not '{kind.value}'")
    if kind is ReplicateKind.BRR:
        if scale is not None:
            warnings.warn("type 'BRR' does not use 'scale' (as R): using 1/R", UserWarning,
                          stacklevel=3)
        scale = 1 / n_rep
    elif kind is ReplicateKind.FAY:
        assert rho is not None
        scale = 1 / (n_rep * (1 - rho) ** 2)
    elif kind is ReplicateKind.BOOTSTRAP:
        scale = 1 / (n_rep - 1) if scale is None else scale
    elif kind is ReplicateKind.JK1 and scale is None:
        if combined:
            scale = (n_rep - 1) / n_rep
            warnings.warn("JK1 scale (n-1)/n not provided: guessing n = number of replicates "
                          "(as R)", UserWarning, stacklevel=3)
        else:
            scale = 1 / raw[:, 0].max()
            warnings.warn("JK1 scale not provided: guessing from the weights (as R)",
                          UserWarning, stacklevel=3)
    elif kind is ReplicateKind.JKN and rs is None:
        if combined:
            raise DesignError("Give rscales for combined JKn weights")
        rs = 1 / raw.max(axis=0)
        warnings.warn("JKn rscales (n-1)/n not provided: guessing from the weights (as R)",
                      UserWarning, stacklevel=3)
    elif kind in (ReplicateKind.SDR, ReplicateKind.ACS):
        scale, rs = 4 / n_rep, np.ones(n_rep)
    elif kind is ReplicateKind.JK2:
        scale, rs = 1.0, np.ones(n_rep)
    if kind is ReplicateKind.OTHER and (scale is None or rs is None):
        warnings.warn("scale or rscales not specified, set to 1 (as R)", UserWarning,
                      stacklevel=3)
    if rs is None:
        rs = np.ones(n_rep)
    return (1.0 if scale is None else float(scale)), rs


# ---------------------------------------------------------------------- degrees of freedom
def qr_rank(x: np.ndarray, tol: float = 1e-5) -> int:
    """The rank R's ``qr(x, tol)`` reports: LINPACK ``dqrdc2`` with limited column pivoting.

    Householder QR, column by column; a column whose remaining norm has fallen below ``tol``
    times its original norm is moved to the end and not counted (R's ``src/appl/dqrdc2.f``,
    transcribed). The decisions depend on ``x`` only through ``x'x``, so ``x`` is first
    reduced to the triangular factor of an (unpivoted) LAPACK QR -- exact in exact
    arithmetic, and O(n p^2) in compiled code instead of a Python loop over n rows.
    """
    x = np.asarray(x, dtype=float)
    if x.shape[0] > x.shape[1]:
        x = np.linalg.qr(x, mode="r")
    x = np.array(x, dtype=float)
    n, p = x.shape
    if n == 0 or p == 0:
        return 0
    qraux = np.sqrt((x * x).sum(axis=0))
    work2 = np.where(qraux == 0, 1.0, qraux)
    if n == 1:  # only the cycling of step 1 matters: zero columns are negligible
        return int((qraux >= work2 * tol).any())
    k = p + 1  # 1-based, as in the Fortran
    for step in range(1, min(n, p) + 1):  # the Fortran's l
        c = step - 1
        while not (step >= k or qraux[c] >= work2[c] * tol):
            x[:, c:] = np.concatenate((x[:, c + 1:], x[:, c:c + 1]), axis=1)
            qraux[c:] = np.concatenate((qraux[c + 1:], qraux[c:c + 1]))
            work2[c:] = np.concatenate((work2[c + 1:], work2[c:c + 1]))
            k -= 1
        if step == n:
            break  # the last row: nothing after this can change k
        col = x[c:, c]
        nrmxl = float(np.sqrt(col @ col))
        if nrmxl == 0:
            continue
        if col[0] != 0:
            nrmxl = math.copysign(nrmxl, col[0])
        col /= nrmxl
        col[0] += 1.0
        if p > step:
            rest = x[c:, step:]
            t = -(col @ rest) / col[0]
            rest += np.outer(col, t)
            nz = qraux[step:] != 0
            ratio = np.divide(np.abs(x[c, step:]), qraux[step:], out=np.zeros(p - step),
                              where=nz)
            tt = np.maximum(1.0 - ratio**2, 0.0)
            recompute = nz & (np.abs(tt) < 1e-6)
            qraux[step:] = np.where(nz & ~recompute, qraux[step:] * np.sqrt(tt), qraux[step:])
            if recompute.any():
                below = x[step:, step:][:, recompute]
                qraux[step:][recompute] = np.sqrt((below * below).sum(axis=0))
        qraux[c] = col[0]
        x[c, c] = -nrmxl
    return min(k - 1, n)


def _gram_rows(weights: np.ndarray, groups: np.ndarray | None = None,
               n_groups: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Collapse proportional rows without changing ``x'x`` (on which :func:`qr_rank` depends).

    Rows of one PSU are proportional (weight x the PSU's factors): ``x_i = c_i r`` with ``r``
    the row scaled to max 1. Their contribution ``sum c_i^2 r r'`` is that of the single row
    ``sqrt(sum c_i^2) r``, so a domain's rank is computed on at most one row per distinct
    ``r`` (rows equal to 12 significant digits are treated as proportional; zero rows drop).

    Returns the collapsed rows, the group of each, and the start of every group's block.
    """
    w = np.asarray(weights, dtype=float)
    n = len(w)
    if groups is None:
        groups = np.zeros(n, dtype=np.int64)
    top = np.abs(w).max(axis=1) if w.shape[1] else np.zeros(n)
    keep = (top > 0) & (groups >= 0)
    scaled = w[keep] / top[keep, None]
    # identify equal rounded rows by two fixed random projections (equal rows project equally;
    # distinct ones coincide with probability zero) -- far faster than unique(axis=0)
    proj = np.random.default_rng(20240611).standard_normal((w.shape[1], 2))
    fingerprint = np.round(scaled, 12) @ proj
    _, first, key = np.unique(fingerprint, axis=0, return_index=True, return_inverse=True)
    key = key.ravel()
    pair, inv = np.unique(groups[keep] * len(first) + key, return_inverse=True)
    mass = np.bincount(inv.ravel(), weights=top[keep] ** 2, minlength=len(pair))
    rows = np.sqrt(mass)[:, None] * scaled[first[pair % len(first)]]
    group = pair // len(first)
    starts = np.searchsorted(group, np.arange(n_groups + 1))
    return rows, group, starts


def replicate_degf(weights: np.ndarray) -> int:
    """R ``degf.svyrep.design``: ``qr(weights, tol = 1e-5)$rank - 1``."""
    rows, _, _ = _gram_rows(weights)
    return qr_rank(rows) - 1


def replicate_domain_degf(weights: np.ndarray, domain: np.ndarray, n_domains: int,
                          tol: float = 1e-5) -> np.ndarray:
    """``degf`` of every domain's subset of rows (what ``svyby`` reports), codes 0..D-1.

    Domains whose (collapsed) rows are clearly of full row rank skip the column-by-column
    LINPACK loop: if ``m <= p`` rows have smallest singular value above ``8 sqrt(p) tol``
    times the largest column norm, every step of ``dqrdc2`` finds a column above ``tol``
    (the unmoved columns keep a residual of norm >= ``(s_min - sqrt(p) tol max|x_j|) /
    sqrt(p)``), so its rank is ``m``. The singular values come from one batched SVD per
    row count; every other domain runs :func:`qr_rank`.
    """
    rows, _, starts = _gram_rows(weights, np.asarray(domain, dtype=np.int64), n_domains)
    counts = np.diff(starts)
    p = rows.shape[1]
    out = np.empty(n_domains, dtype=np.int64)
    for m in np.unique(counts):
        ds = np.flatnonzero(counts == m)
        if m == 0:
            out[ds] = -1
            continue
        sure = np.zeros(len(ds), dtype=bool)
        if 1 < m <= p:
            stack = rows[starts[ds][:, None] + np.arange(m)[None, :]]  # (B, m, p)
            smin = np.linalg.svd(stack, compute_uv=False)[:, -1]
            colmax = np.sqrt((stack * stack).sum(axis=1)).max(axis=1)
            sure = smin > 8 * math.sqrt(p) * tol * colmax
            out[ds[sure]] = m - 1
        for d in ds[~sure]:
            out[d] = qr_rank(rows[starts[d]:starts[d + 1]], tol) - 1
    return out


# ---------------------------------------------------------------------- the variance
def svrvar(thetas: np.ndarray, full: np.ndarray, replicates: Replicates) -> np.ndarray:
    """The replicate variance of R's ``svrVar``, per domain.

    Parameters
    ----------
    thetas : (R, D, k) or (R, k) replicate estimates.
    full : (D, k) or (k,) full-sample estimates (the centre when ``mse``).
    replicates : scale, rscales and mse of the design.

    Returns
    -------
    (D, k, k) or (k, k) covariance: ``scale * sum_r rscales[r] (theta_r - c)(theta_r - c)'``,
    ``c`` = full estimate (mse) or the mean of replicates with ``rscales > 0``. Replicates
    whose estimate is undefined in a domain (no rows left in the replicate) are discarded for
    that domain with a warning, as R's ``svrVar`` does with ``na.omit``.
    """
    thetas = np.asarray(thetas, dtype=float)
    full = np.asarray(full, dtype=float)
    squeeze = thetas.ndim == 2
    if squeeze:
        thetas, full = thetas[:, None, :], full[None, :]
    n_rep = thetas.shape[0]
    rscales = np.broadcast_to(np.asarray(replicates.rscales, dtype=float), (n_rep,))
    valid = np.isfinite(thetas).all(axis=2)  # (R, D)
    n_bad = int((~valid).sum())
    if n_bad:
        warnings.warn(f"{n_bad} replicate estimate(s) were undefined (a domain with no rows "
                      "in the replicate) and were discarded, as R's svrVar does",
                      UserWarning, stacklevel=2)
    t = np.where(valid[..., None], thetas, 0.0)
    if replicates.mse:
        centre = full
    else:
        use = valid & (rscales > 0)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            centre = (t * use[..., None]).sum(axis=0) / use.sum(axis=0)[:, None]
    dev = np.where(valid[..., None], t - centre[None], 0.0) * np.sqrt(rscales)[:, None, None]
    out = np.einsum("rdi,rdj->dij", dev, dev) * replicates.scale
    all_bad = ~valid.any(axis=0)
    out[all_bad] = np.nan
    return out[0] if squeeze else out


def domain_totals(weights: np.ndarray, values: np.ndarray, codes: np.ndarray | None = None,
                  n_domains: int = 1) -> np.ndarray:
    """Weighted totals by domain for every weight column: one sparse-matrix product.

    Parameters
    ----------
    weights : (n,) or (n, m) weight columns (e.g. full-sample and replicate weights).
    values : (n,) or (n, k) values; NaN is not allowed (zero them outside the domain).
    codes : (n,) domain code 0..D-1 per row, -1 outside every domain; ``None`` = one domain.

    Returns
    -------
    (m, D, k) array ``sum_{i in d} weights[i, c] * values[i, j]``.
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim == 1:
        w = w[:, None]
    v = np.asarray(values, dtype=float)
    if v.ndim == 1:
        v = v[:, None]
    n, k = v.shape
    if codes is None:
        codes = np.zeros(n, dtype=np.int64)
    rows_in = np.flatnonzero(codes >= 0)
    r_idx = (codes[rows_in][:, None] * k + np.arange(k)[None, :]).ravel()
    c_idx = np.repeat(rows_in, k)
    a = sparse.csr_matrix((v[rows_in].ravel(), (r_idx, c_idx)), shape=(n_domains * k, n))
    out = np.asarray(a @ w)  # (D*k, m)
    return out.reshape(n_domains, k, -1).transpose(2, 0, 1)


def replicate_totals(design: SurveyDesign, values: np.ndarray, codes: np.ndarray | None = None,
                     n_domains: int = 1) -> np.ndarray:
    """(R+1, D, k) totals of ``values`` by domain: row 0 full-sample, rows 1.. each replicate."""
    reps = _require(design)
    return domain_totals(np.column_stack([design.weights, reps.weights]), values, codes,
                         n_domains)


def replicate_variance(design: SurveyDesign, statistic: Callable[[np.ndarray], np.ndarray]
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Full-sample estimate and replicate covariance of any statistic of the weights.

    ``statistic(W)`` receives an (n, m) matrix of weight columns and returns (m, D, k) (or
    (m, k)) estimates, one per column; it is called once with the full-sample weights
    followed by every replicate (m = R + 1). Returns ``(estimate (D, k), vcov (D, k, k))``.
    """
    reps = _require(design)
    est = np.asarray(statistic(np.column_stack([design.weights, reps.weights])), dtype=float)
    if est.shape[0] != reps.count + 1:
        raise EstimationError(f"statistic returned {est.shape[0]} estimates for "
                              f"{reps.count + 1} weight columns")
    return est[0], svrvar(est[1:], est[0], reps)


def _require(design: SurveyDesign) -> Replicates:
    if design.replicates is None:
        raise DesignError("The design has no replicate weights; build them with "
                          "replicate_design or from_columns")
    return design.replicates


# ---------------------------------------------------------------------- estimators
@dataclass(frozen=True, eq=False)
class ReplicateSummary:
    """Replicate covariance, design effects and (proportions) the logit coefficient variance."""

    vcov: np.ndarray  # (D, k, k)
    deff: np.ndarray  # (D, k)
    logit_var: np.ndarray | None  # (D, k)
    replicates: np.ndarray  # (R, D, k) replicate estimates


def replicate_vcov(design: SurveyDesign, lin: Linearized) -> np.ndarray:
    """(D, k, k) replicate covariance of the estimates in ``lin`` (every domain)."""
    return replicate_summary(design, lin).vcov


def replicate_summary(design: SurveyDesign, lin: Linearized,
                      logistic: LogisticFit | None = None) -> ReplicateSummary:
    """Re-estimate ``lin``'s statistics under every replicate weight and combine (``svrVar``).

    Each row's value is recovered from its influence value ``z`` on the full-sample
    estimate: for totals ``z = w y``; means and proportions ``z = w (y - m) / sum w``; ratios
    ``z = w (y - r x) / sum w x``. So, with ``u = z / w``, the replicate estimates are

    * total  ``sum_d w_r u``
    * mean   ``m + sum_d w * (sum_d w_r u) / sum_d w_r``
    * ratio  ``r + sum_d w x * (sum_d w_r u) / sum_d w_r x``

    -- exactly R's ``sum w_r y / sum w_r`` etc., from one sparse product.
    """
    reps = _require(design)
    codes = lin.domains.codes
    n_dom = lin.domains.count
    k = lin.estimate.shape[1]
    w = design.weights
    inside = codes >= 0
    orphan = inside & (w == 0) & (reps.weights != 0).any(axis=1)
    if orphan.any():
        raise EstimationError("Rows with a zero sampling weight but non-zero replicate weights "
                              f"(rows {describe_rows(np.flatnonzero(orphan))}) cannot be "
                              "re-estimated")
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where((inside & (w != 0))[:, None], lin.influence / w[:, None], 0.0)
    blocks = [u, inside.astype(float)[:, None]]
    if lin.statistic == "ratio":
        blocks.append(np.where(inside, _ratio_denominator(design, lin), 0.0)[:, None])
    values = np.column_stack(blocks)
    sums = domain_totals(np.column_stack([w, reps.weights]), values, codes, n_dom)
    full, rep = sums[0], sums[1:]  # (D, k+..), (R, D, k+..)
    t_full, t_rep = full[:, :k], rep[:, :, :k]
    with np.errstate(divide="ignore", invalid="ignore"):
        if lin.statistic == "total":
            thetas = t_rep
        elif lin.statistic in ("mean", "prop"):
            thetas = lin.estimate[None] + full[None, :, k:k + 1] * t_rep / rep[:, :, k:k + 1]
        elif lin.statistic == "ratio":
            thetas = lin.estimate[None] + full[None, :, k + 1:k + 2] * t_rep \
                / rep[:, :, k + 1:k + 2]
        else:
            raise EstimationError(f"No replicate estimator for '{lin.statistic}'")
    cov = svrvar(thetas, lin.estimate, reps)
    var = np.diagonal(cov, axis1=1, axis2=2)
    if lin.statistic == "ratio":  # R: deff of svytotal(y - r x) (svyratio's deff code)
        var = np.diagonal(svrvar(t_rep, t_full, reps), axis1=1, axis2=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        deff = var / (lin.srs_variance * _srs_rows_factor(design, codes, n_dom)[:, None])
    logit_var = None
    if logistic is not None:
        from analysis.likelihood_ci import refit_logistic

        betas = refit_logistic(thetas, logistic.coef[None])
        logit_var = np.diagonal(svrvar(betas, logistic.coef, reps), axis1=1, axis2=2)
    return ReplicateSummary(vcov=cov, deff=deff, logit_var=logit_var, replicates=thetas)


def _srs_rows_factor(design: SurveyDesign, codes: np.ndarray, n_dom: int) -> np.ndarray:
    """Convert the SRS variance on the n non-zero weights to R's replicate version on all rows.

    ``svymean.svyrep.design`` takes ``n`` as every row of the domain (zero weights included)
    in both ``n/(n-1)`` and ``(N-n)/(N n)``; the Taylor reference uses non-zero weights only.
    """
    inside = codes >= 0
    d = codes[inside]
    w = design.weights[inside]
    n_rows = np.bincount(d, minlength=n_dom).astype(float)
    n_pos = np.bincount(d, weights=(w != 0).astype(float), minlength=n_dom)
    big_n = np.bincount(d, weights=w, minlength=n_dom)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = ((big_n - n_rows) / (n_rows - 1)) / ((big_n - n_pos) / (n_pos - 1))
    return np.where(n_rows == n_pos, 1.0, factor)


def _ratio_denominator(design: SurveyDesign, lin: Linearized) -> np.ndarray:
    """The denominator column of a ratio (missing values as 0, out of every domain)."""
    if lin.denominator is None:
        raise EstimationError(f"Cannot tell the denominator of the ratio(s) {lin.variables}")
    return lin.denominator
