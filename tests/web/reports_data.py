"""Synthetic but realistic analysis runs for the report tests (until the run pipeline is used).

Rows are made the way the pipeline makes them: per criterion a proportion with a design-based
variance (deff ~ 1.6), logit intervals, the NCHS reliability flags and reason codes from
``analysis.reliability``, contents as means of criteria and SIPAS as the mean of contents,
joint rank intervals (``analysis.compare.rank_intervals``) and unit-versus-rest differences
with Holm adjustment (``analysis.compare.holm``) inside each province. Seeded, so every test
sees the same numbers. Hà Nội gets extra communes (so forests and heatmaps look like a real
province), one commune too small to publish, and one weak commune significantly below.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from scipy import special, stats
from sqlalchemy import insert, select

from analysis.compare import holm, rank_intervals
from analysis.reliability import assess_proportions

ITEMS = ["C1.1", "C1.2", "C1.3", "C1.4", "C2.1", "C2.2", "C2.3", "C2.4", "C3.1", "C3.2",
         "C3.3", "C3.4", "C3.5", "C4.1", "C4.2", "C4.3", "C5.1", "C5.2", "C5.3"]
CONTENTS = ["C1", "C2", "C3", "C4", "C5"]
#: Extra Hà Nội communes (illustrative codes) so the province has a dozen units.
EXTRA_COMMUNES = [
    ("01", "00190", "phuong", "Phường Tây Hồ", "Tay Ho Ward"),
    ("01", "00256", "phuong", "Phường Cầu Giấy", "Cau Giay Ward"),
    ("01", "00352", "phuong", "Phường Đống Đa", "Dong Da Ward"),
    ("01", "00451", "phuong", "Phường Hai Bà Trưng", "Hai Ba Trung Ward"),
    ("01", "09217", "phuong", "Phường Hà Đông", "Ha Dong Ward"),
    ("01", "00577", "phuong", "Phường Long Biên", "Long Bien Ward"),
    ("01", "00730", "xa", "Xã Đông Anh", "Dong Anh Commune"),
    ("01", "10261", "xa", "Xã Ba Vì", "Ba Vi Commune"),
    ("01", "10480", "xa", "Xã Thạch Thất", "Thach That Commune"),
]
#: Units of province 79 whose names must never appear on Hà Nội's pages.
OTHER_PROVINCE_NAMES = ["Hồ Chí Minh", "Sài Gòn", "Thủ Dầu Một", "Côn Đảo"]


@dataclass(frozen=True)
class RunInfo:
    id: int
    period: str


def ensure_units() -> None:
    """Add the extra Hà Nội communes and their centres (idempotent)."""
    from surveyapp.extensions import db
    from surveyapp.models import ServiceCentre
    from surveyapp.models.geography import REFORM_DATE
    from surveyapp.services import reference
    from surveyapp.services.demo import _centre

    for prov_code, code, kind, vi, en in EXTRA_COMMUNES:
        prov = reference.province(prov_code, REFORM_DATE)
        unit, _ = reference.upsert_unit(code=code, level="commune", name_vi=vi, name_en=en,
                                        kind=kind, valid_from=REFORM_DATE, valid_to=None,
                                        parent=prov)
        db.session.flush()
        if db.session.scalar(select(ServiceCentre).where(ServiceCentre.code == f"X{code}")) is None:
            lower = vi[0].lower() + vi[1:]
            _centre(f"X{code}", unit.id, "commune-centre",
                    f"Trung tâm Phục vụ hành chính công {lower}",
                    f"Public Administrative Service Centre, {en}", 2)
    db.session.commit()


def _units() -> list[tuple[str, str, str]]:
    """(level, code, province code) of every commune and centre with a parent province."""
    from surveyapp.extensions import db
    from surveyapp.models import ServiceCentre

    out = []
    for centre in db.session.scalars(select(ServiceCentre).order_by(ServiceCentre.code)):
        unit = centre.unit
        prov = unit.province.code
        if unit.level == "commune":
            out.append(("commune", unit.code, prov))
        out.append(("centre", centre.code, prov))
    return out


def _logit_ci(p: np.ndarray, se: np.ndarray, df: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q = stats.t.ppf(0.975, np.maximum(df, 1))
    half = q * se / np.maximum(p * (1 - p), 1e-9)
    lo, hi = special.logit(np.clip(p, 1e-9, 1 - 1e-9)) - half, special.logit(
        np.clip(p, 1e-9, 1 - 1e-9)) + half
    return special.expit(lo), special.expit(hi)


def _unit_rows(rng: np.random.Generator, level: str, code: str, prov: str | None, n: int,
               df: float, base: float) -> list[dict]:
    item_p = np.clip(base + rng.normal(0, 0.035, len(ITEMS)), 0.3, 0.99)
    item_n = np.maximum((n * rng.uniform(0.7, 1.0, len(ITEMS))).astype(int), 0)
    item_n[-3:] = (item_n[-3:] * 0.7).astype(int)  # C5: many N/A
    deff = rng.uniform(1.2, 2.2)
    item_var = np.where(item_n > 0, item_p * (1 - item_p) * deff / np.maximum(item_n, 1), np.nan)
    cont_p = np.array([item_p[[i for i, it in enumerate(ITEMS) if it.startswith(c + ".")]].mean()
                       for c in CONTENTS])
    cont_var = np.array([item_var[[i for i, it in enumerate(ITEMS) if it.startswith(c + ".")]]
                         .mean() * 0.55 for c in CONTENTS])
    sip_p = np.array([cont_p.mean()])
    sip_var = np.array([cont_var.mean() * 0.45])
    p = np.concatenate([item_p, cont_p, sip_p])
    var = np.concatenate([item_var, cont_var, sip_var])
    nn = np.concatenate([item_n, [n] * 5, [n]]).astype(float)
    dfs = np.full(len(p), df)
    a = assess_proportions(p, var, nn, dfs)
    se = np.sqrt(var)
    lo, hi = _logit_ci(p, se, dfs)
    stat = ["criterion"] * len(ITEMS) + ["content"] * 5 + ["sipas"]
    rows = []
    for k, var_name in enumerate([*ITEMS, *CONTENTS, "SIPAS"]):
        rows.append({
            "level": level, "unit_code": code, "province_code": prov, "statistic": stat[k],
            "variable": var_name, "estimate": float(p[k]), "se": float(se[k]),
            "ci_low": float(lo[k]), "ci_high": float(hi[k]), "df": float(df),
            "deff": float(deff), "n": int(nn[k]), "n_eff": float(a.n_eff[k]),
            "flag": str(a.flag[k]), "reason": str(a.reason_code[k]),
        })
    return rows


def _rank_and_compare(rows: list[dict]) -> None:
    """Ranks and unit-vs-rest (Holm) per (province, level, variable), as the pipeline does."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["level"] in ("commune", "centre"):
            groups.setdefault((r["province_code"], r["level"], r["variable"]), []).append(r)
    for members in groups.values():
        ranked = [r for r in members if r["flag"] != "suppress"]
        if len(ranked) >= 2:
            est = np.array([r["estimate"] for r in ranked])
            se = np.array([r["se"] for r in ranked])
            ri = rank_intervals(est, se, np.array([r["df"] for r in ranked]))
            total_n = sum(r["n"] for r in ranked)
            pvals = []
            for r, (_i, q) in zip(ranked, ri.iterrows(), strict=True):
                r.update(rank=int(q["rank"]), rank_low=int(q["rank_low"]),
                         rank_high=int(q["rank_high"]), rank_of=len(ranked))
                rest = [o for o in ranked if o is not r]
                w = np.array([o["n"] for o in rest], dtype=float)
                rest_p = float(np.average([o["estimate"] for o in rest], weights=w))
                se2 = np.array([o["se"] ** 2 for o in rest])
                rest_var = float(np.sum((w / w.sum()) ** 2 * se2))
                diff = r["estimate"] - rest_p
                s = np.sqrt(r["se"] ** 2 + rest_var) * (1 - r["n"] / (total_n * 2))
                r.update(diff_rest=diff, diff_low=diff - 1.96 * s, diff_high=diff + 1.96 * s,
                         p_value=float(2 * stats.norm.sf(abs(diff) / s)))
                pvals.append(r["p_value"])
            adj = holm(np.array(pvals))
            for r, ph in zip(ranked, adj, strict=True):
                r.update(p_holm=float(ph), below=bool(ph < 0.05 and r["diff_rest"] < 0))


def make_run(period: str = "2026-Q1", start: dt.date = dt.date(2026, 1, 1),
             end: dt.date = dt.date(2026, 4, 1), *, published: bool = True, seed: int = 1,
             shift: float = 0.0, reaggregated: bool = False,
             questionnaire: str = "sipas-2023.v1") -> RunInfo:
    """One finished run with rows for the country, provinces 01, 48, 79, their communes and
    centres (call inside an app context)."""
    from surveyapp.extensions import db
    from surveyapp.models import AnalysisRun, Period, RunResult

    ensure_units()
    per = db.session.scalar(select(Period).where(Period.code == period))
    if per is None:
        label = period.replace("-Q", " – quý ")
        per = Period(code=period, label_vi=label, label_en=period.replace("-", " "),
                     start_date=start, end_date=end)
        db.session.add(per)
        db.session.flush()
    now = dt.datetime(2026, 5, 1, 9, 0) + dt.timedelta(days=seed)
    run = AnalysisRun(
        period_id=per.id, status="done", progress=1.0, created_at=now, started_at=now,
        finished_at=now, design={"strata": "centre", "psu": "centre-day", "weights": "frame",
                                 "ci_method": "logit", "questionnaire": questionnaire,
                                 "exclude_flags": ["burst"]},
        input_hash="0" * 64, code_version="test", geography="2025", reaggregated=reaggregated,
        n_responses=0, published=published, published_at=now if published else None)
    db.session.add(run)
    db.session.flush()
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    base = {"01": 0.84 + shift, "48": 0.86 + shift, "79": 0.80 + shift}
    total = 0
    for level, code, prov in _units():
        if prov not in base:
            continue
        n = int(rng.integers(140, 420)) if level == "centre" or code != "10480" else 18
        b = base[prov] + rng.normal(0, 0.025) - (0.10 if code in ("00730", "X00730") else 0)
        rows += _unit_rows(rng, level, code, prov, n, df=float(min(60, n // 6)), base=b)
        if level == "centre":
            total += n
    for prov, b in base.items():
        rows += _unit_rows(rng, "province", prov, prov, 1500, 120.0, b)
    rows += _unit_rows(rng, "country", "VN", None, 4500, 300.0, float(np.mean(list(base.values()))))
    _rank_and_compare(rows)
    run.n_responses = total
    db.session.execute(insert(RunResult), [{"run_id": run.id, **r} for r in rows])
    db.session.commit()
    return RunInfo(run.id, period)


def make_runs(app) -> dict[str, RunInfo]:  # noqa: ANN001 - Flask app
    """Published: Q2 2025 (before the reform, re-aggregated to the 34 provinces), Q4 2025 and
    Q1 2026 (the latest); unpublished: Q2 2026."""
    with app.app_context():
        return {
            "reaggregated": make_run("2025-Q2", dt.date(2025, 4, 1), dt.date(2025, 7, 1),
                                     seed=5, shift=-0.05, reaggregated=True),
            "previous": make_run("2025-Q4", dt.date(2025, 10, 1), dt.date(2026, 1, 1), seed=7,
                                 shift=-0.03),
            "current": make_run(seed=1),
            "unpublished": make_run("2026-Q2", dt.date(2026, 4, 1), dt.date(2026, 7, 1),
                                    published=False, seed=3, shift=0.05),
        }
