"""Indices, unit-versus-rest contrasts and storing of one run, overlapped.

A level's rows need its indices (``analysis.sipas_indices``) and its contrasts
(``run_compare.vs_rest``); the levels do not depend on each other. So two threads compute
the levels one by one -- the indices and the contrasts, centres first (three quarters of a
national run's rows) -- and this thread stores each level with ``COPY`` as soon as both
halves of it are there: PostgreSQL inserts the centres' rows while the threads work on the
communes. The threads spend most of their time in numpy, which releases the GIL; the
database is used by this thread only. The numbers are those of one plain
``sipas_indices`` call: only the order in which the levels are finished changes.
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass, field
from typing import Any

from analysis.sipas import SipasResult, sipas_indices
from surveyapp.services import run_results
from surveyapp.services.run_answers import InBackground
from surveyapp.services.run_compare import vs_rest

#: levels in the order they are computed: the largest first
LEVEL_ORDER = ("centre", "commune", "province", "country")


@dataclass
class Estimated:
    """What the run records about this stage."""

    n_rows: int = 0
    how: str = ""  # run_compare.vs_rest's note
    timing: dict[str, float] = field(default_factory=dict)


def estimate_and_store(run_id: int, design: Any, items: list[str], opts: dict[str, Any]
                       ) -> Estimated:
    """Compute every level's indices and contrasts and store its rows (in the session's
    transaction, not committed)."""
    t0 = time.perf_counter()
    spec = run_results.by_spec()
    by = {name: spec[name] for name in sorted(spec, key=_rank)}
    contrasted = {name: cols for name, cols in sorted(run_results.unit_levels().items(),
                                                      key=lambda kv: _rank(kv[0]))}
    done: queue.Queue[tuple[str, str, Any] | None] = queue.Queue()

    def indices() -> float:
        try:
            sipas_indices(design, items=items, by=by, level=opts["level"], ci=opts["ci"],
                          on_level=lambda one: done.put(("indices", one.levels[0].name, one)))
            return time.perf_counter() - t0
        finally:
            done.put(None)

    def contrasts() -> tuple[str, float]:
        try:
            _, how = vs_rest(design, items, opts["strata"], contrasted, opts["level"],
                             on_level=lambda name, table: done.put(("rest", name, table)))
            return how, time.perf_counter() - t0
        finally:
            done.put(None)

    workers = [InBackground(indices), InBackground(contrasts)]
    out = Estimated()
    stored: set[str] = set()
    try:
        got: dict[str, dict[str, Any]] = {"indices": {}, "rest": {}}
        finished = 0
        while finished < len(workers):
            item = done.get()
            if item is None:
                finished += 1
                continue
            kind, name, value = item
            got[kind][name] = value
            if name in got["indices"] and (name in got["rest"] or name not in contrasted):
                result: SipasResult = got["indices"].pop(name)  # stored: let it go
                out.n_rows += run_results.store(run_id, run_results.level_frame(
                    result, name, got["rest"].pop(name, None), opts["level"]))
                stored.add(name)
    finally:
        for worker in workers:
            worker.wait()
    out.timing["indices"] = workers[0].result()
    out.how, out.timing["compare"] = workers[1].result()
    if stored != set(by):  # cannot happen unless a level is missing from a result
        raise RuntimeError(f"levels not stored: {sorted(set(by) - stored)}")
    out.timing["stored"] = time.perf_counter() - t0
    return out


def _rank(name: str) -> int:
    return LEVEL_ORDER.index(name) if name in LEVEL_ORDER else len(LEVEL_ORDER)


__all__ = ["LEVEL_ORDER", "Estimated", "estimate_and_store"]
