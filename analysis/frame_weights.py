"""Design weights from a sampling frame of settled dossiers, with a stated collapsing rule.

On-site ratings are a sample of the dossiers settled at a centre: the design weight of a usable
response is the number of dossiers settled in its weighting cell divided by the number of
usable responses in that cell (an expansion weight; Kish 1965 §11.7; Lohr 2022 §8.5 for
weighting-class cells). The cell is (centre, procedure field, period).

Collapsing rule (applied per period, deterministic, reported cell by cell):

1. a cell is weighted on its own when it has at least ``min_responses`` usable responses and a
   positive frame count;
2. otherwise the cell is merged with **all fields of its centre** (one cell per centre): the
   weight is the centre's dossiers over its usable responses, if that centre cell satisfies
   rule 1;
3. a centre that still fails is merged with **all centres of its commune** (every field);
   at this last level any positive count of responses and dossiers is weighted (with a
   ``few_responses`` note when below ``min_responses``);
4. responses that cannot be weighted even then (no dossiers anywhere in their commune in the
   frame, or a centre with no known commune) get no weight and are reported -- never dropped
   silently; dossiers with no response even at commune level are reported as not represented.

Why ``min_responses = 5`` by default: with fewer, a single response carries more than a fifth
of its cell, and weights of cells with one or two responses vary wildly with chance (Kish's
weighting design effect ``1 + CV^2(w)`` grows quickly), while merging a cell with the rest of
its centre costs only the field adjustment, not the centre's own count. Larger thresholds
(20-30, as often used for nonresponse-adjustment cells; Kalton & Flores-Cervantes 2003, J.
Official Statistics 19(2)) collapse most centre x field cells of a kiosk survey; pass
``min_responses=`` to choose. The reliability of published estimates is judged separately,
per estimate (:mod:`analysis.reliability`).

Kish's weighting design effect ``deff_w = n sum w^2 / (sum w)^2`` and effective sample size
``(sum w)^2 / sum w^2`` are reported over the weighted responses (Kish 1965, 1992).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import EstimationError, describe_rows

ACTIONS = ("weighted", "collapsed_to_centre", "collapsed_to_commune", "not_weighted",
           "not_represented")

_REASONS = {
    "": "",
    "no_frame_count": "Responses but no dossiers in the frame for this cell.",
    "no_responses": "Dossiers in the frame but no usable response in this cell.",
    "few_responses": "Fewer usable responses than the minimum ({min} per cell).",
    "sibling_collapsed": "Merged because another cell of the same unit could not be weighted "
                         "on its own.",
    "no_frame_in_commune": "No dossiers in the frame for the whole commune: these responses "
                           "cannot be weighted.",
    "no_commune": "The centre's commune is unknown: the cell cannot be collapsed further.",
    "no_response_in_commune": "No usable response anywhere in the commune: these dossiers are "
                              "not represented.",
}


@dataclass(frozen=True, eq=False)
class FrameWeights:
    """Weights for the responses and the report of how every frame cell was handled.

    Attributes
    ----------
    weights : design weight per response (index of the responses); NaN for responses that
        are unusable or could not be weighted.
    weighting_cell : the final weighting cell of every response (``''`` when none).
    population : dossiers in each response's weighting cell -- the fpc (population size)
        when the weighting cells are used as strata (DESIGN §4, on-site ratings).
    report : one row per (period, centre, field) cell: commune, responses, dossiers,
        ``action`` (see :data:`ACTIONS`), ``reason_code``, ``reason``, ``weighting_cell``,
        ``weight``.
    unweighted : index labels of usable responses that received no weight.
    kish_deff, n_eff : Kish's weighting design effect and effective sample size.
    """

    weights: pd.Series
    weighting_cell: pd.Series
    population: pd.Series
    report: pd.DataFrame
    unweighted: pd.Index
    kish_deff: float
    n_eff: float
    min_responses: int

    @property
    def n_weighted(self) -> int:
        return int(self.weights.notna().sum())

    def summary(self) -> dict[str, float | int]:
        """Counts by action, weighted responses, Kish deff and effective n."""
        counts = self.report["action"].value_counts()
        out: dict[str, float | int] = {a: int(counts.get(a, 0)) for a in ACTIONS}
        out.update(n_weighted=self.n_weighted, n_unweighted=len(self.unweighted),
                   kish_deff=self.kish_deff, n_eff=self.n_eff)
        return out


def frame_weights(
    responses: pd.DataFrame,
    frame: pd.DataFrame,
    *,
    centre: str = "centre",
    field: str = "field",
    period: str | None = "period",
    commune: str = "commune",
    count: str = "dossiers",
    usable: str | np.ndarray | None = None,
    min_responses: int = 5,
) -> FrameWeights:
    """Design weights = dossiers settled in the cell / usable responses in the cell.

    Parameters
    ----------
    responses : one row per response, with the centre, field, period and commune columns.
    frame : dossiers settled per (centre, field, period): columns ``centre``, ``field``,
        ``period`` (when given) and ``count``; a ``commune`` column is used for centres with
        no response. Each cell must appear once.
    period : the period column, or ``None`` when all data is one period.
    usable : boolean column or mask of responses that count (default: all).
    min_responses : smallest number of usable responses for a cell to be weighted on its own.
    """
    if min_responses < 1:
        raise EstimationError("min_responses must be at least 1")
    keys = [c for c in (period, centre, field) if c is not None]
    _require(responses, [*keys, commune], "responses")
    _require(frame, [*keys, count], "frame")
    ok_mask = _usable(responses, usable)
    counts = pd.to_numeric(frame[count], errors="coerce")
    bad = np.flatnonzero(counts.isna().to_numpy() | (counts < 0).to_numpy())
    if len(bad):
        raise EstimationError(f"Frame column '{count}' must hold counts >= 0; bad rows "
                              f"{describe_rows(bad)}")
    dup = np.flatnonzero(frame.duplicated(keys, keep="first").to_numpy())
    if len(dup):
        raise EstimationError(f"Frame cells ({', '.join(keys)}) listed twice at rows "
                              f"{describe_rows(dup)}")
    centre_commune = _centre_communes(responses, frame, keys, centre, commune, period)

    resp = responses.loc[ok_mask, keys]
    r = resp.groupby(keys, dropna=False, sort=True).size().rename("responses")
    n = frame.assign(**{count: counts}).set_index(keys)[count].rename("dossiers")
    cells = pd.concat([r, n], axis=1).fillna(0.0).reset_index()
    cells["responses"] = cells["responses"].astype(np.int64)
    per = cells[period] if period is not None else pd.Series("", index=cells.index)
    cells["_period"] = per.astype(str)
    cells[commune] = cells.apply(
        lambda row: centre_commune.get((row["_period"], row[centre])), axis=1)

    report = _collapse(cells, centre, field, commune, min_responses)
    weight_of = report.set_index([*keys])["weight"]
    cell_of = report.set_index([*keys])["weighting_cell"]
    idx = pd.MultiIndex.from_frame(responses[keys]) if len(keys) > 1 else pd.Index(
        responses[keys[0]])
    weights = pd.Series(weight_of.reindex(idx).to_numpy(), index=responses.index,
                        name="weight")
    wcell = pd.Series(cell_of.reindex(idx).fillna("").to_numpy(), index=responses.index,
                      name="weighting_cell")
    weights[~ok_mask] = np.nan
    wcell[~ok_mask] = ""
    pool_dossiers = report[report["weighting_cell"] != ""].groupby("weighting_cell")[
        "dossiers"].sum()
    population = pd.Series(wcell.map(pool_dossiers).to_numpy(dtype=float),
                           index=responses.index, name="population")
    unweighted = responses.index[ok_mask & weights.isna().to_numpy()]
    w = weights.dropna().to_numpy()
    kish = float(len(w) * (w**2).sum() / w.sum() ** 2) if len(w) else float("nan")
    n_eff = float(w.sum() ** 2 / (w**2).sum()) if len(w) else 0.0
    report = report.drop(columns=["_period"]).reset_index(drop=True)
    report["reason"] = [
        " ".join(_REASONS[c].format(min=min_responses) for c in code.split(";") if c)
        for code in report["reason_code"]
    ]
    return FrameWeights(weights=weights, weighting_cell=wcell, population=population,
                        report=report,
                        unweighted=unweighted, kish_deff=kish, n_eff=n_eff,
                        min_responses=min_responses)


def _require(data: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise EstimationError(f"Column(s) not in the {what}: {', '.join(missing)}")


def _usable(responses: pd.DataFrame, usable: str | np.ndarray | None) -> np.ndarray:
    if usable is None:
        return np.ones(len(responses), dtype=bool)
    if isinstance(usable, str):
        _require(responses, [usable], "responses")
        values = responses[usable]
    else:
        values = pd.Series(np.asarray(usable))
    if len(values) != len(responses) or not pd.api.types.is_bool_dtype(values.dtype):
        raise EstimationError("usable must be one true/false value per response")
    return values.to_numpy(dtype=bool)


def _centre_communes(responses: pd.DataFrame, frame: pd.DataFrame, keys: list[str],
                     centre: str, commune: str, period: str | None) -> dict:
    """(period, centre) -> commune, from the responses and (for other centres) the frame."""
    out: dict = {}
    for source, what in ((responses, "responses"), (frame, "frame")):
        if commune not in source.columns:
            continue
        cols = [c for c in (period, centre) if c is not None]
        pairs = source[[*cols, commune]].dropna().drop_duplicates()
        clash = pairs.duplicated(cols, keep=False)
        if clash.any():
            bad = pairs[clash].iloc[0]
            raise EstimationError(f"Centre '{bad[centre]}' belongs to more than one commune in "
                                  f"the {what}")
        for row in pairs.itertuples(index=False):
            values = dict(zip(pairs.columns, row, strict=True))
            key = (str(values[period]) if period is not None else "", values[centre])
            out.setdefault(key, values[commune])
    return out


def _problem(responses: pd.Series, dossiers: pd.Series, minimum: int) -> pd.Series:
    code = pd.Series("", index=responses.index, dtype=object)
    code[(responses > 0) & (responses < minimum)] = "few_responses"
    code[(responses == 0) & (dossiers > 0)] = "no_responses"
    code[(responses > 0) & (dossiers <= 0)] = "no_frame_count"
    return code


def _collapse(cells: pd.DataFrame, centre: str, field: str, commune: str,
              minimum: int) -> pd.DataFrame:
    """Apply the collapsing rule; one report row per cell with responses or dossiers."""
    c = cells[(cells["responses"] > 0) | (cells["dossiers"] > 0)].copy()
    c["reason_code"] = _problem(c["responses"], c["dossiers"], minimum)
    c["level"] = "cell"
    c["pool"] = ("cell:" + c["_period"] + "/" + c[centre].astype(str) + "/"
                 + c[field].astype(str))
    # rule 2: a centre with a failing cell becomes one cell (all its fields, same period)
    fails = c["reason_code"] != ""
    at_centre = fails.groupby([c["_period"], c[centre]]).transform("any")
    c.loc[at_centre & ~fails, "reason_code"] = "sibling_collapsed"
    c.loc[at_centre, "level"] = "centre"
    c.loc[at_centre, "pool"] = "centre:" + c["_period"] + "/" + c[centre].astype(str)
    sums = c.groupby("pool")[["responses", "dossiers"]].transform("sum")
    pool_problem = _problem(sums["responses"], sums["dossiers"], minimum)
    # rule 3: a commune with a failing centre becomes one cell (all centres and fields)
    centre_fails = at_centre & (pool_problem != "")
    known = c[commune].notna()
    stuck = centre_fails & ~known
    c.loc[stuck, "reason_code"] = (c.loc[stuck, "reason_code"] + ";no_commune").str.strip(";")
    c.loc[stuck, "level"] = "none"
    key = c["_period"] + "/" + c[commune].astype(str)
    at_commune = centre_fails.groupby(key).transform("any") & known
    c.loc[at_commune & (c["reason_code"] == ""), "reason_code"] = "sibling_collapsed"
    c.loc[at_commune, "level"] = "commune"
    c.loc[at_commune, "pool"] = "commune:" + key
    sums = c.groupby("pool")[["responses", "dossiers"]].transform("sum")
    usable = (sums["responses"] > 0) & (sums["dossiers"] > 0) & (c["level"] != "none")
    extra = pd.Series("", index=c.index, dtype=object)
    extra[at_commune & usable & (sums["responses"] < minimum)] = "few_responses"
    extra[at_commune & (sums["responses"] > 0) & (sums["dossiers"] <= 0)] = "no_frame_in_commune"
    extra[at_commune & (sums["responses"] == 0)] = "no_response_in_commune"
    c["reason_code"] = (c["reason_code"] + ";" + extra).str.strip(";")
    c["weight"] = np.where(usable, sums["dossiers"] / sums["responses"].where(usable, 1), np.nan)
    c["weighting_cell"] = np.where(usable, c["pool"], "")
    action = {"cell": "weighted", "centre": "collapsed_to_centre",
              "commune": "collapsed_to_commune"}
    c["action"] = np.where(usable, c["level"].map(action).fillna(""),
                           np.where(c["responses"] > 0, "not_weighted", "not_represented"))
    return c.drop(columns=["level", "pool"])
