"""A period's responses and answers on PostgreSQL, read as arrays and pivoted in numpy.

Why not one row per response pivoted in SQL: that needs an aggregate over every answer
grouped by response (a hash table of ~10^6 groups probed ~2x10^7 times) and a hash join on the
response UUID probed as often; on the national benchmark (1,000,000 responses, 18.6 M
answers) the two took ~22 s of PostgreSQL, and reading a million rows through ``COPY`` costs
a Python call per row. Here PostgreSQL groups answers by (item, code) -- at most items x 7
groups, so the aggregate's table stays in cache -- and responses by channel, and returns one
array per group and column in binary ``COPY`` (a few hundred rows in all; the UUIDs as one
``bytea`` of 16 bytes each, see :func:`_uuids`); numpy places the answers with a binary
search on the sorted response UUIDs (two 64-bit halves).

Answer codes: 0 no answer, 1-5 the value, 6 N/A (``run_table.NA_CODE``). The period filter
on answers: when at least half of all responses belong to the period, answers are read
without the join and answers of other responses are dropped in numpy (PostgreSQL's plan for
the join scans every answer anyway and probes a hash table for each); otherwise the join
restricts them in SQL.

A run reads the answers on a connection of its own, in a thread, while the process reads the
responses and builds the weights and design (``run_table.reading_table``): the two
connections share one exported snapshot (:func:`snapshot_pair`), so they see the same
committed data even while kiosks keep uploading.
"""

from __future__ import annotations

import re
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, func, select

from surveyapp.extensions import db
from surveyapp.models import Answer, Response

NA_CODE = 6
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


class AnswerReadError(RuntimeError):
    """The binary COPY stream was not what the query asks for."""


@contextmanager
def snapshot_pair() -> Iterator[tuple[Connection, Connection]]:
    """Two connections of their own that read one and the same snapshot of the database.

    Why: the answers query is most of a national load, and PostgreSQL runs it on its own
    core while this process reads the responses and builds the table; the two reads must
    still see exactly the same committed responses and answers (a kiosk may upload in
    between). The first connection exports its snapshot and the second adopts it
    (``SET TRANSACTION SNAPSHOT``, as ``pg_dump -j`` does); both are REPEATABLE READ and
    read-only, and both transactions end when the block does.
    """
    lead = db.engine.connect().execution_options(isolation_level="REPEATABLE READ")
    follow = None
    try:
        lead.exec_driver_sql("SET TRANSACTION READ ONLY")
        snapshot = lead.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
        if not re.fullmatch(r"[0-9A-F-]+", str(snapshot)):
            raise AnswerReadError(f"unexpected snapshot id {snapshot!r}")
        follow = db.engine.connect().execution_options(isolation_level="REPEATABLE READ")
        follow.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        follow.exec_driver_sql("SET TRANSACTION READ ONLY")
        yield lead, follow
    finally:
        for conn in (follow, lead):
            if conn is not None:
                conn.rollback()
                conn.close()


class InBackground:
    """A function running in a thread; :meth:`result` waits for it and re-raises its error.

    Used for a database read whose driver waits without the GIL (psycopg), so that the
    waiting overlaps with this process's own work."""

    def __init__(self, fn: Any, *args: Any) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, *args),
                                        name="sipas-run-read", daemon=True)
        self._thread.start()

    def _run(self, fn: Any, *args: Any) -> None:
        try:
            self._value = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            self._error = exc

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value

    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self) -> None:
        """Wait without raising (cleanup after the caller failed)."""
        self._thread.join()


def read_responses(period_filter: list, conn: Connection
                   ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The period's responses sorted by id: the columns of ``run_table``'s base query
    (``response_id`` as canonical UUID text, ``t`` epoch seconds, ``centre_id``,
    ``field_id`` (NaN when not asked), ``unit_id``, ``province_id``, ``channel``), and the
    UUIDs' unsigned 64-bit halves (hi, lo) in the same order, read on ``conn``."""
    import pyarrow as pa  # loaded by the first run, not when the web app starts

    where = _compile(select(Response.id).where(*period_filter).whereclause)
    sql = ("SELECT channel, string_agg(uuid_send(id), ''::bytea), "  # noqa: S608 - constants
           "array_agg(CAST(extract(epoch FROM submitted_at) AS integer)), "
           "array_agg(centre_id), array_agg(COALESCE(field_id, -1)), "
           "array_agg(unit_id), array_agg(province_id) "
           f"FROM {Response.__tablename__} WHERE {where} GROUP BY channel")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in
                                          ("hi", "lo", "t", "centre", "field", "unit", "prov")}
    channels: list[np.ndarray] = []
    names: list[str] = []
    for fields in _tuples(_copy_binary(sql, conn), 7):
        channel = bytes(fields[0]).decode()
        ids = _uuids(fields[1])
        parts["hi"].append(ids[:, 0])
        parts["lo"].append(ids[:, 1])
        for key, field in zip(("t", "centre", "field", "unit", "prov"), fields[2:],
                              strict=True):
            parts[key].append(_array(field, 4, np.dtype(">i4"))[:, 0])
        names.append(channel)
        channels.append(np.full(len(ids), len(names) - 1, dtype=np.int32))
    if not channels:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in
                              ("response_id", "t", "centre_id", "field_id", "unit_id",
                               "province_id", "channel")})
        return empty, np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    cols = {k: np.concatenate(v) for k, v in parts.items()}
    hi = cols["hi"].astype(np.uint64)
    lo = cols["lo"].astype(np.uint64)
    order = np.lexsort((lo, hi))
    hi, lo = hi[order], lo[order]
    field = cols["field"][order].astype(np.float64)
    field[field < 0] = np.nan
    raw = pd.DataFrame({
        "response_id": uuid_text(hi, lo),
        "t": cols["t"][order].astype(np.int64),
        "centre_id": cols["centre"][order].astype(np.int64),
        "field_id": field,
        "unit_id": cols["unit"][order].astype(np.int64),
        "province_id": cols["prov"][order].astype(np.int64),
        "channel": pd.Series(pa.array(names, pa.string()).take(
            pa.array(np.concatenate(channels)[order])), dtype="str"),
    })
    return raw, hi, lo


def uuid_text(hi: np.ndarray, lo: np.ndarray) -> pd.Series:
    """Canonical lower-case UUID strings (pandas' Arrow-backed ``str``) from their 64-bit
    halves: the text is written into one buffer and handed to Arrow as it is (a Python
    string per response took 0.6 s of a national load)."""
    import pyarrow as pa

    n = len(hi)
    raw = np.empty((n, 2), dtype=">u8")
    raw[:, 0], raw[:, 1] = hi, lo
    octets = raw.view(np.uint8).reshape(n, 16)
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2] = _HEX_DIGITS[octets >> 4]
    hexed[:, 1::2] = _HEX_DIGITS[octets & 15]
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    text[:, [i for i in range(36) if i not in (8, 13, 18, 23)]] = hexed
    large = 36 * n >= 2**31  # 32-bit offsets up to ~59 million UUIDs
    offsets = np.arange(0, 36 * (n + 1), 36, dtype=np.int64 if large else np.int32)
    arr = pa.Array.from_buffers(pa.large_string() if large else pa.string(), n,
                                [None, pa.py_buffer(offsets), pa.py_buffer(text)])
    return pd.Series(arr, dtype="str")


def answer_groups_sql(period_filter: list, join: bool) -> str:
    """The answers grouped by (item, code), the response ids of each group as one ``bytea``;
    ``join`` restricts them to the period in SQL (see the module's docstring)."""
    code = f"(CASE WHEN a.not_applicable THEN {NA_CODE} ELSE COALESCE(a.value, 0) END)::int2"
    sql = (f"SELECT a.item_id, {code}, string_agg(uuid_send(a.response_id), ''::bytea) "  # noqa: S608
           f"FROM {Answer.__tablename__} a")
    if join:
        sql += f" WHERE a.response_id IN ({_compile(select(Response.id).where(*period_filter))})"
    return sql + " GROUP BY 1, 2"


def start_answer_groups(period_filter: list, n_period: int, lead: Connection,
                        follow: Connection) -> InBackground:
    """The binary ``COPY`` of :func:`answer_groups_sql`, read on ``follow`` in a thread (the
    SQL is built here: the thread needs no application context)."""
    sql = answer_groups_sql(period_filter, _join_needed(n_period, lead))
    return InBackground(_copy_binary, sql, follow)


def answer_codes(groups: bytes, column: dict[int, int], n_items: int,
                 hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """(n, n_items) int8 codes for the responses whose sorted UUID halves are ``hi``/``lo``
    (as :func:`read_responses` returns them), from the answers' ``groups`` (the result of
    :func:`start_answer_groups`)."""
    n = len(hi)
    codes = np.zeros((n, n_items), dtype=np.int8)
    if n == 0 or not column:
        return codes
    dup = np.flatnonzero(hi[1:] == hi[:-1])
    exact = ({(int(hi[i]), int(lo[i])): i for d in dup for i in (d, d + 1)}
             if len(dup) else None)
    work = []
    for fields in _tuples(groups, 3):
        col = column.get(int(_array(fields[0], 4, np.dtype(">i4"))[0, 0]))
        value = int(_array(fields[1], 2, np.dtype(">i2"))[0, 0])
        if col is not None and value != 0:
            work.append((col, value, fields[2]))

    def place(part: list[tuple[int, int, memoryview]]) -> None:
        for col, value, field in part:
            ids = _uuids(field).astype(np.uint64)
            ids = ids[np.argsort(ids[:, 0])]  # sorted needles: cache-friendly
            a_hi, a_lo = ids[:, 0], ids[:, 1]
            pos = np.minimum(np.searchsorted(hi, a_hi), n - 1)
            hit = (hi[pos] == a_hi) & (lo[pos] == a_lo)
            if exact is not None:  # first halves shared by several responses: look them up
                for k in np.flatnonzero(~hit & np.isin(a_hi, hi[dup])):
                    row = exact.get((int(a_hi[k]), int(a_lo[k])))
                    if row is not None:
                        pos[k], hit[k] = row, True
            codes[pos[hit], col] = value

    # two halves in two threads: the sorts and searches release the GIL, and every
    # (response, item) cell is written by one group only
    halves = [work[0::2], work[1::2]]
    other = InBackground(place, halves[1])
    try:
        place(halves[0])
    finally:
        other.wait()
    other.result()
    return codes


def _join_needed(n_period: int, conn: Connection) -> bool:
    total = conn.scalar(select(func.count()).select_from(Response)) or 0
    return total - n_period > n_period


def _compile(clause) -> str:  # noqa: ANN001 - a SQLAlchemy clause
    return str(clause.compile(db.engine, compile_kwargs={"literal_binds": True}))


def _copy_binary(sql: str, conn: Connection) -> bytes:
    raw = conn.connection.dbapi_connection
    with raw.cursor() as cur:
        # the aggregates hold every array in memory: let them (the default 4 MB spills)
        cur.execute("SET LOCAL work_mem = '1GB'")
        cur.execute("SET LOCAL jit = off")
    blocks = []
    with raw.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT binary)") as copy:
        for block in copy:
            blocks.append(bytes(block))
    return b"".join(blocks)


def _tuples(data: bytes, n_fields: int) -> Iterator[list[memoryview]]:
    """Rows of PostgreSQL's binary COPY format, each a list of field payloads (no NULLs)."""
    if not data.startswith(_SIGNATURE):
        raise AnswerReadError("not a binary COPY stream")
    view = memoryview(data)
    (ext,) = struct.unpack_from(">i", data, 15)
    pos = 19 + ext
    while True:
        (count,) = struct.unpack_from(">h", data, pos)
        pos += 2
        if count == -1:
            return
        if count != n_fields:
            raise AnswerReadError(f"expected {n_fields} columns, got {count}")
        fields = []
        for _ in range(count):
            (length,) = struct.unpack_from(">i", data, pos)
            if length < 0:
                raise AnswerReadError("unexpected NULL")
            fields.append(view[pos + 4:pos + 4 + length])
            pos += 4 + length
        yield fields


def _uuids(field: memoryview) -> np.ndarray:
    """``string_agg(uuid_send(id), '')``: UUIDs as 16 bytes each, back to ``(n, 2)``
    big-endian 64-bit halves. (Cheaper than ``array_agg`` of the UUIDs: PostgreSQL appends
    bytes to one buffer instead of keeping a datum per element -- 5.3 s against 7.5 s for
    the 18.6 M answers of the national benchmark -- and there are no element headers to
    strip here.)"""
    if len(field) % 16:
        raise AnswerReadError("UUID bytes not a multiple of 16")
    return np.frombuffer(field, dtype=np.dtype(">u8")).reshape(-1, 2)


def _array(field: memoryview, width: int, dtype: np.dtype, parts: int = 1) -> np.ndarray:
    """A one-dimensional array of fixed-width elements (or a scalar) as ``(n, parts)``."""
    if len(field) == width:  # a scalar column
        return np.frombuffer(field, dtype=dtype).reshape(1, parts)
    ndim, has_null, _oid = struct.unpack_from(">iiI", field, 0)
    if ndim == 0:
        return np.zeros((0, parts), dtype=dtype)
    if ndim != 1 or has_null:
        raise AnswerReadError("expected a one-dimensional array without NULLs")
    (count,) = struct.unpack_from(">i", field, 12)
    body = np.frombuffer(field, dtype=np.uint8, count=count * (4 + width),
                         offset=20).reshape(count, 4 + width)
    if count and (body[:, :4].copy().view(">i4")[:, 0] != width).any():
        raise AnswerReadError("array elements of unexpected width")
    return np.ascontiguousarray(body[:, 4:]).view(dtype).reshape(count, parts)
