"""National SIPAS run: wall time and peak memory, beside peers doing one domain mean.

Run by hand (not a test)::

    .venv/bin/python benchmarks/national.py                 # generate (once), time, compare
    .venv/bin/python benchmarks/national.py --runs 7 --no-r  # skip R

1. Generates (once, seeded) a synthetic national data set as Parquet: 1,000,000 responses,
   34 provinces (strata), ~3,300 communes, ~10,000 centres (PSUs, 1-5 per commune), the 19
   SIPAS items (nullable int8; N/A ~6%, ~20% on C5), design weights dossiers / responses.
2. Times the full national run in a fresh subprocess, median of ``--runs``: read the Parquet
   file, build the design, all 25 indices (19 criteria, 5 contents, SIPAS) with SE, logit CI
   on each domain's df, deff, n_eff and NCHS flags for the country, every province and every
   commune; then the output table with reasons. Peak memory is the subprocess's maximum
   resident set size (``resource.getrusage``), interpreter and imports included.
3. Peers do the equivalent of ONE index over the communes: the domain mean of one complete
   variable (each respondent's share of satisfied answers), with ``svy`` (Rust kernel),
   ``samplics`` and R ``survey`` ``svyby(svymean)`` (when ``Rscript`` is installed). All three
   are O(rows x domains) in time and svy and R also in memory (svy was killed for memory at
   23 GB on all rows; R's svyby passed 10 GB), so each runs in a memory-capped subprocess on
   whole provinces (1 and 3 of 34), beside ours on the same rows; the full-data time is
   extrapolated by fitting ``t ~ (rows x domains)^b`` to the two points, and said so.
   Their estimates and SEs are compared with ours on the same rows.

Prints a Markdown table (copied into benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ITEMS = [f"C{c}.{k}" for c, m in enumerate([4, 4, 5, 3, 3], 1) for k in range(1, m + 1)]
LEVELS = {"country": None, "province": "province", "commune": "commune"}


# ---------------------------------------------------------------------- data
def generate(path: Path, rows: int = 1_000_000, seed: int = 2025) -> None:
    """Synthetic national data set (seeded): provinces > communes > centres > responses."""
    rng = np.random.default_rng(seed)
    n_prov, n_comm, n_psu_target = 34, 3300, 10_000
    prov_of_comm = np.sort(np.r_[np.arange(n_prov), rng.integers(0, n_prov, n_comm - n_prov)])
    centres = rng.integers(1, 6, n_comm)
    centres = np.maximum(1, np.round(centres * n_psu_target / centres.sum())).astype(int)
    comm_of_psu = np.repeat(np.arange(n_comm), centres)
    n_psu = len(comm_of_psu)
    size = rng.gamma(4.0, 1.0, n_psu)
    psu = np.sort(rng.choice(n_psu, size=rows, p=size / size.sum()))
    comm = comm_of_psu[psu]
    prov = prov_of_comm[comm]
    latent = (1.4 + rng.normal(0, 0.3, n_prov)[prov] + rng.normal(0, 0.3, n_comm)[comm]
              + rng.normal(0, 0.3, n_psu)[psu] + rng.normal(0, 0.8, rows))
    responses = np.bincount(psu, minlength=n_psu)
    dossiers = np.ceil(responses * rng.uniform(2, 30, n_psu))
    frame = pd.DataFrame({
        "province": pd.Categorical(np.char.add("P", np.char.zfill((prov + 1).astype(str), 2))),
        "commune": pd.Categorical(np.char.add("X", np.char.zfill((comm + 1).astype(str), 5))),
        "centre": pd.Categorical(np.char.add("K", np.char.zfill((psu + 1).astype(str), 5))),
        "weight": (dossiers / np.maximum(responses, 1))[psu],
    })
    for item in ITEMS:
        lat = latent + rng.normal(0, 0.5) + rng.normal(0, 0.7, rows)
        sat = rng.random(rows) < 1 / (1 + np.exp(-lat))
        value = np.where(sat, rng.integers(4, 6, rows), rng.integers(1, 4, rows)).astype(float)
        value[rng.random(rows) < (0.2 if item.startswith("C5") else 0.06)] = np.nan
        frame[item] = pd.array(value, dtype="Int8")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


def share_satisfied(data: pd.DataFrame) -> np.ndarray:
    """Each respondent's share of satisfied answers (a complete 0-1 variable)."""
    sat = np.zeros(len(data))
    ans = np.zeros(len(data))
    for item in ITEMS:
        v = data[item].to_numpy(dtype=float, na_value=np.nan)
        sat += v >= 4
        ans += ~np.isnan(v)
    return np.where(ans > 0, sat / np.maximum(ans, 1), 0.0)


# ---------------------------------------------------------------------- our run (subprocess)
def worker_ours(path: str, runs: int, fast_design: bool) -> dict:
    from analysis.design import SurveyDesign
    from analysis.sipas import sipas_indices

    phases: dict[str, list[float]] = {"read": [], "design": [], "indices": [], "table": []}
    totals = []
    cpu = []
    rows = 0
    for _ in range(runs):
        c0 = time.process_time()
        t0 = time.perf_counter()
        data = pd.read_parquet(path)
        t1 = time.perf_counter()
        if fast_design:  # integer codes for the design columns, nesting not re-checked
            design_data = data.assign(**{c: data[c].cat.codes for c in ("province", "centre")})
            design = SurveyDesign.from_frame(design_data, psu="centre", strata="province",
                                             weights="weight", check_strata=False)
        else:
            design = SurveyDesign.from_frame(data, psu="centre", strata="province",
                                             weights="weight")
        t2 = time.perf_counter()
        result = sipas_indices(design, by=LEVELS)
        t3 = time.perf_counter()
        table = result.to_frame(percent=True)
        t4 = time.perf_counter()
        rows = len(table)
        for k, v in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            phases[k].append(v)
        totals.append(t4 - t0)
        cpu.append(time.process_time() - c0)
        del data, design, result, table
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"total": totals, "cpu": cpu,
            "phases": {k: float(np.median(v)) for k, v in phases.items()},
            "peak_mb": peak, "output_rows": rows}


def run_ours(path: Path, runs: int, fast_design: bool) -> dict:
    cmd = [sys.executable, __file__, "--worker", str(path), "--runs", str(runs)]
    if fast_design:
        cmd.append("--fast-design")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- one variable
def ours_one(data: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    import analysis

    t0 = time.perf_counter()
    design = analysis.SurveyDesign.from_frame(
        data.assign(province=data["province"].cat.codes, centre=data["centre"].cat.codes),
        psu="centre", strata="province", weights="weight", check_strata=False)
    est = analysis.mean(design, "y", by="commune")
    elapsed = time.perf_counter() - t0
    frame = pd.DataFrame({"commune": est.domains["commune"].astype(str),
                          "estimate": est.estimate[:, 0], "se": est.se[:, 0]})
    return elapsed, frame


def svy_one(data: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    import polars as pl
    import svy

    frame = pl.from_pandas(data[["province", "commune", "centre", "weight", "y"]].astype(
        {"province": str, "commune": str, "centre": str}))
    t0 = time.perf_counter()
    sample = svy.Sample(frame, svy.Design(stratum="province", psu="centre", wgt="weight"))
    est = sample.estimation.mean("y", by="commune")
    elapsed = time.perf_counter() - t0
    table = est.to_polars() if hasattr(est, "to_polars") else pl.DataFrame(est.to_dict())
    table = table.to_pandas()
    cols = {c.lower(): c for c in table.columns}
    out = pd.DataFrame({"commune": table[cols.get("commune", cols.get("by_level", "commune"))]
                        .astype(str),
                        "estimate": table[cols.get("est", cols.get("estimate", "est"))],
                        "se": table[cols.get("se", "se")]})
    return elapsed, out


def samplics_one(data: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from samplics.estimation import TaylorEstimator
        from samplics.utils.types import PopParam

        t0 = time.perf_counter()
        est = TaylorEstimator(PopParam.mean)
        est.estimate(y=data["y"].to_numpy(), samp_weight=data["weight"].to_numpy(),
                     stratum=data["province"].astype(str).to_numpy(),
                     psu=data["centre"].astype(str).to_numpy(),
                     domain=data["commune"].astype(str).to_numpy())
        elapsed = time.perf_counter() - t0
    out = pd.DataFrame({"commune": [str(k) for k in est.point_est],
                        "estimate": list(est.point_est.values()),
                        "se": [est.stderror[k] for k in est.point_est]})
    return elapsed, out


R_SCRIPT = r"""
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
des <- svydesign(ids = ~centre, strata = ~province, weights = ~weight, data = d)
t <- system.time(r <- svyby(~y, ~commune, des, svymean))[["elapsed"]]
write.csv(data.frame(commune = r$commune, estimate = coef(r), se = SE(r)), args[2],
          row.names = FALSE)
cat(t, "\n")
"""


def r_one(data: pd.DataFrame, workdir: Path) -> tuple[float, pd.DataFrame] | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    src = workdir / "one.csv"
    out = workdir / "r_out.csv"
    script = workdir / "one.R"
    data[["province", "commune", "centre", "weight", "y"]].to_csv(src, index=False)
    script.write_text(R_SCRIPT)
    res = subprocess.run([rscript, str(script), str(src), str(out)], check=True,
                         capture_output=True, text=True)
    elapsed = float(res.stdout.split()[-1])
    table = pd.read_csv(out, dtype={"commune": str})
    return elapsed, table


def max_diff(a: pd.DataFrame, b: pd.DataFrame) -> tuple[float, float]:
    m = a.merge(b, on="commune", suffixes=("_a", "_b"))
    if len(m) != len(a):
        return float("nan"), float("nan")
    return (float(np.abs(m["estimate_a"] - m["estimate_b"]).max()),
            float(np.abs(m["se_a"] - m["se_b"]).max()))


def subsample_provinces(data: pd.DataFrame, k: int) -> pd.DataFrame:
    keep = sorted(data["province"].unique())[:k]
    sub = data[data["province"].isin(keep)].copy()
    for col in ("province", "commune", "centre"):
        sub[col] = sub[col].cat.remove_unused_categories()
    return sub.reset_index(drop=True)


# ---------------------------------------------------------------------- peers (subprocess)
MEMORY_LIMIT = 10 << 30  # address-space cap for a peer's subprocess (svy is O(rows x domains))


def worker_peer(path: str, peer: str, provinces: int) -> dict:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    data = pd.read_parquet(path)
    data["y"] = share_satisfied(data)
    if provinces < data["province"].nunique():
        data = subsample_provinces(data, provinces)
    out = {"peer": peer, "rows": len(data), "domains": int(data["commune"].nunique()),
           "provinces": provinces}
    t_ours, ours = ours_one(data)
    t_ours = min(t_ours, ours_one(data)[0])
    out["ours_seconds"] = t_ours
    try:
        if peer == "svy":
            elapsed, table = svy_one(data)
        elif peer == "samplics":
            elapsed, table = samplics_one(data)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                res = r_one(data, Path(tmp))
            if res is None:
                return {**out, "error": "Rscript not installed"}
            elapsed, table = res
    except MemoryError:
        return {**out, "error": f"out of memory (limit {MEMORY_LIMIT >> 30} GB)"}
    de, ds = max_diff(ours, table)
    return {**out, "seconds": elapsed, "max_diff_estimate": de, "max_diff_se": ds,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_peer(path: Path, peer: str, provinces: int) -> dict:
    cmd = [sys.executable, __file__, "--peer", peer, "--provinces", str(provinces),
           "--data", str(path)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if res.returncode != 0:
        return {"peer": peer, "provinces": provinces,
                "error": f"exit {res.returncode}: {res.stderr.strip().splitlines()[-1:]}"}
    return json.loads(res.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir())
                        / "sipas-bench" / "national.parquet")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-r", action="store_true")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    parser.add_argument("--provinces", type=int, default=34, help=argparse.SUPPRESS)
    parser.add_argument("--fast-design", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker_ours(args.worker, args.runs, args.fast_design)))
        return
    if args.peer:
        print(json.dumps(worker_peer(str(args.data), args.peer, args.provinces)))
        return
    if not args.data.exists():
        t0 = time.perf_counter()
        generate(args.data, args.rows)
        print(f"generated {args.data} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    lines = [f"Machine: {os.cpu_count()} CPUs; load average before: "
             f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}", ""]
    lines += ["| national run (1M responses, 25 indices x (1 + 34 + ~3,300) domains) "
              "| median wall s | CPU s | read | design | indices | table | peak RSS MB |",
              "|---|---|---|---|---|---|---|---|"]
    for fast, label in ((False, "design from the Parquet columns as read"),
                        (True, "design from integer codes, nesting not re-checked")):
        res = run_ours(args.data, args.runs, fast)
        ph = res["phases"]
        lines.append(f"| {label} | {np.median(res['total']):.2f} | "
                     f"{np.median(res['cpu']):.2f} | {ph['read']:.2f} | "
                     f"{ph['design']:.2f} | {ph['indices']:.2f} | {ph['table']:.2f} | "
                     f"{res['peak_mb']:.0f} |")
    print("\n".join(lines), flush=True)
    if args.no_peers:
        return

    data = pd.read_parquet(args.data)
    data["y"] = share_satisfied(data)
    n_rows, n_dom = len(data), int(data["commune"].nunique())
    t_ours = min(ours_one(data)[0] for _ in range(3))
    del data
    rows_out = ["", "| one variable: domain mean over the communes | rows x domains measured "
                "| peer s | ours s, same rows | x ours, same rows | full data: peer s "
                "(extrapolated) | x ours, full data | max abs diff estimate | max abs diff SE |",
                "|---|---|---|---|---|---|---|---|---|",
                f"| ours (`analysis.mean`, by commune) | {n_rows:,} x {n_dom:,} | - | "
                f"{t_ours:.2f} | 1 | {t_ours:.2f} | 1 | - | - |"]
    print(rows_out[-1], flush=True)
    peers = [("svy", [1, 3]), ("samplics", [1, 3])]
    if not args.no_r:
        peers.append(("R", [1, 3]))  # all rows need > 10 GB (svyby keeps every subset)
    for peer, sizes in peers:
        points = []
        for k in sizes:
            res = run_peer(args.data, peer, k)
            if "error" in res:
                rows_out.append(f"| {peer} | {k} province(s) | - | - | - | - | - | - | "
                                f"{res['error']} |")
                print(rows_out[-1], flush=True)
                continue
            points.append(res)
        if not points:
            continue
        big = max(points, key=lambda r: r["rows"])
        if big["rows"] == n_rows:
            full = big["seconds"]
            note = "all rows"
        else:  # rows x domains grows ~ k^2; fit t ~ (rows x domains)^b on the two points
            x = [r["rows"] * r["domains"] for r in points]
            t = [r["seconds"] for r in points]
            b = np.log(t[-1] / t[0]) / np.log(x[-1] / x[0]) if len(points) > 1 else 1.0
            full = big["seconds"] * (n_rows * n_dom / x[-1]) ** b
            note = f"fit t ~ (rows x domains)^{b:.2f}"
        name = {"svy": f"svy {_version('svy')}", "samplics": f"samplics {_version('samplics')}",
                "R": "R survey `svyby(svymean)`"}[peer]
        rows_out.append(
            f"| {name} | {big['rows']:,} x {big['domains']:,} | {big['seconds']:.1f} "
            f"(peak {big['peak_mb']:.0f} MB) | {big['ours_seconds']:.3f} | "
            f"{big['seconds'] / big['ours_seconds']:.0f} | {full:.0f} ({note}) | "
            f"{full / t_ours:.0f} | {big['max_diff_estimate']:.1e} | "
            f"{big['max_diff_se']:.1e} |")
        print(rows_out[-1], flush=True)
    print("\n".join(rows_out))


def _version(name: str) -> str:
    from importlib.metadata import version

    try:
        return version(name)
    except Exception:  # noqa: BLE001
        return "?"


if __name__ == "__main__":
    main()
