"""Server-side charts for the reports (matplotlib, Agg, no pyplot state).

Why these choices: figures are built with ``matplotlib.figure.Figure`` directly (thread-safe,
nothing global), text uses the bundled DejaVu Sans so Vietnamese diacritics render the same on
every machine, colours come from the Okabe-Ito palette (safe for colour-blind readers), and
every distinction that a colour makes is also made by a marker, a hatch or a word. Charts take
plain data (``surveyapp.charts.series``), so the web routes and the PDF writer draw the same
pictures (the PDF draws its forest plots and heatmaps from that data as vectors, a page of
units at a time: ``surveyapp.exports.pdf_charts``); PNG bytes are cached per (run, province,
chart, language) in the app. matplotlib
itself is imported only when a chart is drawn (``surveyapp.charts.mpl``), not when the app
starts.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

#: Okabe & Ito (2008) colour-blind-safe palette.
BLUE, ORANGE, VERMILLION, SKY, GREEN, GREY = ("#0072B2", "#E69F00", "#D55E00", "#56B4E9",
                                              "#009E73", "#6b6b6b")
DPI = 110
_lock = threading.Lock()


FONT_PROPS = {"family": "DejaVu Sans"}


class ChartCache:
    """A small LRU of PNG bytes; results of a finished run never change, so the key (run,
    province, chart, language, plus what else the picture depends on) is enough."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._data: OrderedDict[tuple, bytes] = OrderedDict()

    def get(self, key: tuple, make: Callable[[], bytes]) -> bytes:
        with _lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        png = make()
        with _lock:
            self._data[key] = png
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return png
