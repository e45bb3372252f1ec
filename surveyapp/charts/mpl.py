"""matplotlib set-up for the charts: Agg backend, bundled DejaVu fonts, figure helpers.

Imported only by the drawing code, so starting the app (a gunicorn worker, any CLI command)
does not pay for importing matplotlib.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from surveyapp.charts import DPI  # noqa: E402

FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"
_fonts_ready = False
_lock = threading.Lock()


def _register_fonts() -> None:
    global _fonts_ready
    if _fonts_ready:
        return
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
        path = FONT_DIR / name
        if path.exists():
            font_manager.fontManager.addfont(str(path))
    _fonts_ready = True


def new_figure(width: float, height: float) -> Figure:
    _register_fonts()
    fig = Figure(figsize=(width, height), dpi=DPI)
    fig.set_layout_engine("constrained")
    return fig


def style(ax: object) -> None:
    """Quiet axes: no top/right spines, light grid."""
    ax.spines[["top", "right"]].set_visible(False)  # type: ignore[attr-defined]
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)  # type: ignore[attr-defined]
    ax.set_axisbelow(True)  # type: ignore[attr-defined]


def to_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()
