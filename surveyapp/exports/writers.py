"""Incremental writers: each consumes an iterator of rows and never holds them all.

Spreadsheet formula injection: a text cell starting with ``= + - @`` (or tab / carriage
return) is prefixed with ``'`` in CSV and XLSX, the formats people open in Excel or LibreOffice.
Parquet is a typed analysis format no spreadsheet evaluates, so values are kept as they are.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from flask import current_app

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
PARQUET_ROW_GROUP = 20_000


def escape_formula(value: Any) -> Any:
    """Neutralise a text cell a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def write_csv(path: Path, columns: list[str], rows: Iterator[list[Any]], _fixed: int) -> int:
    """UTF-8 with BOM, so Excel shows Vietnamese text correctly."""
    n = 0
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(columns)
        for row in rows:
            out.writerow([escape_formula(v) for v in row])
            n += 1
    return n


def write_xlsx(path: Path, columns: list[str], rows: Iterator[list[Any]], _fixed: int) -> int:
    """xlsxwriter in constant-memory mode flushes each row to disk as it is written."""
    import xlsxwriter  # here, not at app start

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                           "strings_to_numbers": False, "strings_to_urls": False})
    try:
        sheet = book.add_worksheet("responses")
        bold = book.add_format({"bold": True})
        sheet.write_row(0, 0, columns, bold)
        sheet.freeze_panes(1, 0)
        n = 0
        for n, row in enumerate(rows, start=1):
            for col, value in enumerate(row):
                if value == "" or value is None:
                    continue
                if isinstance(value, int):
                    sheet.write_number(n, col, value)
                else:
                    sheet.write_string(n, col, escape_formula(str(value)))
    finally:
        book.close()
    return n


def write_parquet(path: Path, columns: list[str], rows: Iterator[list[Any]], _fixed: int) -> int:
    """Row groups of ``EXPORT_PARQUET_ROW_GROUP`` rows (config); every column a nullable
    string, item values "1".."5" or "na" (null = no answer), read back the same in any tool."""
    import pyarrow as pa  # here, not at app start
    import pyarrow.parquet as pq

    schema = pa.schema([pa.field(c, pa.string()) for c in columns])
    n = 0
    group = int(current_app.config.get("EXPORT_PARQUET_ROW_GROUP", PARQUET_ROW_GROUP))
    with pq.ParquetWriter(str(path), schema) as writer:
        while True:
            batch = list(islice(rows, group))
            if not batch:
                break
            arrays = [
                pa.array([_text(r[i]) for r in batch], type=pa.string())
                for i in range(len(columns))
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            n += len(batch)
    return n


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


Writer = Callable[[Path, list[str], Iterator[list[Any]], int], int]
WRITERS: dict[str, Writer] = {"csv": write_csv, "xlsx": write_xlsx, "parquet": write_parquet}

__all__ = ["WRITERS", "escape_formula"]
