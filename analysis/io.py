"""Read input tables (CSV, XLSX, Parquet) and write result tables (CSV, JSON, XLSX).

Codes such as province "01" or commune "00004" must keep their leading zeros, so CSV columns
are read as text and converted to numbers only where an estimator needs numbers. CSV must be
UTF-8 (a byte-order mark is accepted); a file in another encoding gets an error that says so
rather than silently garbled Vietnamese names.
"""

from __future__ import annotations

import io
import json
import math
import sys
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from analysis.errors import SurveyError

READ_FORMATS = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".parquet": "parquet",
                ".pq": "parquet"}
WRITE_FORMATS = ("csv", "json", "xlsx")


class InputError(SurveyError):
    """A data or margin file cannot be read."""


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (UTF-8), XLSX (first sheet) or Parquet file into a DataFrame."""
    path = Path(path)
    kind = READ_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InputError(
            f"Cannot read '{path.name}': use a .csv, .xlsx or .parquet file"
        )
    if not path.is_file():
        raise InputError(f"File not found: {path}")
    try:
        if kind == "csv":
            return _read_csv(path)
        if kind == "xlsx":
            return pd.read_excel(path, sheet_name=0, engine="openpyxl")
        return pd.read_parquet(path)
    except InputError:
        raise
    except (ValueError, OSError, KeyError, ImportError) as exc:  # corrupt or wrong-type file
        raise InputError(f"Cannot read '{path.name}' as {kind.upper()}: {exc}") from exc


def _read_csv(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"'{path.name}' is not UTF-8 text (byte {exc.start + 1}); save it as CSV UTF-8"
        ) from None
    if not text.strip():
        raise InputError(f"'{path.name}' is empty")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                            na_values=[""], skipinitialspace=True)
    except pd.errors.ParserError as exc:
        raise InputError(f"'{path.name}' is not a well-formed CSV: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def read_margin(path: str | Path, columns: list[str]) -> pd.DataFrame:
    """A calibration margin: the margin's column(s) and ``Freq`` (population count)."""
    frame = read_table(path)
    missing = [c for c in [*columns, "Freq"] if c not in frame.columns]
    if missing:
        raise InputError(
            f"Margin file '{Path(path).name}' needs columns {', '.join([*columns, 'Freq'])}; "
            f"missing {', '.join(missing)}"
        )
    freq = pd.to_numeric(frame["Freq"], errors="coerce")
    bad = np.flatnonzero(freq.isna().to_numpy() | (freq < 0).to_numpy())
    if len(bad):
        raise InputError(
            f"Margin file '{Path(path).name}': Freq must be a non-negative number "
            f"(row {int(bad[0]) + 1})"
        )
    out = frame[columns].astype(str).copy()
    out["Freq"] = freq.to_numpy(dtype=float)
    return out


def write_table(frame: pd.DataFrame, fmt: str, output: str | Path | None = None) -> None:
    """Write results as CSV, JSON (records; NaN as null) or XLSX; stdout when no output."""
    if fmt not in WRITE_FORMATS:
        raise InputError(f"Unknown output format '{fmt}'; use csv, json or xlsx")
    if fmt == "xlsx":
        if output is None:
            raise InputError("XLSX output needs --output FILE")
        frame.to_excel(output, index=False, engine="openpyxl")
        return
    if output is None:
        _write_text(frame, fmt, sys.stdout)
        return
    with open(output, "w", encoding="utf-8", newline="") as fh:
        _write_text(frame, fmt, fh)


def _write_text(frame: pd.DataFrame, fmt: str, fh: IO[str]) -> None:
    if fmt == "csv":
        frame.to_csv(fh, index=False, lineterminator="\n")
        return
    records = [
        {k: _json_value(v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]
    json.dump(records, fh, ensure_ascii=False, indent=1)
    fh.write("\n")


def _json_value(value: object) -> object:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(float(value)) else float(value)
    if value is pd.NA:
        return None
    return value
