"""The analysis table of a finished run, with its weights and design columns, as a file.

This is the reproducibility promise made concrete: the file holds exactly the rows and
columns the run estimated from (``w`` the final weight, ``_stratum``, ``_psu``, ``_fpc`` as
integer codes and sampling fractions), and :func:`command` prints the ``python -m analysis``
call that gives the run's numbers from it. The table is rebuilt from the database; when the
data changed since the run, its input hash no longer matches and the export says so.
"""

from __future__ import annotations

from pathlib import Path

from surveyapp.models import AnalysisRun
from surveyapp.services import run_design
from surveyapp.services.frames import load_frame
from surveyapp.services.run_table import load_table, table_hash

EXPORT_COLUMNS = ["response_id", "province_code", "commune_code", "centre_code", "field_code",
                  "channel", "day", "flags", "cell", "w"]


class StaleRun(ValueError):
    """The period's data changed after the run: the rebuilt table is not the run's input."""


def build_rows(run: AnalysisRun):  # noqa: ANN201 - returns (DataFrame, options)
    opts = run_design.normalise(run.design)
    table = load_table(run.period, opts["geography"])
    frame = load_frame(run.period)
    if table_hash(table, frame) != run.input_hash:
        raise StaleRun(f"the responses or frame of period {run.period.code} changed after "
                       f"run {run.id}; start a new run")
    built = run_design.build(table, frame, opts)
    rows = built.data.copy()
    rows["w"] = built.design.weights
    design_cols = [c for c in ("_stratum", "_psu", "_fpc") if c in rows]
    return rows[EXPORT_COLUMNS + design_cols + table.items], opts


def command(path: str, columns: list[str], opts: dict) -> str:
    """The ``python -m analysis estimate`` call that reproduces the run's indices."""
    parts = ["python -m analysis estimate", path, "--weights w"]
    if "_stratum" in columns:
        parts.append("--strata _stratum")
    if "_psu" in columns:
        parts.append("--psu _psu --nest")
    if "_fpc" in columns:
        parts.append("--fpc _fpc")
    parts += [f"--lonely-psu {opts['lonely_psu']}", "--sipas", f"--ci {opts['ci']}",
              f"--level {opts['level']}", "--by province_code"]
    if opts["calibration"] != "none":
        parts.append("# then post-stratify by province as the run did (w is already final)")
    return " ".join(parts)


def export(run: AnalysisRun, path: Path) -> str:
    """Write the run's analysis table to ``path`` (CSV, UTF-8); returns the command."""
    rows, opts = build_rows(run)
    rows.to_csv(path, index=False, float_format="%.17g")
    return command(str(path), list(rows.columns), opts)


__all__ = ["StaleRun", "command", "export"]
