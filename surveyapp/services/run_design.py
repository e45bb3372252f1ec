"""The design of a run: its options (stored as ``AnalysisRun.design``) and how they become an
``analysis.SurveyDesign`` over the period's analysis table.

Defaults (DESIGN.md §4, on-site ratings) and why:

* ``weights = "frame"``: design weight = dossiers settled in the weighting cell / usable
  responses there (``analysis.frame_weights``, its collapsing rule with
  ``min_cell_responses = 5``);
* ``strata = "cell"``: the final weighting cell (centre x procedure field, or the whole
  centre it was collapsed into) is the stratum: every centre takes part, so centres are not
  sampled; weights are constant within a stratum. A cell collapsed to its commune is split
  by centre again (stratum = cell x centre), so strata always nest in centres -- which also
  lets ``run_compare`` split unit-versus-rest contrasts exactly;
* ``psu = "centre_day"``: answers given on one day at one centre share staff and queue, so
  they are clustered (nested in the stratum: ids are unique within strata);
* ``fpc = True``: the stratum's sampling fraction ``f_h = n_h / sum_h w`` (usable responses
  over dossiers) multiplies its with-replacement PSU variance by ``1 - f_h`` -- R
  ``svydesign(fpc=)`` given as sampling fractions does exactly this;
* ``lonely_psu = "adjust"``: a cell whose answers all came on one day has a single PSU. That
  is common for small cells, so ``fail`` would stop most runs, and ``remove``/``certainty``
  would claim no variance; ``adjust`` (centre it at the grand mean, R's
  ``survey.lonely.psu="adjust"``) is the conservative choice;
* ``exclude_flags = ["honeypot"]``: responses that filled the hidden field are bots, not
  citizens. Behavioural flags (bursts, speed) stay in by default: they are suspicion, not
  proof, and bursts happen at the busiest, most representative hours; the design page shows
  each flag's count so the statistician can exclude more;
* ``ci = "logit"`` at ``level = 0.95`` (as R ``svyciprop``); ``calibration = "none"``.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from flask_babel import lazy_gettext as _l

from analysis.design import SurveyDesign

if TYPE_CHECKING:
    from analysis.frame_weights import FrameWeights
from surveyapp.services.run_table import AnalysisTable

STRATA = ("cell", "centre", "province", "none")
PSUS = ("centre_day", "centre", "respondent")
WEIGHTS = ("frame", "equal")
CALIBRATIONS = ("none", "province")
LONELY = ("adjust", "average", "remove", "certainty", "fail")
#: ``analysis.CIMethod`` without "likelihood" (written out so that the web app does not load
#: scipy.stats to draw a form; tests/stats check the two agree)
CI_METHODS = ("logit", "beta", "mean", "xlogit", "asin")
GEOGRAPHIES = ("2025", "2008")
DEFAULT_EXCLUDE = ("honeypot",)

DEFAULTS: dict[str, Any] = {
    "weights": "frame",
    "min_cell_responses": 5,
    "strata": "cell",
    "psu": "centre_day",
    "fpc": True,
    "calibration": "none",
    "exclude_flags": list(DEFAULT_EXCLUDE),
    "ci": "logit",
    "level": 0.95,
    "lonely_psu": "adjust",
    "geography": "2025",
}


class DesignOptionError(ValueError):
    """An impossible combination of options (the message is an English msgid)."""


def normalise(options: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults filled in, values checked; unknown keys refused (a typo must not be ignored)."""
    opts = dict(DEFAULTS)
    given = dict(options or {})
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise DesignOptionError(_l("Unknown design option(s): %(names)s",
                                   names=", ".join(unknown)))
    opts.update(given)
    for key, allowed in (("weights", WEIGHTS), ("strata", STRATA), ("psu", PSUS),
                         ("calibration", CALIBRATIONS), ("lonely_psu", LONELY),
                         ("ci", CI_METHODS), ("geography", GEOGRAPHIES)):
        if opts[key] not in allowed:
            raise DesignOptionError(_l("Design option %(key)s must be one of %(allowed)s",
                                       key=key, allowed=", ".join(allowed)))
    try:
        opts["level"] = float(opts["level"])
        opts["min_cell_responses"] = int(opts["min_cell_responses"])
    except (TypeError, ValueError):
        raise DesignOptionError(_l("The confidence level and the smallest cell size must be "
                                   "numbers")) from None
    if not 0.5 <= opts["level"] < 1:
        raise DesignOptionError(_l("The confidence level must be between 0.5 and 1"))
    if not 1 <= opts["min_cell_responses"] <= 1000:
        raise DesignOptionError(_l("The smallest cell size must be between 1 and 1000"))
    opts["fpc"] = bool(opts["fpc"])
    if isinstance(opts["exclude_flags"], str):
        opts["exclude_flags"] = [f for f in opts["exclude_flags"].split(",") if f]
    opts["exclude_flags"] = sorted({str(f).strip() for f in opts["exclude_flags"]})
    if opts["psu"] == "centre" and opts["strata"] in ("cell", "centre"):
        raise DesignOptionError(_l("With centres as PSUs the strata must be provinces or none"))
    if opts["weights"] == "equal" and (opts["fpc"] or opts["calibration"] != "none"):
        opts["fpc"], opts["calibration"] = False, "none"  # both need the frame
    return opts


@dataclass
class BuiltDesign:
    """The design, the rows it uses, and what the run page and record report about it."""

    design: SurveyDesign
    data: pd.DataFrame
    excluded: dict[str, int]
    diagnostics: dict[str, Any] = field(default_factory=dict)
    frame_report: pd.DataFrame | None = None
    kept: np.ndarray | None = None  # the table's rows in ``data``, in order

    def with_items(self, table: AnalysisTable) -> BuiltDesign:
        """The design with ``table``'s item columns: for a design built from the table's
        :attr:`~surveyapp.services.run_table.TableRead.base` while the answers were read."""
        missing = [c for c in table.items if c not in self.data.columns]
        if not missing:
            return self
        assert self.kept is not None
        values = table.data[missing].iloc[self.kept].reset_index(drop=True)
        design = dataclasses.replace(
            self.design, data=pd.concat([self.design.data, values], axis=1))
        return dataclasses.replace(self, design=design,
                                   data=pd.concat([self.data, values], axis=1))


def _weighting_field(table: pd.DataFrame, frame: pd.DataFrame) -> pd.Series:
    """Field used for weighting: ``*`` at centres whose frame gives one all-fields count."""
    all_only = set(frame.loc[frame["field"] == "*", "centre"])
    return table["field_code"].where(~table["centre_code"].isin(all_only), "*")


def build(table: AnalysisTable, frame: pd.DataFrame, opts: dict[str, Any]) -> BuiltDesign:
    """Weights (frame or equal), strata, PSUs, fpc and calibration as ``opts`` say."""
    from analysis.frame_weights import frame_weights  # loaded by the first run
    from analysis.weights import weight_summary

    data = table.data
    flags = data["flags"]
    excluded: dict[str, int] = {}
    usable = np.ones(len(data), dtype=bool)
    for code in opts["exclude_flags"]:
        hit = flags.str.contains(rf"(?:^|;){code}(?:;|$)", regex=True).to_numpy()
        excluded[f"flag:{code}"] = int((hit & usable).sum())
        usable &= ~hit
    fw: FrameWeights | None = None
    if opts["weights"] == "frame":
        resp = pd.DataFrame({"centre": data["centre_code"],
                             "field": _weighting_field(data, frame),
                             "commune": data["unit_key"]})
        fw = frame_weights(resp, frame, centre="centre", field="field", period=None,
                           commune="commune", count="dossiers", usable=usable,
                           min_responses=opts["min_cell_responses"])
        w = fw.weights.to_numpy(dtype=float)
        keep = usable & np.isfinite(w)
        excluded["not_weighted"] = int(len(fw.unweighted))
        cell = fw.weighting_cell.to_numpy()
    else:
        w = np.ones(len(data))
        keep = usable
        cell = (data["centre_code"] + "/" + data["field_code"]).to_numpy()
    rows = data.loc[keep].reset_index(drop=True)
    # provincial centres have no commune: missing, so they leave the commune level only
    rows["commune_code"] = rows["commune_code"].replace("", np.nan)
    rows["w"] = w[keep]
    rows["cell"] = cell[keep]
    if rows.empty:
        raise DesignOptionError(_l("No usable response is left to analyse"))
    strata_col = {"cell": "cell", "centre": "centre_code", "province": "province_code",
                  "none": None}[opts["strata"]]
    psu_col = {"centre_day": "psu_day", "centre": "centre_code", "respondent": None}[opts["psu"]]
    design_cols: dict[str, Any] = {"weights": "w", "nest": True,
                                   "lonely_psu": opts["lonely_psu"]}
    if strata_col is not None:
        key = rows[strata_col]
        if strata_col == "cell":  # a cell merged at commune level is split by centre again
            key = key + "|" + rows["centre_code"]
        rows["_stratum"] = pd.factorize(key, sort=True)[0]
        design_cols["strata"] = "_stratum"
    if psu_col is not None:
        rows["_psu"] = pd.factorize(rows[psu_col], sort=True)[0]
        design_cols["psu"] = "_psu"
    if opts["fpc"]:
        key = rows["_stratum"] if strata_col is not None else pd.Series(0, index=rows.index)
        n_h = key.map(key.value_counts())
        w_h = rows["w"].groupby(key).transform("sum")
        frac = (n_h / w_h).clip(upper=1.0)
        rows["_fpc"] = frac.to_numpy(dtype=float)
        design_cols["fpc"] = "_fpc"
    design = SurveyDesign.from_frame(rows, check_strata=False, **design_cols)
    base = design
    diagnostics: dict[str, Any] = {}
    if opts["calibration"] == "province":
        design, note = _poststratify_provinces(design, rows, frame, table)
        diagnostics["calibration"] = note
    summary = weight_summary(design.weights, base=base.weights if base is not design else None)
    diagnostics["weights"] = summary.to_dict()
    diagnostics["n_used"] = int(len(rows))
    if opts["fpc"]:
        diagnostics["census_strata"] = int((rows.groupby("_stratum")["_fpc"].first() >= 1
                                            ).sum()) if strata_col else 0
    if fw is not None:
        diagnostics["frame"] = {k: (float(v) if isinstance(v, float) else int(v))
                                for k, v in fw.summary().items()}
    return BuiltDesign(design=design, data=rows, excluded=excluded, diagnostics=diagnostics,
                       frame_report=None if fw is None else fw.report,
                       kept=np.flatnonzero(keep))


def _poststratify_provinces(design: SurveyDesign, rows: pd.DataFrame, frame: pd.DataFrame,
                            table: AnalysisTable) -> tuple[SurveyDesign, dict[str, Any]]:
    """Post-stratify to the frame's dossiers per province (province of the centre as its
    responses carry it; frame centres without responses have no province here)."""
    from analysis.calibration import poststratify

    centre_prov = (table.data.drop_duplicates("centre_code")
                   .set_index("centre_code")["province_code"])
    f = frame.assign(province_code=frame["centre"].map(centre_prov)).dropna(
        subset=["province_code"])
    totals = f.groupby("province_code")["dossiers"].sum()
    present = set(rows["province_code"])
    table_ = pd.DataFrame({"province_code": totals.index, "Freq": totals.to_numpy(float)})
    table_ = table_[table_["province_code"].isin(present) & (table_["Freq"] > 0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = poststratify(design, "province_code", table_)
    return out, {"method": "poststratify", "margin": "province_code",
                 "cells": int(len(table_))}


__all__ = ["BuiltDesign", "DEFAULTS", "DesignOptionError", "build", "normalise"]
