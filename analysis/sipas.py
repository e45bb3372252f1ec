"""SIPAS indices with design-based standard errors, intervals and reliability flags.

Definitions (the platform's convention, *not* a MoHA specification -- see the SIPAS reference
§7.2-7.3; every report should say so). For respondent r with sampling weight w_r and item i,
``s_ri = 1`` when the answer is 4 or 5, ``a_ri = 1`` when the item was answered (1-5; ``na``,
``NA`` and empty are out of the denominator):

* criterion index ``p_i = sum w s_i / sum w a_i`` (a ratio estimator, R ``svyratio``);
* content index ``I_c`` = the mean of its criterion indices (equal item weights);
* overall SIPAS = the mean of the content indices.

Each index is a smooth function of domain totals, so its linearized variance is that of the
total of its influence values (Binder 1983; Lumley 2010 appendix; Woodruff 1971): for a
criterion ``z_ri = w_r (s_ri - p_i a_ri) / A_i`` (``A_i = sum w a_i``), and for a mean of
ratios the same mean of the ratios' influences. This equals R's ``svycontrast`` of the
composite expression over ``svytotal`` of the numerators and denominators (the R fixtures
check it to 1e-9).

Work is O(rows) once: items are grouped by content in blocks of at most five, and each row's
answer pattern in a block (3^5 = 243 patterns at most) is one integer; per (finest domain x
deepest-stage cluster) cell, a ``bincount`` of patterns gives the weighted sums of ``s_i``
and ``a_i`` of every item of the block; coarser domain levels add cells up; composite
influence *totals* per cell are linear combinations ``T = sum_i c_i (S_i - p_i A_i) / A_i``
and go to :func:`analysis.linearization.vcov_from_totals`. The national benchmark (1M
responses, 34 provinces, 3,300 communes, 25 indices at three levels with SE, CI and flags)
computes in 1-2 s on 2 cores (``benchmarks/README.md``).

Design effect and effective n. For an index with linearized variable
``u_r = sum_i c_i (s_ri - p_i a_ri) / A_i`` (so ``z = w u``), over the n respondents of the
domain who answered at least one of its items (estimated count ``N = sum w``):

* ``deff = var / v_srs`` with ``v_srs = (N - n) / (n - 1) * sum w u^2``: the variance of the
  total of ``u`` under simple random sampling without replacement of n from N, as R's
  ``svytotal(deff=TRUE)``; for a criterion this is exactly R's ``svyratio(deff=TRUE)``;
* ``n_eff = min(n, N sum w u^2 / var)``: n over the with-replacement design effect floored
  at 1 (NCHS 2017); for a criterion ``min(n, p(1-p)/var)``, the standard's formula.

Intervals use the chosen proportion method (logit by default: ``logit(p) +/- t se /
(p(1-p))``, back-transformed -- for composites this is our definition) with t quantiles on
the *domain's* degrees of freedom (PSUs with domain members minus their strata, as R's
``svyby(..., svyciprop)``). Where the estimate is 0 or 1 or the variance is zero the
interval is Korn-Graubard on the nominal n (:mod:`analysis.intervals`), and the reliability
flag (:mod:`analysis.reliability`) says so.

A criterion with no answers in a domain gives a suppressed "no answers" row with no number;
a content or SIPAS index then averages the components that have answers and is flagged
``partial_composite``. A criterion with no answers anywhere is an error.

Examples
--------
>>> design = SurveyDesign.from_frame(df, psu="centre", strata="province", weights="w")
>>> res = sipas_indices(design, by=[None, "province", "commune"])
>>> res.to_frame(percent=True)  # one row per level x domain x index
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis import linearization
from analysis.arrays import unique
from analysis.design import SurveyDesign
from analysis.domains import Domains
from analysis.errors import EstimationError, describe_rows
from analysis.intervals import CIMethod, ci_method, proportion_interval
from analysis.reliability import Assessment, assess_proportions, cv, korn_graubard_interval

CONVENTION = (
    "Platform convention (not a MoHA specification): criterion index = weighted share of "
    "answers 4-5 among respondents who answered the item (N/A and empty excluded); content "
    "index = mean of its criterion indices; SIPAS = mean of the content indices."
)
OVERALL = "SIPAS"
_ITEM_CODE = re.compile(r"^([A-Za-z]+\d+)\.(\d+)$")
_NA_TOKENS = frozenset({"", "na"})
_ROW_CHUNK = 1 << 18
_BLOCK = 5  # items per answer-pattern block (3^5 = 243 patterns)
_PATTERN_CELLS = 1 << 23  # largest cells x patterns table of weighted counts
_ZERO_VAR = 1e-24  # (SE 1e-12): rounding noise of an exactly zero variance

BySpec = str | Sequence[str] | None


# ---------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class SipasLevel:
    """Indices for every domain of one level (arrays are (D, K): domains x statistics)."""

    name: str
    by: tuple[str, ...]
    domains: pd.DataFrame
    estimate: np.ndarray
    var: np.ndarray
    ci: np.ndarray  # (D, K, 2)
    df: np.ndarray  # (D,)
    n: np.ndarray
    n_eff: np.ndarray
    deff: np.ndarray
    numerator: np.ndarray  # (D, I) weighted count satisfied, per criterion
    denominator: np.ndarray  # (D, I) weighted count answered, per criterion
    assessment: Assessment  # the NCHS standard applied to every estimate

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.clip(self.var, 0, None))

    @property
    def flag(self) -> np.ndarray:
        """(D, K) ``ok`` / ``review`` / ``suppress``."""
        return self.assessment.flag

    @property
    def reason_code(self) -> np.ndarray:
        """(D, K) stable reason codes, ``;``-joined."""
        return self.assessment.reason_code

    @property
    def reason(self) -> np.ndarray:
        """(D, K) English reason sentences."""
        return self.assessment.reason


@dataclass(frozen=True, eq=False)
class SipasResult:
    """SIPAS indices (proportions 0-1) for one or several domain levels.

    ``statistics``/``variables`` name the K columns: the criteria (``criterion``), the
    contents (``content``) and the overall index (``sipas``). ``levels`` holds one
    :class:`SipasLevel` per ``by`` spec, in the order given.
    """

    items: tuple[str, ...]
    contents: tuple[str, ...]
    content_of: tuple[str, ...]
    statistics: tuple[str, ...]
    variables: tuple[str, ...]
    levels: tuple[SipasLevel, ...]
    level: float
    ci_method: str
    df_mode: str | float
    variance_method: str
    convention: str = field(default=CONVENTION)

    def __getitem__(self, name: str) -> SipasLevel:
        for lev in self.levels:
            if lev.name == name:
                return lev
        raise KeyError(name)

    def to_frame(self, percent: bool = False) -> pd.DataFrame:
        """Long table: one row per level x domain x index.

        Columns: ``level`` (when several levels), the ``by`` columns, ``statistic``
        (criterion/content/sipas), ``variable``, ``estimate``, ``se``, ``ci_low``,
        ``ci_high``, ``df``, ``deff``, ``n``, ``n_eff``, ``flag`` (ok/review/suppress),
        ``reason`` (English), ``reason_code`` (stable codes, ``;``-joined), ``cv``. With
        ``percent=True`` estimates, SEs and bounds are in percent (0-100).
        """
        scale = 100.0 if percent else 1.0
        by_cols: list[str] = []
        for lev in self.levels:
            by_cols += [c for c in lev.by if c not in by_cols]
        frames = []
        k = len(self.variables)
        for lev in self.levels:
            d = len(lev.domains)
            frame = pd.DataFrame({
                "statistic": np.tile(np.array(self.statistics, dtype=object), d),
                "variable": np.tile(np.array(self.variables, dtype=object), d),
                "estimate": lev.estimate.ravel() * scale,
                "se": lev.se.ravel() * scale,
                "ci_low": lev.ci[..., 0].ravel() * scale,
                "ci_high": lev.ci[..., 1].ravel() * scale,
                "df": np.repeat(lev.df, k),
                "deff": lev.deff.ravel(),
                "n": lev.n.ravel(),
                "n_eff": lev.n_eff.ravel(),
                "flag": lev.flag.ravel(),
                "reason": lev.reason.ravel(),
                "reason_code": lev.reason_code.ravel(),
                "cv": cv(lev.estimate, lev.se).ravel(),
            })
            labels = lev.domains.loc[lev.domains.index.repeat(k)].reset_index(drop=True)
            labels = labels.reindex(columns=by_cols)
            part = pd.concat([labels, frame], axis=1)
            if len(self.levels) > 1:
                part.insert(0, "level", lev.name)
            frames.append(part)
        return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------- entry point
def sipas_indices(
    design: SurveyDesign,
    items: Sequence[str] | None = None,
    *,
    by: BySpec | Sequence[BySpec] | Mapping[str, BySpec] = None,
    level: float = 0.95,
    ci: str = "logit",
    df: str | float = "design",
    content_map: Mapping[str, str] | None = None,
    on_level: Callable[[SipasResult], None] | None = None,
) -> SipasResult:
    """Criterion, content and overall SIPAS indices for every domain of one or more levels.

    Parameters
    ----------
    design : the survey design (Taylor, replicate-weight or calibrated).
    items : item columns; by default every column named like ``C1.1`` (or legacy ``L1.1``;
        the two questionnaires are never pooled).
    by : domain levels. ``None`` = the whole population; a string = one level (``"a,b"``
        crosses columns a and b); a list = several levels, each ``None``, a column, or a
        list of columns to cross; a mapping ``{name: spec}`` names the levels.
    level : confidence level of the displayed intervals.
    ci : proportion interval method: logit (default), beta (Korn-Graubard), mean (Wald),
        xlogit, asin. (``likelihood`` is defined for single proportions only.)
    df : ``"design"`` (each domain's own PSUs minus strata), a number, or ``inf``.
    content_map : item -> content code; by default the code before the dot (``C3.2`` -> ``C3``).
    on_level : called with a one-level result as each level is done, in the order of ``by``
        (a caller can store a level while the next one is computed).

    Returns
    -------
    SipasResult, proportions in 0-1; ``to_frame(percent=True)`` for reports.
    """
    method = ci_method(ci)
    if method is CIMethod.LIKELIHOOD:
        raise EstimationError(
            "Likelihood intervals profile the binomial model of one proportion; SIPAS content "
            "and overall indices are means of ratios: use logit, beta, mean, xlogit or asin"
        )
    data = design.data
    items_t = _item_columns(data, items)
    contents, content_idx = _contents(items_t, content_map)
    levels = _levels(by)
    classes = parse_items(data, items_t)

    w = np.asarray(design.weights, dtype=float)
    n_items = len(items_t)
    n_contents = len(contents)
    names = (*items_t, *contents, OVERALL)
    kinds = ("criterion",) * n_items + ("content",) * n_contents + ("sipas",)

    domain_sets = [_domains(data, cols) for _, cols in levels]
    fine, level_of_fine = _fine_domains([ds.codes for ds in domain_sets])
    n_fine = len(level_of_fine[0]) if level_of_fine else 1

    blocks = _Blocks.build(classes, content_idx, n_contents)
    sums = _FineSums.compute(design, blocks, w, fine, n_fine, n_items, n_contents)

    def result(levels_done: tuple[SipasLevel, ...]) -> SipasResult:
        return SipasResult(
            items=items_t,
            contents=contents,
            content_of=tuple(contents[c] for c in content_idx),
            statistics=kinds,
            variables=names,
            levels=levels_done,
            level=level,
            ci_method=method.value,
            df_mode=df,
            variance_method=design.variance_method,
        )

    out = []
    for (name, cols), ds, fmap in zip(levels, domain_sets, level_of_fine, strict=True):
        core = _level_core(design, name, cols, ds, fmap, sums, classes, w, fine, content_idx,
                           n_contents)
        # the composites' sum of w u^2 (for deff and n_eff) needs the level's p
        (swu2,) = _composite_swu2(blocks, sums, w, fine, [core], n_contents)
        out.append(_finish_level(core, swu2, level, method.value, df))
        if on_level is not None:
            on_level(result((out[-1],)))
    return result(tuple(out))


# ---------------------------------------------------------------------- items
def parse_items(data: pd.DataFrame, items: Sequence[str]) -> np.ndarray:
    """(n, I) int8 classes, column-major: 0 not answered, 1 answered 1-3, 2 answered 4-5.

    Accepts numbers 1-5 (integer, float or text such as ``"4"``), and ``na``/``NA``/empty/
    missing for "not answered". Anything else raises :class:`EstimationError` naming the
    column and rows. An item with no answer at all is an error too.
    """
    missing = [c for c in items if c not in data.columns]
    if missing:
        raise EstimationError(f"Item column(s) not in the data: {', '.join(missing)}")
    out = np.empty((len(data), len(items)), dtype=np.int8, order="F")
    for j, col in enumerate(items):
        out[:, j] = _classify(data[col], col)
        if not out[:, j].any():
            raise EstimationError(
                f"Item '{col}' has no answers at all (every value is N/A or empty)"
            )
    return out


_LUT_NUM = np.array([0, 1, 1, 1, 2, 2], dtype=np.int8)  # index = value (0 = not answered)


def _classify(series: pd.Series, col: str) -> np.ndarray:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        lut = _classify_values(series.cat.categories, col, series)
        return np.concatenate([lut, [0]]).astype(np.int8)[codes]  # code -1 -> last = 0
    if pd.api.types.is_bool_dtype(dtype):
        raise EstimationError(f"Item '{col}' holds true/false values, not answers 1-5")
    if pd.api.types.is_integer_dtype(dtype):  # fast path: small integers, NA as 0
        mask = series.isna().to_numpy()
        small = dtype.itemsize == 1 if hasattr(dtype, "itemsize") else False
        ints = series.to_numpy(dtype=np.int8 if small else np.int64, na_value=0)
        if ints.min() >= 0 and ints.max() <= 5 and not ((ints == 0) & ~mask).any():
            return _LUT_NUM[ints]
    if pd.api.types.is_numeric_dtype(dtype):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        nan = np.isnan(values)
        ok = nan | ((values >= 1) & (values <= 5) & (values == np.floor(values)))
        if not ok.all():
            bad = np.flatnonzero(~ok)
            raise EstimationError(_bad_values_message(col, bad, values[bad]))
        idx = np.where(nan, 0, values).astype(np.int8)
        return _LUT_NUM[idx]
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    lut = _classify_values(pd.Index(uniques), col, series, codes)
    return np.concatenate([lut, [0]]).astype(np.int8)[codes]


def _classify_values(values: pd.Index, col: str, series: pd.Series,
                     codes: np.ndarray | None = None) -> np.ndarray:
    """Class of every distinct value; an error naming rows for values that are not 1-5/na."""
    lut = np.zeros(len(values), dtype=np.int8)
    bad = []
    for k, v in enumerate(values):
        cls = _one_value(v)
        if cls is None:
            bad.append(k)
        else:
            lut[k] = cls
    if bad:
        if codes is None:
            codes = series.cat.codes.to_numpy()
        rows = np.flatnonzero(np.isin(codes, bad))
        raise EstimationError(_bad_values_message(col, rows, series.to_numpy()[rows]))
    return lut


def _one_value(v: Any) -> int | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return 0
    if isinstance(v, str):
        text = v.strip()
        if text.lower() in _NA_TOKENS:
            return 0
        try:
            num = float(text)
        except ValueError:
            return None
    elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        num = float(v)
    else:
        return None
    if num in (1.0, 2.0, 3.0):
        return 1
    if num in (4.0, 5.0):
        return 2
    return None


def _bad_values_message(col: str, rows: np.ndarray, values: np.ndarray) -> str:
    shown = ", ".join(repr(v) for v in pd.unique(pd.Series(values[:50], dtype=object))[:3])
    return (f"Item '{col}' must hold 1-5, 'na' or empty; found {shown} at rows "
            f"{describe_rows(rows)}")


def _item_columns(data: pd.DataFrame, items: Sequence[str] | None) -> tuple[str, ...]:
    if items is None:
        found = [str(c) for c in data.columns if _ITEM_CODE.match(str(c))]
        if not found:
            raise EstimationError("No SIPAS item columns (named like C1.1) in the data")
        prefixes = {re.match(r"[A-Za-z]+", c).group(0) for c in found}  # type: ignore[union-attr]
        if len(prefixes) > 1:
            raise EstimationError(
                "Item columns of different questionnaires (" + ", ".join(sorted(prefixes))
                + ") are never pooled; pass items= explicitly"
            )
        return tuple(sorted(found, key=_natural_key))
    items_t = tuple(items if not isinstance(items, str) else items.split(","))
    if not items_t:
        raise EstimationError("No SIPAS item given")
    if len(set(items_t)) != len(items_t):
        raise EstimationError("An item column is listed twice")
    return items_t


def _natural_key(code: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", code))


def _contents(items: tuple[str, ...], content_map: Mapping[str, str] | None
              ) -> tuple[tuple[str, ...], np.ndarray]:
    labels = []
    for item in items:
        if content_map is not None and item in content_map:
            labels.append(str(content_map[item]))
            continue
        m = _ITEM_CODE.match(item)
        if m is None:
            raise EstimationError(
                f"Cannot tell the content of item '{item}' from its name; pass content_map"
            )
        labels.append(m.group(1))
    contents = tuple(sorted(set(labels), key=_natural_key))
    idx = np.array([contents.index(lab) for lab in labels], dtype=np.int64)
    return contents, idx


def _levels(by: Any) -> list[tuple[str, tuple[str, ...]]]:
    def cols_of(spec: Any) -> tuple[str, ...]:
        if spec is None:
            return ()
        if isinstance(spec, str):
            return tuple(c.strip() for c in spec.split(",") if c.strip())
        return tuple(spec)

    def name_of(cols: tuple[str, ...]) -> str:
        return "+".join(cols) if cols else "overall"

    if by is None or isinstance(by, str):
        cols = cols_of(by)
        return [(name_of(cols), cols)]
    if isinstance(by, Mapping):
        return [(str(k), cols_of(v)) for k, v in by.items()]
    out = [(name_of(cols_of(s)), cols_of(s)) for s in by]
    if not out:
        raise EstimationError("by= lists no domain level")
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise EstimationError("The same domain level is listed twice in by=")
    return out


def _domains(data: pd.DataFrame, cols: tuple[str, ...]) -> Domains:
    """Domain codes of a level; a single categorical column is coded from its categories
    (the same codes and labels as :meth:`Domains.from_columns`, without a groupby)."""
    if len(cols) == 1 and cols[0] in data.columns and isinstance(data[cols[0]].dtype,
                                                                  pd.CategoricalDtype):
        series = data[cols[0]]
        codes = series.cat.codes.to_numpy().astype(np.int64)
        present = np.bincount(codes[codes >= 0], minlength=len(series.cat.categories)) > 0
        if not present.any():
            raise EstimationError(f"by column '{cols[0]}' has no values")
        new = np.cumsum(present) - 1
        codes = np.where(codes >= 0, new[np.maximum(codes, 0)], -1)
        labels = pd.DataFrame({cols[0]: pd.Categorical.from_codes(
            np.flatnonzero(present), dtype=series.dtype)})
        return Domains(codes, labels)
    return Domains.from_columns(data, list(cols))


# ---------------------------------------------------------------------- grouped sums
def _fine_domains(codes: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Cross of every level's domain codes: per-row fine code and each level's code per fine.

    A row outside a level's domains (code -1) keeps a fine domain that maps to -1 there.
    """
    n = len(codes[0])
    key = np.zeros(n, dtype=np.int64)
    radices = [int(c.max()) + 2 for c in codes]
    if np.prod([float(r) for r in radices]) < 2**62:
        for c, r in zip(codes, radices, strict=True):
            key = key * r + (c + 1)
        fine, uniq = pd.factorize(key, sort=False)
        uniq = np.asarray(uniq, dtype=np.int64)
        maps = []
        for r in reversed(radices):
            maps.append(uniq % r - 1)
            uniq = uniq // r
        return fine.astype(np.int64), maps[::-1]
    frame = pd.DataFrame({f"l{i}": c for i, c in enumerate(codes)})
    fine = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy(np.int64)
    first = np.unique(fine, return_index=True)[1]
    return fine, [c[first] for c in codes]


@dataclass(frozen=True, eq=False)
class _Blocks:
    """Items grouped by content in blocks of at most 5, and each row's answer pattern per block.

    A row's pattern in a block is ``sum_j class_j 3^j`` (at most 3^5 = 243 patterns), so sums
    over rows of any function of a block's answers reduce to a ``bincount`` of patterns, and a
    content's linearized variable is one table lookup per block instead of one per item.
    """

    items: tuple[np.ndarray, ...]
    content: np.ndarray
    codes: tuple[np.ndarray, ...]
    digits: tuple[np.ndarray, ...]  # (3^m, m) class of every item in every pattern

    @property
    def sizes(self) -> list[int]:
        return [len(d) for d in self.digits]

    @classmethod
    def build(cls, classes: np.ndarray, content_idx: np.ndarray, n_contents: int) -> _Blocks:
        items, content, codes, digits = [], [], [], []
        for c in range(n_contents):
            cols = np.flatnonzero(content_idx == c)
            for start in range(0, len(cols), _BLOCK):
                block = cols[start:start + _BLOCK]
                code = np.zeros(len(classes), dtype=np.int32)
                for j, i in enumerate(block):
                    code += classes[:, i].astype(np.int32) * (3**j)
                pats = np.arange(3 ** len(block))
                items.append(block)
                content.append(c)
                codes.append(code)
                digits.append(np.stack([(pats // 3**j) % 3 for j in range(len(block))], axis=1))
        return cls(tuple(items), np.array(content), tuple(codes), tuple(digits))


@dataclass(frozen=True, eq=False)
class _FineSums:
    """Weighted sums per (fine domain x deepest cluster) cell and per fine domain."""

    cell_fine: np.ndarray
    cell_cluster: np.ndarray
    cell_positive: np.ndarray  # rows with non-zero weight per cell
    s_cell: np.ndarray  # (C, I)
    a_cell: np.ndarray  # (C, I)
    count_answered: np.ndarray  # (F, I) respondents (w != 0) who answered
    count_any: np.ndarray  # (F, Cn + 1) who answered >= 1 item of a content / of any
    weight_any: np.ndarray  # (F, Cn + 1) their sum of weights
    pattern_weight: tuple[np.ndarray, ...]  # per block, (F, 3^m) weights by answer pattern

    @classmethod
    def compute(cls, design: SurveyDesign, blocks: _Blocks, w: np.ndarray, fine: np.ndarray,
                n_fine: int, n_items: int, n_contents: int) -> _FineSums:
        depth = design.variance_depth
        cluster = design.stages[depth - 1].row_cluster
        n_cl = design.stages[depth - 1].n_clusters
        cell, uniq = pd.factorize(fine * n_cl + cluster, sort=False)
        uniq = np.asarray(uniq, dtype=np.int64)
        n_cells = len(uniq)
        cell_fine = uniq // n_cl
        positive = w != 0
        all_positive = bool(positive.all())
        pos_w = None if all_positive else positive.astype(float)
        s_cell = np.empty((n_cells, n_items))
        a_cell = np.empty((n_cells, n_items))
        count = np.empty((n_fine, n_items))
        count_any = np.empty((n_fine, n_contents + 1))
        weight_any = np.empty((n_fine, n_contents + 1))
        blocks_of = np.bincount(blocks.content, minlength=n_contents)
        pattern_weight = []
        for items, c, code, digits in zip(blocks.items, blocks.content, blocks.codes,
                                          blocks.digits, strict=True):
            m = len(digits)
            sat = (digits == 2).astype(float)
            ans = (digits > 0).astype(float)
            if n_cells * m <= _PATTERN_CELLS:
                wp = np.bincount(cell * m + code, weights=w, minlength=n_cells * m)
                wp = wp.reshape(n_cells, m)
                s_cell[:, items] = wp @ sat
                a_cell[:, items] = wp @ ans
                w_fine = np.bincount((cell_fine[:, None] * m + np.arange(m)).ravel(),
                                     weights=wp.ravel(), minlength=n_fine * m)
                w_fine = w_fine.reshape(n_fine, m)
            else:  # very many cells (e.g. a multi-stage design with fpc): item by item
                w_fine = np.bincount(fine * m + code, weights=w, minlength=n_fine * m)
                w_fine = w_fine.reshape(n_fine, m)
                for i in items:
                    k = np.bincount(cell * 3 + blocks_class(code, digits, items, i), weights=w,
                                    minlength=3 * n_cells).reshape(-1, 3)
                    s_cell[:, i] = k[:, 2]
                    a_cell[:, i] = k[:, 1] + k[:, 2]
            pattern_weight.append(w_fine)
            cp = np.bincount(fine * m + code, weights=pos_w, minlength=n_fine * m)
            cp = cp.reshape(n_fine, m)
            count[:, items] = cp @ ans
            if blocks_of[c] == 1:  # pattern 0 = nothing answered in the content
                count_any[:, c] = cp[:, 1:].sum(axis=1)
                weight_any[:, c] = w_fine[:, 1:].sum(axis=1)
        any_all = np.zeros(len(w), dtype=bool)
        for c in range(n_contents):
            answered = np.zeros(len(w), dtype=bool)
            for b in np.flatnonzero(blocks.content == c):
                answered |= blocks.codes[b] != 0
            any_all |= answered
            if blocks_of[c] != 1:
                count_any[:, c] = np.bincount(fine, weights=answered & positive,
                                              minlength=n_fine)
                weight_any[:, c] = np.bincount(fine, weights=answered * w, minlength=n_fine)
        count_any[:, -1] = np.bincount(fine, weights=any_all & positive, minlength=n_fine)
        weight_any[:, -1] = np.bincount(fine, weights=any_all * w, minlength=n_fine)
        return cls(
            cell_fine=cell_fine,
            cell_cluster=uniq % n_cl,
            cell_positive=np.bincount(cell, weights=pos_w, minlength=n_cells),
            s_cell=s_cell,
            a_cell=a_cell,
            count_answered=count,
            count_any=count_any,
            weight_any=weight_any,
            pattern_weight=tuple(pattern_weight),
        )


def blocks_class(code: np.ndarray, digits: np.ndarray, items: np.ndarray, item: int
                 ) -> np.ndarray:
    """Class (0/1/2) of ``item`` for every row, recovered from its block pattern code."""
    j = int(np.flatnonzero(items == item)[0])
    return (code // 3**j) % 3


def _group_sum(index: np.ndarray, x: np.ndarray, size: int) -> np.ndarray:
    return linearization.group_sum(index, x, size)


# ---------------------------------------------------------------------- one level
@dataclass(frozen=True, eq=False)
class _Coefficients:
    """Per domain: p (D, I), A (D, I), content and SIPAS coefficients on each criterion."""

    p: np.ndarray
    a: np.ndarray
    content_coef: np.ndarray  # (D, I): 1/m_c over the criteria with answers
    sipas_coef: np.ndarray  # (D, I)
    content_defined: np.ndarray  # (D, Cn)
    content_partial: np.ndarray  # (D, Cn)
    sipas_partial: np.ndarray  # (D,)


def _coefficients(s: np.ndarray, a: np.ndarray, content_idx: np.ndarray,
                  n_contents: int) -> _Coefficients:
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(a > 0, s / a, np.nan)
    avail = a > 0
    onehot = np.zeros((len(content_idx), n_contents))
    onehot[np.arange(len(content_idx)), content_idx] = 1.0
    m_avail = avail.astype(float) @ onehot  # (D, Cn)
    m_all = onehot.sum(axis=0)
    defined = m_avail > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        content_coef = np.where(avail, 1.0 / m_avail[:, content_idx], 0.0)
        n_def = defined.sum(axis=1).astype(float)
        sipas_coef = np.where(n_def[:, None] > 0, content_coef / n_def[:, None], 0.0)
    partial = defined & (m_avail < m_all)
    sipas_partial = (~defined).any(axis=1) | partial.any(axis=1)
    return _Coefficients(p, a, content_coef, sipas_coef, defined, partial, sipas_partial)


def _estimates(co: _Coefficients, content_idx: np.ndarray, n_contents: int) -> np.ndarray:
    p0 = np.nan_to_num(co.p)
    d = len(p0)
    content = np.zeros((d, n_contents))
    for c in range(n_contents):
        cols = content_idx == c
        content[:, c] = (co.content_coef[:, cols] * p0[:, cols]).sum(axis=1)
    content[~co.content_defined] = np.nan
    sipas = (co.sipas_coef * p0).sum(axis=1)
    sipas[~co.content_defined.any(axis=1)] = np.nan
    return np.column_stack([co.p, content, sipas])


def _cell_totals(co: _Coefficients, dom: np.ndarray, s_cell: np.ndarray, a_cell: np.ndarray,
                 content_idx: np.ndarray, n_contents: int) -> np.ndarray:
    """Influence totals per cell: criteria, contents, SIPAS (cells x K).

    ``z_i = (S_i - p_i A_i) / A_i`` (0 where the domain has no answers to i); a content is
    ``sum_i c_i z_i`` over its criteria and SIPAS the mean of the defined contents -- one
    gather of each per-domain coefficient and one small matrix product per call (a national
    run calls this on ~5 x 10^5 cells per level)."""
    n_items = s_cell.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_a = np.where(co.a > 0, 1.0 / co.a, 0.0)
        n_def = co.content_defined.sum(axis=1)
        inv_def = np.where(n_def > 0, 1.0 / np.maximum(n_def, 1), 0.0)
    out = np.empty((len(dom), n_items + n_contents + 1))
    z = out[:, :n_items]
    np.multiply(np.nan_to_num(co.p)[dom], a_cell, out=z)
    np.subtract(s_cell, z, out=z)
    z *= inv_a[dom]
    onehot = np.zeros((n_items, n_contents))
    onehot[np.arange(n_items), content_idx] = 1.0
    np.matmul(z * co.content_coef[dom], onehot, out=out[:, n_items:-1])
    np.multiply(out[:, n_items:-1].sum(axis=1), inv_def[dom], out=out[:, -1])
    return out


@dataclass(frozen=True, eq=False)
class _LevelCore:
    """One level's domain sums, coefficients, estimates and variances."""

    name: str
    by: tuple[str, ...]
    domains: Domains
    fmap: np.ndarray
    co: _Coefficients
    estimate: np.ndarray
    var: np.ndarray
    df: np.ndarray
    n: np.ndarray
    big_n: np.ndarray
    s_d: np.ndarray
    a_d: np.ndarray


def _level_core(design: SurveyDesign, name: str, cols: tuple[str, ...], ds: Domains,
                fmap: np.ndarray, sums: _FineSums, classes: np.ndarray, w: np.ndarray,
                fine: np.ndarray, content_idx: np.ndarray, n_contents: int) -> _LevelCore:
    n_dom = ds.count
    # fine cells -> this level's (domain, cluster) cells
    c_dom = fmap[sums.cell_fine]
    keep = c_dom >= 0
    n_cl = int(sums.cell_cluster.max()) + 1
    key = c_dom[keep] * n_cl + sums.cell_cluster[keep]
    lcell, lcell_inv = np.unique(key, return_inverse=True)
    lc_dom = lcell // n_cl
    lc_cluster = lcell % n_cl
    n_lcells = len(lcell)
    if n_lcells == len(key):  # clusters nest in this level's domains: a reordering, no sums
        s_l = np.empty((n_lcells, sums.s_cell.shape[1]))
        a_l = np.empty_like(s_l)
        pos_l = np.empty(n_lcells)
        s_l[lcell_inv] = sums.s_cell[keep]
        a_l[lcell_inv] = sums.a_cell[keep]
        pos_l[lcell_inv] = sums.cell_positive[keep]
    else:
        s_l = _group_sum(lcell_inv, sums.s_cell[keep], n_lcells)
        a_l = _group_sum(lcell_inv, sums.a_cell[keep], n_lcells)
        pos_l = np.bincount(lcell_inv, weights=sums.cell_positive[keep], minlength=n_lcells)
    s_d = _group_sum(lc_dom, s_l, n_dom)
    a_d = _group_sum(lc_dom, a_l, n_dom)

    fkeep = fmap >= 0
    fdom = fmap[fkeep]
    n_crit = _group_sum(fdom, sums.count_answered[fkeep], n_dom)
    n_any = _group_sum(fdom, sums.count_any[fkeep], n_dom)
    w_any = _group_sum(fdom, sums.weight_any[fkeep], n_dom)

    co = _coefficients(s_d, a_d, content_idx, n_contents)
    est = _estimates(co, content_idx, n_contents)
    if design.replicates is not None:
        var = _replicate_variance(design, classes, fine, fmap, n_dom, co, content_idx,
                                  n_contents, est)
    elif design.adjustments:
        var = _calibrated_variance(design, classes, w, ds, co, content_idx, n_contents)
    else:
        totals = _cell_totals(co, lc_dom, s_l, a_l, content_idx, n_contents)
        var = linearization.vcov_from_totals(design, lc_cluster, lc_dom, totals, n_dom,
                                             full=False)
    # a ratio's variance is exactly zero in a domain inside one PSU; keep rounding noise
    # (an SE below 1e-12 on a proportion) from passing for a variance
    var = np.where(np.isnan(est), np.nan, np.where(var < _ZERO_VAR, 0.0, var))
    # domain degrees of freedom from the cells with positive-weight rows
    if design.replicates is not None:  # R: degf of a replicate design's domain subset
        from analysis.replicates import replicate_domain_degf

        dfs = replicate_domain_degf(design.replicates.weights, ds.codes, n_dom)
    else:
        dfs = _domain_df(design, lc_dom[pos_l > 0], lc_cluster[pos_l > 0], n_dom)
    return _LevelCore(name=name, by=cols, domains=ds, fmap=fmap, co=co, estimate=est, var=var,
                      df=dfs, n=np.column_stack([n_crit, n_any]),
                      big_n=np.column_stack([a_d, w_any]), s_d=s_d, a_d=a_d)


def _finish_level(core: _LevelCore, swu2_composite: np.ndarray, level: float, method: str,
                  df_mode: str | float) -> SipasLevel:
    est, var, n, big_n = core.estimate, core.var, core.n, core.big_n
    n_dom, k = est.shape
    n_items = core.s_d.shape[1]
    if isinstance(df_mode, str) and df_mode == "design":
        dfs_used = core.df.astype(float)
    else:
        dfs_used = np.full(n_dom, float(df_mode))
    swu2 = np.column_stack([_criterion_swu2(core.co.p, core.a_d), swu2_composite])
    with np.errstate(divide="ignore", invalid="ignore"):
        v_srs = swu2 * (big_n - n) / (n - 1)
        deff = np.where((n > 1) & (v_srs > 0), var / v_srs, np.nan)
        n_eff = np.where(var > 0, np.minimum(n, big_n * swu2 / var), n)
    n_eff = np.where(np.isnan(est), 0.0, n_eff)
    lo, hi = _intervals(est, var, np.broadcast_to(dfs_used[:, None], est.shape), n, level,
                        method)
    partial = np.column_stack([np.zeros((n_dom, n_items), dtype=bool),
                               core.co.content_partial, core.co.sipas_partial])
    assessed = assess_proportions(est, var, n, core.df[:, None].astype(float), n_eff=n_eff,
                                  partial=partial)
    return SipasLevel(
        name=core.name,
        by=core.by,
        domains=core.domains.labels,
        estimate=est,
        var=var,
        ci=np.stack([lo, hi], axis=-1),
        df=dfs_used,
        n=n.astype(np.int64),
        n_eff=assessed.n_eff,
        deff=deff,
        numerator=core.s_d,
        denominator=core.a_d,
        assessment=assessed,
    )


def _intervals(est: np.ndarray, var: np.ndarray, dfs: np.ndarray, n: np.ndarray, level: float,
               method: str) -> tuple[np.ndarray, np.ndarray]:
    """Proportion intervals. Estimates of 0 or 1, zero variances and domains without degrees
    of freedom (no t quantile) get the Korn-Graubard interval on the nominal n, computed
    separately so that the fallback costs nothing where it is not used."""
    lo = np.full(est.shape, np.nan)
    hi = np.full(est.shape, np.nan)
    has = ~np.isnan(est)
    degenerate = has & ((var <= 0) | (est <= 0) | (est >= 1) | ~(dfs > 0))
    if (has & ~degenerate).any():
        m = has & ~degenerate
        lo[m], hi[m] = proportion_interval(est[m], var[m], dfs[m], level, method,
                                           n_rows=np.maximum(n[m], 1))
    if degenerate.any():  # intervals' fallback: Korn-Graubard with the nominal n
        n_d = np.maximum(n[degenerate], 1).astype(float)
        lo[degenerate], hi[degenerate] = korn_graubard_interval(est[degenerate], n_d,
                                                                dfs[degenerate], n_d, level)
    return lo, hi


def _domain_df(design: SurveyDesign, cell_dom: np.ndarray, cell_cluster: np.ndarray,
               n_dom: int) -> np.ndarray:
    """PSUs with domain members minus their strata (R ``degf`` of the domain's subset)."""
    depth = design.variance_depth
    psu = cell_cluster
    for s in range(depth - 1, 0, -1):
        psu = design.stages[s].cluster_parent[psu]
    stage = design.stages[0]
    pairs = unique(cell_dom * stage.n_clusters + psu)
    p_dom = pairs // stage.n_clusters
    n_psu = np.bincount(p_dom, minlength=n_dom)
    strata = unique(p_dom * stage.n_strata + stage.cluster_stratum[pairs % stage.n_clusters])
    n_str = np.bincount(strata // stage.n_strata, minlength=n_dom)
    return (n_psu - n_str).astype(np.int64)


def _criterion_swu2(p: np.ndarray, a: np.ndarray) -> np.ndarray:
    """sum w u^2 for a criterion: sum w (s - p a)^2 / A^2 = p (1 - p) / A."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, np.nan_to_num(p) * (1 - np.nan_to_num(p)) / a, 0.0)


def _composite_swu2(blocks: _Blocks, sums: _FineSums, w: np.ndarray, fine: np.ndarray,
                    cores: list[_LevelCore], n_contents: int) -> list[np.ndarray]:
    """Per level, the sum over each domain of w u^2 for every content and SIPAS (D x (Cn+1)).

    A content's ``u = sum_i c_i (s_i - p_i a_i) / A_i`` depends on a row's domain and on its
    answer pattern in the content's block(s): a (fine domain x pattern) table per level. For
    a content held in one block, ``sum w u^2`` is the weights by pattern (already summed per
    fine domain) times the squared table -- no pass over the rows. SIPAS's ``u`` (the sum of
    the contents' over the number of defined contents) and contents spread over several
    blocks need one lookup per block per row; the lookup index is shared by all levels. Sums
    go by fine domain and are added up to each level's domains at the end.
    """
    n_fine = len(cores[0].fmap)
    tables: list[list[np.ndarray]] = []
    scales = []
    for core in cores:
        co, fmap = core.co, core.fmap
        n_dom = core.domains.count
        p0 = np.nan_to_num(co.p)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv_a = np.where(co.a > 0, 1.0 / co.a, 0.0)
            n_def = co.content_defined.sum(axis=1).astype(float)
            scale = np.where(n_def > 0, 1.0 / n_def, 0.0)
        # value of every item's class per domain, a zero row for "no domain" (code n_dom)
        value = np.zeros((n_dom + 1, p0.shape[1], 3))
        value[:-1, :, 1] = co.content_coef * -p0 * inv_a
        value[:-1, :, 2] = co.content_coef * (1 - p0) * inv_a
        dom_of_fine = np.where(fmap >= 0, fmap, n_dom)
        level_tables = []
        for items, digits in zip(blocks.items, blocks.digits, strict=True):
            t = np.zeros((n_dom + 1, len(digits)))
            for j, i in enumerate(items):
                t += value[:, i, :][:, digits[:, j]]
            level_tables.append(t[dom_of_fine])  # (F, 3^m)
        tables.append(level_tables)
        scales.append(np.append(scale, 0.0)[dom_of_fine])
    n_levels = len(cores)
    acc = np.zeros((n_levels, n_fine, n_contents + 1))
    blocks_of = np.bincount(blocks.content, minlength=n_contents)
    single = blocks_of == 1
    for b, c in enumerate(blocks.content):
        if single[c]:
            for lev in range(n_levels):
                acc[lev, :, c] = (sums.pattern_weight[b] * tables[lev][b] ** 2).sum(axis=1)
    flat = [[t.ravel() for t in level] for level in tables]
    sizes = sorted(set(blocks.sizes))
    n = len(w)
    for start in range(0, n, _ROW_CHUNK):
        sl = slice(start, min(n, start + _ROW_CHUNK))
        f = fine[sl]
        wc = w[sl]
        base = {m: f * m for m in sizes}
        idx = [base[len(digits)] + code[sl] for digits, code in zip(blocks.digits, blocks.codes,
                                                                    strict=True)]
        for lev in range(n_levels):
            total = np.zeros(len(wc))
            multi = {c: np.zeros(len(wc)) for c in np.flatnonzero(~single)}
            for b, table in enumerate(flat[lev]):
                t = table[idx[b]]
                total += t
                if blocks.content[b] in multi:
                    multi[blocks.content[b]] += t
            for c, u in multi.items():
                acc[lev, :, c] += np.bincount(f, weights=wc * u**2, minlength=n_fine)
            total *= scales[lev][f]
            acc[lev, :, -1] += np.bincount(f, weights=wc * total**2, minlength=n_fine)
    out = []
    for lev, core in enumerate(cores):
        keep = core.fmap >= 0
        out.append(_group_sum(core.fmap[keep], acc[lev][keep], core.domains.count))
    return out


# ---------------------------------------------------------------------- other variances
def _calibrated_variance(design: SurveyDesign, classes: np.ndarray, w: np.ndarray,
                         ds: Domains, co: _Coefficients, content_idx: np.ndarray,
                         n_contents: int) -> np.ndarray:
    """Calibrated designs: full-length influence values through ``linearization.vcov``."""
    codes = ds.codes
    inside = codes >= 0
    d = np.where(inside, codes, 0)
    s = (classes == 2).astype(float)
    a = (classes > 0).astype(float)
    p0 = np.nan_to_num(co.p)[d]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(co.a[d] > 0, w[:, None] * (s - p0 * a) / co.a[d], 0.0)
    z[~inside] = 0.0
    content = np.zeros((len(w), n_contents))
    zc = z * co.content_coef[d]
    for c in range(n_contents):
        content[:, c] = zc[:, content_idx == c].sum(axis=1)
    sipas = (z * co.sipas_coef[d]).sum(axis=1)
    full = np.column_stack([z, content, sipas])
    return linearization.vcov(design, full, codes, ds.count, full=False)


def _replicate_variance(design: SurveyDesign, classes: np.ndarray, fine: np.ndarray,
                        fmap: np.ndarray, n_dom: int, co: _Coefficients,
                        content_idx: np.ndarray, n_contents: int,
                        estimate: np.ndarray) -> np.ndarray:
    """Replicate designs: every index under every replicate weight column, combined by R's
    ``svrVar`` (:func:`analysis.replicates.svrvar`). The composites keep the full sample's
    definition (which criteria have answers); sums come from one sparse product per item
    block (:func:`analysis.replicates.domain_totals`) on the fine domains."""
    from analysis.replicates import domain_totals, svrvar

    reps = design.replicates
    assert reps is not None
    n_items = classes.shape[1]
    values = np.concatenate([(classes == 2), (classes > 0)], axis=1).astype(float)
    fine_tot = domain_totals(reps.weights, values, fine, len(fmap))  # (R, F, 2I)
    keep = fmap >= 0
    n_rep = fine_tot.shape[0]
    thetas = np.empty((n_rep, n_dom, estimate.shape[1]))
    defined = ~np.isnan(estimate)
    for r in range(n_rep):
        tot = _group_sum(fmap[keep], fine_tot[r][keep], n_dom)
        s_r, a_r = tot[:, :n_items], tot[:, n_items:]
        with np.errstate(divide="ignore", invalid="ignore"):
            p_r = np.where(co.a > 0, s_r / a_r, 0.0)  # NaN where a replicate loses answers
        content = np.zeros((n_dom, n_contents))
        for c in range(n_contents):
            cols = content_idx == c
            content[:, c] = (co.content_coef[:, cols] * p_r[:, cols]).sum(axis=1)
        sipas = (co.sipas_coef * p_r).sum(axis=1)
        thetas[r] = np.where(defined, np.column_stack([p_r, content, sipas]), 0.0)
    full = np.where(defined, estimate, 0.0)
    cov = svrvar(thetas, full, reps)
    return np.where(defined, np.diagonal(cov, axis1=1, axis2=2), np.nan)
