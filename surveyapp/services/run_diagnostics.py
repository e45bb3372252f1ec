"""Weighting diagnostics for the run page: collapsed cells and a weight histogram (PNG).

The histogram is drawn server-side with matplotlib's Agg backend (no display, no JS), from
the weight summary kept in ``AnalysisRun.diagnostics`` so it never needs the raw rows again.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

MAX_LISTED = 500


def collapsed_cells(report: pd.DataFrame | None) -> dict[str, Any]:
    """Counts by action and the first cells that were collapsed or left unweighted."""
    if report is None or report.empty:
        return {"counts": {}, "cells": [], "more": 0}
    counts = {str(k): int(v) for k, v in report["action"].value_counts().sort_index().items()}
    bad = report[report["action"] != "weighted"].sort_values(["centre", "field"])
    cells = [
        {"centre": str(r.centre), "field": str(r.field), "responses": int(r.responses),
         "dossiers": int(r.dossiers), "action": str(r.action), "reason_code": str(r.reason_code),
         "weight": None if pd.isna(r.weight) else float(r.weight)}
        for r in bad.head(MAX_LISTED).itertuples(index=False)
    ]
    return {"counts": counts, "cells": cells, "more": max(0, len(bad) - MAX_LISTED)}


def histogram(weights: np.ndarray, bins: int = 30) -> dict[str, list[float]]:
    """Counts of positive weights on a log scale (weights span orders of magnitude)."""
    w = weights[np.isfinite(weights) & (weights > 0)]
    if len(w) == 0:
        return {"edges": [], "counts": []}
    lo, hi = float(w.min()), float(w.max())
    if hi <= lo:
        hi = lo * 1.01 + 1e-9
    edges = np.geomspace(lo, hi, bins + 1)
    counts, _ = np.histogram(w, bins=edges)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def histogram_png(hist: dict[str, list[float]], xlabel: str, ylabel: str) -> bytes:
    """A small PNG bar chart of a stored histogram."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.2), dpi=100)
    ax = fig.add_subplot()
    edges, counts = hist.get("edges", []), hist.get("counts", [])
    if counts:
        ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="#1f5f99",
               edgecolor="white", linewidth=0.5)
        ax.set_xscale("log")
        from matplotlib.ticker import FuncFormatter

        plain = FuncFormatter(lambda v, _pos: f"{v:g}")
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(plain)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


__all__ = ["collapsed_cells", "histogram", "histogram_png"]
