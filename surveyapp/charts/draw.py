"""The three report charts: forest plot, content-by-unit heatmap, trend with bands."""

from __future__ import annotations

import textwrap

import numpy as np
from flask_babel import gettext as _
from matplotlib.patches import Patch, Rectangle

from surveyapp.charts import BLUE, GREY, SKY, VERMILLION
from surveyapp.charts.mpl import new_figure, style, to_png
from surveyapp.charts.series import Forest, Heatmap, Trend, forest_range, heatmap_scale
from surveyapp.reports import fmt
from surveyapp.reports.labels import content_name


def _pct_axis(ax: object, lang: str, axis: str = "x") -> None:
    from matplotlib.ticker import FuncFormatter

    formatter = FuncFormatter(lambda v, _pos: fmt.pct(v, lang, 0))
    getattr(ax, f"{axis}axis").set_major_formatter(formatter)


def _short(text: str, limit: int = 38) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def forest_png(data: Forest, lang: str) -> bytes:
    """Units with 95% intervals; the province as a vertical line with its band; units
    significantly below the rest of the province drawn as triangles and named so in words;
    suppressed units listed with a sentence instead of a point."""
    n = max(len(data.units), 1)
    fig = new_figure(8.0, 1.6 + 0.34 * n)
    ax = fig.add_subplot()
    style(ax)
    ref = data.reference
    x0, x1 = data.xlim or forest_range(data.units, ref)
    if ref and ref.estimate is not None:
        if ref.low is not None and ref.high is not None:
            ax.axvspan(ref.low, ref.high, color="#e8e8e8", zorder=0)
        ax.axvline(ref.estimate, color=GREY, linestyle="--", linewidth=1.2, zorder=1)
    for i, u in enumerate(data.units):
        y = n - 1 - i
        if u.estimate is None:
            ax.text(x0 + 0.005, y, _("not reliable enough to publish"), va="center",
                    fontsize=8, color=GREY, style="italic")
            continue
        color = VERMILLION if u.below else BLUE
        marker = "v" if u.below else "o"
        face = "white" if u.flag == "review" else color
        ax.plot([u.low, u.high], [y, y], color=color, linewidth=1.6, zorder=2)
        ax.plot([u.estimate], [y], marker=marker, markersize=7, color=color,
                markerfacecolor=face, zorder=3)
        note = fmt.pct(u.estimate, lang) + (" *" if u.flag == "review" else "")
        if u.below:
            note += "  " + _("below the rest")
        ax.text(min((u.high or u.estimate) + 0.006, x1), y, note, va="center", fontsize=8,
                color=color)
    ax.set_yticks(range(n))
    ax.set_yticklabels([_short(u.label) for u in reversed(data.units)], fontsize=9)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlim(x0, x1 + 0.06)
    _pct_axis(ax, lang)
    ax.set_xlabel(_("Satisfaction index (SIPAS) with %(level)s confidence interval",
                    level="95%"), fontsize=9)
    ax.set_title(data.title, fontsize=11, loc="left")
    handles = [
        ax.plot([], [], marker="o", color=BLUE, linestyle="-")[0],
        ax.plot([], [], marker="v", color=VERMILLION, linestyle="-")[0],
        ax.plot([], [], color=GREY, linestyle="--")[0],
    ]
    labels = [_("Unit (%(level)s CI)", level="95%"),
              _("Significantly below the rest of the province (Holm)"),
              _("Province: %(name)s", name=ref.label if ref else "")]
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    return to_png(fig)


def heatmap_png(data: Heatmap, lang: str) -> bytes:
    """Percent satisfied per unit and content on a colour-blind-safe scale (cividis), the
    number written in every cell; suppressed cells hatched grey with a dash, never a number."""
    import matplotlib

    n_rows, n_cols = max(len(data.rows), 1), len(data.columns)
    fig = new_figure(8.0, 2.0 + 0.34 * n_rows)
    ax = fig.add_subplot()
    values = np.array([[c.estimate if c.estimate is not None else np.nan for c in row]
                       for row in data.cells] or [[np.nan] * n_cols], dtype=float)
    vmin, vmax = data.scale or heatmap_scale(data.cells)
    cmap = matplotlib.colormaps["cividis"]
    norm = matplotlib.colors.Normalize(vmin, vmax)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto")
    for i, row in enumerate(data.cells):
        for j, cell in enumerate(row):
            if cell.estimate is None:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="#d9d9d9",
                                       edgecolor="#8c8c8c", hatch="///", linewidth=0.5))
                ax.text(j, i, "—", ha="center", va="center", fontsize=9, color="#333333")
                continue
            r, g, b, _a = cmap(norm(cell.estimate))
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.55
            text = fmt.pct(cell.estimate, lang) + ("*" if cell.flag == "review" else "")
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")
    ax.set_xticks(range(n_cols))
    ax.set_xticklabels([c if c != "SIPAS" else "SIPAS" for c in data.columns], fontsize=9)
    ax.set_yticks(range(len(data.rows)))
    ax.set_yticklabels([_short(r) for r in data.rows], fontsize=9)
    ax.tick_params(top=True, labeltop=True, bottom=False, labelbottom=False)
    ax.set_title(data.title, fontsize=11, loc="left")
    bar = fig.colorbar(image, ax=ax, shrink=0.7, pad=0.02)
    _pct_axis(bar.ax, lang, "y")
    legend = [Patch(facecolor="#d9d9d9", edgecolor="#8c8c8c", hatch="///",
                    label=_("Not reliable enough to publish (no number shown)")),
              Patch(facecolor="white", edgecolor="white", label=_("* use with caution"))]
    keys = "; ".join(f"{c}: {content_name(c, lang)}" for c in data.columns if c != "SIPAS")
    ax.set_xlabel(textwrap.fill(keys, 120), fontsize=7, color=GREY)
    fig.legend(handles=legend, loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    return to_png(fig)


def trend_png(data: Trend, lang: str) -> bytes:
    """SIPAS across published periods: the province with its 95% band, the country dashed;
    a vertical marker where the series breaks (new questionnaire or re-aggregation)."""
    fig = new_figure(8.0, 3.6)
    ax = fig.add_subplot()
    style(ax)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    x = np.arange(len(data.periods))

    def arrays(points: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        def get(attr: str) -> np.ndarray:
            return np.array([getattr(p, attr) if p.estimate is not None else np.nan
                             for p in points], dtype=float)

        return get("estimate"), get("low"), get("high")

    est, lo, hi = arrays(data.province)
    cest, _clo, _chi = arrays(data.country)
    # the line and band stop at a series break: the two sides are not one series
    cuts = [0, *data.breaks, len(x)]
    for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        first = k == 0
        ax.fill_between(x[a:b], lo[a:b], hi[a:b], color=SKY, alpha=0.35, linewidth=0,
                        label=_("%(level)s confidence band", level="95%") if first else None)
        ax.plot(x[a:b], est[a:b], color=BLUE, marker="o", linewidth=2,
                label=data.title if first else None)
        ax.plot(x[a:b], cest[a:b], color=GREY, linestyle="--", marker="s", markersize=4,
                label=_("Country") if first else None)
    ok = np.isfinite(est) & np.isfinite(lo) & np.isfinite(hi)
    ax.errorbar(x[ok], est[ok], yerr=[est[ok] - lo[ok], hi[ok] - est[ok]], fmt="none",
                ecolor=BLUE, elinewidth=1, capsize=3)
    for i, re_agg in enumerate(data.reaggregated):
        if re_agg and np.isfinite(est[i]):
            ax.plot([x[i]], [est[i]], marker="o", markersize=9, markerfacecolor="white",
                    color=BLUE, zorder=4)
    for i, v in enumerate(est):
        if np.isfinite(v):
            ax.annotate(fmt.pct(v, lang), (x[i], v), textcoords="offset points",
                        xytext=(0, 8), ha="center", fontsize=8, color=BLUE)
        else:
            ax.annotate(_("suppressed"), (x[i], np.nanmean(est) if np.isfinite(est).any()
                                          else 0.8), ha="center", fontsize=8, color=GREY)
    for b in data.breaks:
        ax.axvline(b - 0.5, color=VERMILLION, linestyle=":", linewidth=1.5)
        ax.text(b - 0.5, 1.0, " " + _("series break"), transform=ax.get_xaxis_transform(),
                color=VERMILLION, fontsize=8, va="top")
    ax.set_xticks(x)
    ax.set_xticklabels(data.periods, fontsize=9)
    ax.set_xlim(-0.5, max(len(x) - 0.5, 0.5))
    finite = np.concatenate([lo[np.isfinite(lo)], hi[np.isfinite(hi)], cest[np.isfinite(cest)]])
    if finite.size:
        ax.set_ylim(max(0.0, finite.min() - 0.04), min(1.0, finite.max() + 0.05))
    _pct_axis(ax, lang, "y")
    ax.set_ylabel(_("Satisfaction index (SIPAS)"), fontsize=9)
    if any(data.reaggregated):
        ax.plot([], [], marker="o", markerfacecolor="white", color=BLUE, linestyle="none",
                label=_("Re-aggregated to the 34 provinces"))
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    return to_png(fig)
