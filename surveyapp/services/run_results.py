"""Turn the engine's results into ``RunResult`` rows and store them in bulk.

One row per unit x index: the SIPAS estimate with its interval and flags
(``analysis.sipas_indices``), the unit against the rest of its parent
(``analysis.compare.unit_vs_rest``, Holm across the parent's units) and its rank among the
parent's units with a joint rank interval (``analysis.compare.rank_intervals``; only units
whose estimate is not suppressed are ranked -- a suppressed number must not leak through its
rank). PostgreSQL gets the rows through ``COPY`` (a national run has ~330,000 of them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special
from sqlalchemy import insert

from analysis.sipas import SipasResult
from surveyapp.extensions import db
from surveyapp.models import RunResult

COUNTRY_CODE = "VN"
#: level -> (unit column, parent column) in the analysis table
LEVELS: dict[str, tuple[str | None, str | None]] = {
    "country": (None, None),
    "province": ("province_code", None),
    "commune": ("commune_code", "province_code"),
    "centre": ("centre_code", "province_code"),
}
COLUMNS = ["run_id", "level", "unit_code", "province_code", "statistic", "variable",
           "estimate", "se", "ci_low", "ci_high", "df", "deff", "n", "n_eff", "flag",
           "reason", "rank", "rank_low", "rank_high", "rank_of", "diff_rest", "diff_low",
           "diff_high", "p_value", "p_holm", "below"]


def by_spec() -> dict[str, list[str] | None]:
    """Domain levels for ``sipas_indices`` (communes and centres keyed with their province:
    commune codes were reused across the 2025 reform)."""
    return {"country": None, "province": ["province_code"],
            "commune": ["province_code", "commune_code"],
            "centre": ["province_code", "centre_code"]}


def unit_levels() -> dict[str, tuple[list[str], list[str]]]:
    """Unit and parent columns of every level below the country (``run_compare.vs_rest``)."""
    return {name: ([unit], [parent] if parent else [])
            for name, (unit, parent) in LEVELS.items() if unit is not None}


def level_frame(result: SipasResult, name: str, rest: pd.DataFrame | None, level: float,
                rank_method: str = "bonferroni") -> pd.DataFrame:
    """One level's rows with the columns of ``RunResult`` (``run_id`` aside), from the
    indices and the level's unit-versus-rest contrasts (``run_compare.vs_rest``; ``None``
    when there are none, as for the country)."""
    lev = result[name]
    unit_col, parent_col = LEVELS[lev.name]
    d, k = lev.estimate.shape
    dom = lev.domains.loc[lev.domains.index.repeat(k)].reset_index(drop=True)
    frame = pd.DataFrame({
        "level": lev.name,
        "unit_code": dom[unit_col].astype(str) if unit_col else COUNTRY_CODE,
        "province_code": dom["province_code"].astype(str) if unit_col else None,
        "statistic": np.tile(np.array(result.statistics, dtype=object), d),
        "variable": np.tile(np.array(result.variables, dtype=object), d),
        "estimate": lev.estimate.ravel(), "se": lev.se.ravel(),
        "ci_low": lev.ci[..., 0].ravel(), "ci_high": lev.ci[..., 1].ravel(),
        "df": np.repeat(lev.df.astype(float), k), "deff": lev.deff.ravel(),
        "n": lev.n.ravel().astype(np.int64), "n_eff": lev.n_eff.ravel(),
        "flag": lev.flag.ravel(), "reason": lev.reason_code.ravel(),
    })
    if unit_col is not None:
        frame = _with_rest(frame, rest, unit_col, parent_col)
        frame = _with_ranks(frame, "province_code" if parent_col else None, level,
                            rank_method)
    for col in COLUMNS[1:]:
        if col not in frame:
            frame[col] = None
    return frame[COLUMNS[1:]]


def _with_rest(frame: pd.DataFrame, vs: pd.DataFrame | None, unit_col: str,
               parent_col: str | None) -> pd.DataFrame:
    if vs is None:
        return frame
    vs = vs.rename(columns={"difference": "diff_rest", "ci_low": "diff_low",
                            "ci_high": "diff_high"})
    vs["unit_code"] = vs[unit_col].astype(str)
    if parent_col:
        vs["province_code"] = vs[parent_col].astype(str)
    join = ["unit_code", "variable"] + (["province_code"] if parent_col else [])
    keep = join + ["diff_rest", "diff_low", "diff_high", "p_value", "p_holm", "below"]
    return frame.merge(vs[keep], on=join, how="left")


def joint_ranks(est: np.ndarray, se: np.ndarray, df: np.ndarray, group: np.ndarray,
                alpha: float) -> tuple[np.ndarray, ...]:
    """``analysis.compare.rank_intervals`` (Bonferroni, rank 1 = highest) for many groups at
    once: quantiles for all units in one call, then one sort per group (a national run has
    ~1,700 groups; the per-call DataFrame was most of the run's time). Tested equal."""
    n = len(est)
    size = np.bincount(group, minlength=int(group.max()) + 1 if n else 0)[group]
    prob = 1 - alpha / size / 2  # two-sided, individual level 1 - alpha/K
    q = np.where(np.isinf(df), special.ndtri(prob), special.stdtrit(np.where(
        np.isinf(df) | (df <= 0), 1.0, df), prob))
    q = np.where(np.isfinite(df) & (df <= 0), np.nan, q)
    lo, hi = est - q * se, est + q * se
    s_lo, s_hi = np.minimum(-lo, -hi), np.maximum(-lo, -hi)  # descending: rank 1 = highest
    rank = np.empty(n, np.int64)
    low = np.empty(n, np.int64)
    high = np.empty(n, np.int64)
    order = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    for idx in np.split(order, bounds) if n else []:
        e, a, b = -est[idx], s_lo[idx], s_hi[idx]
        se_sorted, a_sorted, b_sorted = np.sort(e), np.sort(a), np.sort(b)
        rank[idx] = 1 + np.searchsorted(se_sorted, e, side="left")
        low[idx] = 1 + np.searchsorted(b_sorted, a, side="left")  # #{j: s_hi_j < s_lo_k}
        high[idx] = np.searchsorted(a_sorted, b, side="right")  # k - #{j: s_lo_j > s_hi_k}
    return rank, low, high, size


def _with_ranks(frame: pd.DataFrame, parent: str | None, level: float,
                method: str) -> pd.DataFrame:
    """Ranks within (parent, variable) among units whose estimate is not suppressed."""
    if method != "bonferroni":
        raise ValueError("only Bonferroni joint rank intervals are stored")
    est = frame["estimate"].to_numpy(dtype=float)
    se = frame["se"].to_numpy(dtype=float)
    dfs = frame["df"].to_numpy(dtype=float)
    ok = ((frame["flag"].to_numpy() != "suppress") & np.isfinite(est) & np.isfinite(se)
          & (np.isinf(dfs) | (dfs > 0)))  # no degrees of freedom: no interval, no rank
    keys = ([parent] if parent else []) + ["variable"]
    group = frame.groupby(keys, sort=False).ngroup().to_numpy()
    rows = np.flatnonzero(ok)
    frame = frame.copy()
    cols = ("rank", "rank_low", "rank_high", "rank_of")
    values = (joint_ranks(est[rows], se[rows], dfs[rows], pd.factorize(group[rows])[0],
                          1 - level) if len(rows) else [np.empty(0, np.int64)] * 4)
    missing = ~ok
    for col, v in zip(cols, values, strict=True):
        arr = np.zeros(len(frame), dtype=np.int64)
        arr[rows] = v  # nullable integers built from values + mask (not 10^5 Python objects)
        frame[col] = pd.arrays.IntegerArray(arr, missing.copy())
    return frame


def _clean(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def store(run_id: int, frame: pd.DataFrame) -> int:
    """Insert the rows for ``run_id`` in the session's transaction; returns the count."""
    frame = frame.assign(run_id=run_id)[COLUMNS]
    if db.engine.dialect.name == "postgresql":
        return _copy(frame)
    records = [{c: _clean(v) for c, v in zip(COLUMNS, row, strict=True)}
               for row in frame.itertuples(index=False, name=None)]
    for start in range(0, len(records), 5000):
        db.session.execute(insert(RunResult), records[start:start + 5000])
    return len(records)


def _copy(frame: pd.DataFrame) -> int:
    """COPY the rows through the session's connection. CSV written by Arrow: floats in their
    shortest exact form, NULL as an empty field and an empty string as ``""`` -- exactly
    PostgreSQL's CSV convention (pandas' own writer took most of a national run's store)."""
    import pyarrow as pa
    from pyarrow import csv as pa_csv

    out = frame.copy()
    out["below"] = out["below"].astype(object).where(out["below"].notna(), None)
    table = pa.Table.from_pandas(out, preserve_index=False)
    buf = pa.BufferOutputStream()
    pa_csv.write_csv(table, buf, pa_csv.WriteOptions(include_header=False))
    raw = db.session.connection().connection.dbapi_connection
    cols = ", ".join(f'"{c}"' for c in COLUMNS)
    with raw.cursor() as cur, cur.copy(
            f"COPY run_result ({cols}) FROM STDIN WITH (FORMAT csv)") as copy:
        copy.write(buf.getvalue().to_pybytes())
    return len(out)


__all__ = ["COUNTRY_CODE", "by_spec", "level_frame", "store", "unit_levels"]
