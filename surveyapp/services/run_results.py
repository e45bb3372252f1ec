"""Turn the engine's results into ``RunResult`` rows and store them in bulk.

One row per unit x index: the SIPAS estimate with its interval and flags
(``analysis.sipas_indices``), the unit against the rest of its parent
(``analysis.compare.unit_vs_rest``, Holm across the parent's units) and its rank among the
parent's units with a joint rank interval (``analysis.compare.rank_intervals``; only units
whose estimate is not suppressed are ranked -- a suppressed number must not leak through its
rank). PostgreSQL gets the rows through ``COPY`` (a national run has ~330,000 of them).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import insert

from analysis.compare import rank_intervals, unit_vs_rest
from analysis.design import SurveyDesign
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


def result_frame(result: SipasResult, design: SurveyDesign, level: float,
                 rank_method: str = "bonferroni") -> pd.DataFrame:
    """All levels in one long table with the columns of ``RunResult``."""
    parts = []
    for lev in result.levels:
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
            frame = _with_rest(frame, design, unit_col, parent_col, level)
            frame = _with_ranks(frame, "province_code" if parent_col else None, level,
                                rank_method)
        parts.append(frame)
    out = pd.concat(parts, ignore_index=True)
    for col in COLUMNS[1:]:
        if col not in out:
            out[col] = None
    return out[COLUMNS[1:]]


def _with_rest(frame: pd.DataFrame, design: SurveyDesign, unit_col: str,
               parent_col: str | None, level: float) -> pd.DataFrame:
    vs = unit_vs_rest(design, unit_col, parent_col, level=level)
    vs = vs.rename(columns={"difference": "diff_rest", "ci_low": "diff_low",
                            "ci_high": "diff_high"})
    vs["unit_code"] = vs[unit_col].astype(str)
    if parent_col:
        vs["province_code"] = vs[parent_col].astype(str)
    join = ["unit_code", "variable"] + (["province_code"] if parent_col else [])
    keep = join + ["diff_rest", "diff_low", "diff_high", "p_value", "p_holm", "below"]
    return frame.merge(vs[keep], on=join, how="left")


def _with_ranks(frame: pd.DataFrame, parent: str | None, level: float,
                method: str) -> pd.DataFrame:
    frame = frame.copy()
    for col in ("rank", "rank_low", "rank_high", "rank_of"):
        frame[col] = pd.array([pd.NA] * len(frame), dtype="Int64")
    ok = ((frame["flag"] != "suppress") & np.isfinite(frame["estimate"])
          & np.isfinite(frame["se"]))
    groups = frame[ok].groupby(([parent] if parent else []) + ["variable"], sort=False)
    for _key, idx in groups.indices.items():
        rows = frame.index[ok][idx]
        sub = frame.loc[rows]
        ranks = rank_intervals(sub["estimate"].to_numpy(), sub["se"].to_numpy(),
                               sub["df"].to_numpy(), alpha=1 - level, method=method)
        frame.loc[rows, "rank"] = ranks["rank"].to_numpy()
        frame.loc[rows, "rank_low"] = ranks["rank_low"].to_numpy()
        frame.loc[rows, "rank_high"] = ranks["rank_high"].to_numpy()
        frame.loc[rows, "rank_of"] = len(rows)
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
    """COPY the rows through the session's connection (``\\N`` = NULL: empty reasons stay
    empty strings)."""
    out = frame.copy()
    out["below"] = out["below"].map({True: "t", False: "f"})
    buf = io.StringIO()
    out.to_csv(buf, index=False, header=False, na_rep="\\N", float_format="%.17g")
    raw = db.session.connection().connection.dbapi_connection
    cols = ", ".join(f'"{c}"' for c in COLUMNS)
    with raw.cursor() as cur, cur.copy(
            f"COPY run_result ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as copy:
        copy.write(buf.getvalue())
    return len(out)


__all__ = ["COUNTRY_CODE", "by_spec", "result_frame", "store"]
