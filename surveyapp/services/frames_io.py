"""Read and validate an uploaded frame file (CSV or XLSX) before anything is stored.

Every problem is collected (not just the first), each row-level one with its row number as
the statistician sees it in Excel (header = row 1), so a file can be fixed in one pass.
Nothing is stored unless the whole file is valid (:func:`import_frame` calls
``frames.replace_frame`` only then, in one transaction).

Columns (header names are matched without case, accents or spaces; Vietnamese aliases
accepted): ``centre_code`` (``ma_trung_tam``), ``field_code`` (``linh_vuc``, ``ma_linh_vuc``;
optional -- empty or ``*`` = one count for all fields of the centre), ``dossiers``
(``so_ho_so``): dossiers settled in the period, a whole number >= 0.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from surveyapp.extensions import db
from surveyapp.models import Period, ProcedureField, ServiceCentre
from surveyapp.services import frames

MAX_BYTES = 10 * 1024 * 1024
MAX_LISTED = 200
HEADERS = {
    "centre_code": ("centre_code", "center_code", "centre", "ma_trung_tam", "ma_tt"),
    "field_code": ("field_code", "field", "linh_vuc", "ma_linh_vuc"),
    "dossiers": ("dossiers", "so_ho_so", "so_ho_so_da_giai_quyet", "ho_so"),
}
MESSAGES = {
    "empty": _l("The file is empty: it has no header and no rows."),
    "no_rows": _l("The file has a header but no data rows."),
    "too_large": _l("The file is larger than %(mb)s MB. Split it or remove unused columns."),
    "not_table": _l("This is not a CSV or XLSX file (it looks like %(kind)s). Save the table "
                    "from Excel as “CSV UTF-8” or as an .xlsx workbook."),
    "utf16": _l("The file is UTF-16 text. In Excel choose “Save as” → “CSV UTF-8 (comma "
                "delimited)” and upload again."),
    "encoding": _l("The file is not UTF-8 text (it may be Windows-1258 or TCVN3). In Excel "
                   "choose “Save as” → “CSV UTF-8 (comma delimited)” and upload again."),
    "xlsx_unreadable": _l("The XLSX workbook cannot be read; open it in Excel, save it again "
                          "and upload it."),
    "missing_header": _l("Required column “%(column)s” is missing. The header must be: "
                         "centre_code, field_code, dossiers."),
    "unknown_header": _l("Column “%(column)s” is not recognised. Allowed columns: "
                         "centre_code, field_code, dossiers."),
    "duplicate_header": _l("Column “%(column)s” appears twice in the header."),
    "unknown_centre": _l("Unknown centre code “%(value)s”."),
    "unknown_field": _l("Unknown procedure field code “%(value)s”."),
    "missing_centre": _l("The centre code is empty."),
    "missing_count": _l("The number of dossiers is empty."),
    "not_number": _l("“%(value)s” is not a number of dossiers."),
    "not_integer": _l("“%(value)s” is not a whole number of dossiers."),
    "negative": _l("The number of dossiers cannot be negative (%(value)s)."),
    "too_big": _l("%(value)s dossiers is implausibly large for one cell."),
    "duplicate_row": _l("Centre “%(centre)s”, field “%(field)s” is already listed in row "
                        "%(first)s."),
    "mixed_fields": _l("Centre “%(centre)s” has both an all-fields count (row %(first)s) and "
                       "per-field counts: give one or the other."),
    "too_many": _l("… and %(n)s more problems not listed."),
}
MAX_DOSSIERS = 10_000_000
_MAGIC = ((b"\x89PNG", _l("a PNG image")), (b"%PDF", _l("a PDF document")),
          (b"\xff\xd8\xff", _l("a JPEG image")), (b"GIF8", _l("a GIF image")),
          (b"\xd0\xcf\x11\xe0", _l("an old Excel .xls workbook")),
          (b"PK\x03\x04", _l("a ZIP archive")))
_BINARY = _l("binary data")


@dataclass(frozen=True)
class Problem:
    """One problem: ``row`` (None = the whole file), a message code and its parameters."""

    row: int | None
    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def message(self) -> str:
        params = {k: str(v) for k, v in self.params.items()}  # lazy strings translate here
        return str(MESSAGES[self.code]) % params if params else str(MESSAGES[self.code])


@dataclass
class ParsedFrame:
    cells: list[tuple[int, int | None, int]]
    problems: list[Problem]
    rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _norm(text: Any) -> str:
    s = unicodedata.normalize("NFD", str(text or "").strip().lower().replace("đ", "d"))
    s = "".join(ch for ch in s if unicodedata.category(ch) != "Mn")
    return re.sub(r"[^a-z0-9]+", "_", s).strip("_")


_ALIASES = {alias: canon for canon, names in HEADERS.items() for alias in names}


def read_rows(content: bytes, filename: str) -> tuple[list[tuple[int, list[Any]]],
                                                       list[Problem]]:
    """(row number, values) for every non-blank row, header first; or file-level problems."""
    if not content.strip():
        return [], [Problem(None, "empty")]
    is_zip = content.startswith(b"PK\x03\x04")
    if filename.lower().endswith(".xlsx") or is_zip:
        if not is_zip:
            return [], [Problem(None, "not_table", {"kind": _kind(content)})]
        return _xlsx_rows(content)
    for magic, kind in _MAGIC:
        if content.startswith(magic):
            return [], [Problem(None, "not_table", {"kind": kind})]
    if content.startswith((b"\xff\xfe", b"\xfe\xff")) or content[:200].count(b"\x00") > 20:
        return [], [Problem(None, "utf16")]
    if b"\x00" in content[:4096]:
        return [], [Problem(None, "not_table", {"kind": _BINARY})]
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [Problem(None, "encoding")]
    sample = text[:4096]
    delimiter = max((",", ";", "\t"), key=lambda d: sample.split("\n", 1)[0].count(d))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    return rows, []


def _kind(content: bytes) -> str:
    return next((kind for magic, kind in _MAGIC if content.startswith(magic)), _BINARY)


def _xlsx_rows(content: bytes) -> tuple[list[tuple[int, list[Any]]], list[Problem]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        return [], [Problem(None, "xlsx_unreadable")]
    try:
        ws = wb.worksheets[0]
        rows = [(i, list(r)) for i, r in enumerate(ws.iter_rows(values_only=True), start=1)
                if any(v is not None and str(v).strip() for v in r)]
    finally:
        wb.close()
    return rows, []


def _count(raw: Any) -> tuple[int | None, Problem | None]:
    if raw is None or str(raw).strip() == "":
        return None, Problem(0, "missing_count")
    if isinstance(raw, bool):
        return None, Problem(0, "not_number", {"value": str(raw)})
    if isinstance(raw, (int, float)):
        value = float(raw)
    else:
        text = str(raw).strip().replace("\u00a0", "").replace(" ", "")
        try:
            value = float(text)
        except ValueError:
            return None, Problem(0, "not_number", {"value": str(raw).strip()[:40]})
    if value != value or value in (float("inf"), float("-inf")):
        return None, Problem(0, "not_number", {"value": str(raw)[:40]})
    shown = str(raw).strip()[:40]
    if value < 0:
        return None, Problem(0, "negative", {"value": shown})
    if value != int(value):
        return None, Problem(0, "not_integer", {"value": shown})
    if value > MAX_DOSSIERS:
        return None, Problem(0, "too_big", {"value": shown})
    return int(value), None


def parse(content: bytes, filename: str) -> ParsedFrame:
    """Validate the whole file; ``cells`` is meaningful only when ``ok``."""
    if len(content) > MAX_BYTES:
        return ParsedFrame([], [Problem(None, "too_large", {"mb": MAX_BYTES // 2**20})])
    rows, problems = read_rows(content, filename)
    if problems:
        return ParsedFrame([], problems)
    header_row, header = rows[0]
    columns: dict[str, int] = {}
    for j, name in enumerate(header):
        key = _ALIASES.get(_norm(name))
        if key is None:
            if str(name or "").strip():
                problems.append(Problem(header_row, "unknown_header",
                                        {"column": str(name).strip()[:60]}))
        elif key in columns:
            problems.append(Problem(header_row, "duplicate_header", {"column": key}))
        else:
            columns[key] = j
    for required in ("centre_code", "dossiers"):
        if required not in columns:
            problems.append(Problem(header_row, "missing_header", {"column": required}))
    if problems:
        return ParsedFrame([], problems)
    data = rows[1:]
    if not data:
        return ParsedFrame([], [Problem(None, "no_rows")])
    centres = dict(db.session.execute(select(ServiceCentre.code, ServiceCentre.id)).all())
    fields = dict(db.session.execute(select(ProcedureField.code, ProcedureField.id)).all())
    cells: list[tuple[int, int | None, int]] = []
    seen: dict[tuple[str, str], int] = {}
    all_row: dict[str, int] = {}
    per_field: set[str] = set()

    def cell(values: list[Any], key: str) -> Any:
        j = columns.get(key)
        return values[j] if j is not None and j < len(values) else None

    for number, values in data:
        centre = str(cell(values, "centre_code") or "").strip()
        fcode = str(cell(values, "field_code") or "").strip()
        fcode = "" if fcode == frames.ALL_FIELDS else fcode
        count, problem = _count(cell(values, "dossiers"))
        row_problems = []
        if not centre:
            row_problems.append(Problem(number, "missing_centre"))
        elif centre not in centres:
            row_problems.append(Problem(number, "unknown_centre", {"value": centre[:40]}))
        if fcode and fcode not in fields:
            row_problems.append(Problem(number, "unknown_field", {"value": fcode[:40]}))
        if problem is not None:
            row_problems.append(Problem(number, problem.code, problem.params))
        key = (centre, fcode)
        if centre and key in seen:
            row_problems.append(Problem(number, "duplicate_row", {
                "centre": centre, "field": fcode or frames.ALL_FIELDS, "first": seen[key]}))
        elif centre:
            seen[key] = number
            if fcode:
                per_field.add(centre)
            else:
                all_row.setdefault(centre, number)
            if centre in per_field and centre in all_row:
                row_problems.append(Problem(number, "mixed_fields", {
                    "centre": centre, "first": all_row[centre]}))
        problems.extend(row_problems)
        if not row_problems and count is not None:
            cells.append((centres[centre], fields[fcode] if fcode else None, count))
    if len(problems) > MAX_LISTED:
        more = len(problems) - MAX_LISTED
        problems = problems[:MAX_LISTED] + [Problem(None, "too_many", {"n": more})]
    return ParsedFrame(cells, problems, rows=len(data))


def import_frame(period: Period, content: bytes, filename: str,
                 user: Any = None) -> tuple[ParsedFrame, frames.FrameStats | None]:
    """Validate, then (only when valid) replace the period's frame and commit."""
    parsed = parse(content, filename)
    if not parsed.ok:
        db.session.rollback()
        return parsed, None
    try:
        stats = frames.replace_frame(period, parsed.cells, source=filename, user=user)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return parsed, stats


__all__ = ["MAX_BYTES", "ParsedFrame", "Problem", "import_frame", "parse"]
