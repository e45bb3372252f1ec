"""The analysis table of a period: one row per response, read from the database in bulk.

Why a hand-written read path and not the ORM: a national period has a million responses and
~19 million answers. On PostgreSQL, responses and answers come out as arrays through binary
``COPY`` and are pivoted in numpy (``services.run_answers``: one array of response ids per
item and answer code). On SQLite, answers are pivoted *in SQL* into one 64-bit "answer
pattern" per response (3 bits per item: 0 no answer, 1-5 the value, 6 N/A) read with
``pandas.read_sql`` in chunks; items beyond 21 per questionnaire spill into a second pattern
column.

Columns of :attr:`AnalysisTable.data` (the plain table handed to ``analysis``):
``response_id`` (UUID text), ``province_code``, ``commune_code`` (empty at provincial
centres), ``centre_code``, ``field_code`` (empty when not asked), ``channel``, ``day``
(Vietnam calendar day, ISO), ``psu_day`` (``centre/day``), ``unit_key`` (the centre's unit,
for collapsing), ``flags`` (``;``-joined quality-flag codes) and one float column per item
(1-5, NaN for N/A or no answer; :attr:`AnalysisTable.codes` keeps 0-6 to tell them apart).
Units are those in force on the response date, as stamped at submission; with
``geography="2025"`` pre-reform provinces are mapped to their successors.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from flask import current_app
from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    case,
    cast,
    func,
    literal,
    select,
    values,
)
from sqlalchemy import column as column_
from sqlalchemy.sql import Select

from surveyapp.extensions import db
from surveyapp.models import (
    AdminUnit,
    Answer,
    Item,
    Period,
    ProcedureField,
    QualityFlag,
    QuestionnaireVersion,
    Response,
    ServiceCentre,
)
from surveyapp.services.run_answers import (
    answer_codes,
    read_responses,
    snapshot_pair,
    start_answer_groups,
)

ITEMS_PER_PATTERN = 21  # 21 x 3 bits = 63 bits: fits a signed BIGINT
NA_CODE = 6


@dataclass
class AnalysisTable:
    """The period's responses as a plain table plus what the run records about it."""

    data: pd.DataFrame
    items: list[str]
    codes: np.ndarray  # (n, items) int8: 0 none, 1-5 value, 6 N/A
    reaggregated: int  # responses whose province was mapped to its 2025 successor

    @property
    def n(self) -> int:
        return len(self.data)


def utc_bound(day: dt.date) -> dt.datetime:
    """Midnight of a Vietnam calendar day, as the naive UTC timestamp stored in responses."""
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    return dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC).replace(tzinfo=None)


def _utc_offset_seconds(day: dt.date) -> int:
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    off = dt.datetime.combine(day, dt.time(12), tz).utcoffset()
    return int(off.total_seconds()) if off else 0


def period_filter(period: Period) -> list:
    return [Response.submitted_at >= utc_bound(period.start_date),
            Response.submitted_at < utc_bound(period.end_date)]


def item_codes(period: Period) -> tuple[list[str], dict[int, int]]:
    """Item codes answered in the period (questionnaire order) and item id -> column."""
    versions = select(Response.version_id).where(*period_filter(period)).distinct()
    rows = db.session.execute(
        select(Item.id, Item.code, QuestionnaireVersion.number, Item.position)
        .join(QuestionnaireVersion, Item.version_id == QuestionnaireVersion.id)
        .where(Item.version_id.in_(versions))
        .order_by(QuestionnaireVersion.number.desc(), Item.position)
    ).all()
    order: dict[str, int] = {}
    column: dict[int, int] = {}
    for item_id, code, _num, _pos in rows:
        column[item_id] = order.setdefault(code, len(order))
    return list(order), column


def _epoch(col):  # noqa: ANN001,ANN202 - SQL expression in, SQL expression out
    if db.engine.dialect.name == "postgresql":
        return cast(func.extract("epoch", col), Integer)
    return cast(func.strftime("%s", col), Integer)


def _pattern_query(period: Period, column: dict[int, int], n_items: int,
                   patterns: bool = True) -> Select:
    """One row per response with its answer pattern(s): ``sum(code * 8^column)`` over its
    answers. The item -> multiplier lookup is a VALUES list joined by hash (a CASE with one
    branch per item costs more per answer row than the join)."""
    base = select(Response.id.label("response_id"),
                  _epoch(Response.submitted_at).label("t"), Response.centre_id,
                  Response.field_id, Response.unit_id, Response.province_id, Response.channel)
    if not patterns:
        return base.where(*period_filter(period))
    value = cast(case((Answer.not_applicable.is_(True), literal(NA_CODE)), else_=Answer.value),
                 BigInteger)
    groups = (n_items + ITEMS_PER_PATTERN - 1) // ITEMS_PER_PATTERN or 1
    rows = [(iid, *[8 ** (col - g * ITEMS_PER_PATTERN)
                    if g * ITEMS_PER_PATTERN <= col < (g + 1) * ITEMS_PER_PATTERN else 0
                    for g in range(groups)]) for iid, col in sorted(column.items())]
    stmt = select(Answer.response_id)
    if db.engine.dialect.name == "postgresql":
        cols = [column_("item_id", Integer)] + [column_(f"m{g}", BigInteger)
                                                for g in range(groups)]
        mult = values(*cols, name="item_mult").data(rows or [(0, *([0] * groups))])
        factors = [mult.c[f"m{g}"] for g in range(groups)]
        stmt = stmt.join(mult, mult.c.item_id == Answer.item_id)
    else:  # SQLite has no column aliases on VALUES: a CASE per pattern
        factors = [cast(case({r[0]: r[1 + g] for r in rows}, value=Answer.item_id, else_=0)
                        if rows else literal(0), BigInteger) for g in range(groups)]
    sums = [func.sum(value * f).label(f"pat{g}") for g, f in enumerate(factors)]
    pats = (stmt.add_columns(*sums)
            .join(Response, Response.id == Answer.response_id)
            .where(*period_filter(period)).group_by(Answer.response_id).subquery())
    return (base.add_columns(*[pats.c[f"pat{g}"] for g in range(groups)])
            .outerjoin(pats, pats.c.response_id == Response.id)
            .where(*period_filter(period)))


def _read(stmt: Select) -> pd.DataFrame:
    """Run a SELECT into a DataFrame: COPY on PostgreSQL, chunked read_sql elsewhere."""
    if db.engine.dialect.name == "postgresql":
        sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
        buf = io.BytesIO()
        raw = db.session.connection().connection.dbapi_connection
        with raw.cursor() as cur:
            # one aggregate over every answer of the period: keep its hash table in memory
            # (the default 4 MB spills a national period to disk) and skip JIT compilation
            cur.execute("SET LOCAL work_mem = '512MB'")
            cur.execute("SET LOCAL jit = off")
        with raw.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)"
                                           ) as copy:
            for block in copy:
                buf.write(block)
        buf.seek(0)
        import pyarrow as pa
        from pyarrow import csv as pa_csv

        opts = pa_csv.ConvertOptions(column_types={"response_id": pa.string(),
                                                   "channel": pa.string()})
        return pa_csv.read_csv(buf, convert_options=opts).to_pandas()
    chunks = list(pd.read_sql(stmt, db.session.connection(), chunksize=50_000))
    if not chunks:
        return pd.DataFrame(columns=[c.name for c in stmt.selected_columns])
    return pd.concat(chunks, ignore_index=True)


def _lookup(model, key: str = "code") -> dict[int, str]:  # noqa: ANN001
    return dict(db.session.execute(select(model.id, getattr(model, key))).all())


def _pattern_codes(raw: pd.DataFrame, n_items: int) -> np.ndarray:
    """(n, items) codes from the SQL answer patterns (3 bits per item)."""
    n = len(raw)
    codes = np.zeros((n, n_items), dtype=np.int8)
    for g in range(0, max(n_items, 1), ITEMS_PER_PATTERN):
        pat_col = f"pat{g // ITEMS_PER_PATTERN}"
        pat = pd.to_numeric(raw[pat_col], errors="coerce").fillna(0).to_numpy(np.int64) \
            if pat_col in raw else np.zeros(n, np.int64)
        for j in range(g, min(g + ITEMS_PER_PATTERN, n_items)):
            codes[:, j] = (pat >> (3 * (j - g))) & 7
    return codes


class TableRead:
    """A period's table while its answers are still being read (see :func:`reading_table`).

    ``base`` has every column but the items (``items`` empty); :meth:`finish` waits for the
    answers and returns the whole table."""

    def __init__(self, base: AnalysisTable, finish: Callable[[], AnalysisTable]) -> None:
        self.base = base
        self._finish = finish
        self._table: AnalysisTable | None = None

    def finish(self) -> AnalysisTable:
        if self._table is None:
            self._table = self._finish()
        return self._table


@contextmanager
def reading_table(period: Period, geography: str = "2025") -> Iterator[TableRead]:
    """Every response of ``period`` as one row, with its units, PSU day, flags and items.

    On PostgreSQL the answers -- most of a national load -- are read on a second connection,
    in a thread, while this one reads the responses and the caller works on
    :attr:`TableRead.base` (a run builds its weights and design); both connections read one
    snapshot (``run_answers.snapshot_pair``). Leaving the block cancels a read not finished.
    """
    items, column = item_codes(period)
    if db.engine.dialect.name != "postgresql":
        raw = _read(_pattern_query(period, column, len(items)))
        codes = _pattern_codes(raw, len(items))
        data, reagg = _base_table(period, raw, geography, db.session.connection())
        order = np.argsort(data["response_id"].to_numpy(), kind="stable")
        data = data.iloc[order].reset_index(drop=True)
        table = _with_items(data, codes[order], items, reagg)
        base = AnalysisTable(data=data, items=[], codes=table.codes[:, :0], reaggregated=reagg)
        yield TableRead(base, lambda: table)
        return
    where = period_filter(period)
    with snapshot_pair() as (lead, follow):
        n_period = lead.scalar(select(func.count()).select_from(Response).where(*where)) or 0
        pending = start_answer_groups(where, n_period, lead, follow)
        try:
            raw, hi, lo = read_responses(where, lead)  # sorted by response id
            data, reagg = _base_table(period, raw, geography, lead)
            base = AnalysisTable(data=data, items=[], codes=np.zeros((len(data), 0), np.int8),
                                 reaggregated=reagg)

            def finish() -> AnalysisTable:
                codes = answer_codes(pending.result(), column, len(items), hi, lo)
                return _with_items(data, codes, items, reagg)

            yield TableRead(base, finish)
        finally:
            if pending.running():
                follow.connection.dbapi_connection.cancel()
            pending.wait()


def load_table(period: Period, geography: str = "2025") -> AnalysisTable:
    """Every response of ``period`` as one row (:func:`reading_table`, read to the end)."""
    with reading_table(period, geography) as read:
        return read.finish()


def _base_table(period: Period, raw: pd.DataFrame, geography: str, conn: Connection
                ) -> tuple[pd.DataFrame, int]:
    """The table's unit, day and flag columns from the responses' ids; and how many
    responses were mapped to their 2025 province. Text columns are looked up once per
    distinct id and gathered (:func:`_labels`), not formatted once per response."""
    n = len(raw)
    units = {u.id: u for u in db.session.scalars(select(AdminUnit))}
    prov_code, mapped = {}, set()
    for uid, unit in units.items():
        target = unit
        if geography == "2025" and unit.level == "province" and unit.successor_id is not None:
            target = units[unit.successor_id]
            mapped.add(uid)
        prov_code[uid] = target.code
    commune_code = {uid: (u.code if u.level == "commune" else "") for uid, u in units.items()}
    offset = _utc_offset_seconds(period.start_date)
    t = raw["t"].to_numpy(np.int64) if n else np.zeros(0, np.int64)
    day_no = (t + offset) // 86400
    first_day = int(day_no.min()) if n else 0
    days = [str(np.datetime64(first_day + k, "D"))
            for k in range(int(day_no.max()) - first_day + 1 if n else 0)]
    day = _labels(day_no - first_day, dict(enumerate(days)))
    unit_id = raw["unit_id"].to_numpy(np.int64)
    province_id = raw["province_id"].to_numpy(np.int64)
    centre = _labels(raw["centre_id"].to_numpy(np.int64), _lookup(ServiceCentre))
    field_id = raw["field_id"].to_numpy(np.float64)
    field = _labels(np.where(np.isnan(field_id), -1, field_id).astype(np.int64),
                    _lookup(ProcedureField))
    response_id = raw["response_id"]
    if db.engine.dialect.name != "postgresql":  # PostgreSQL's text is canonical already
        response_id = response_id.astype(str).str.lower()
    data = pd.DataFrame({
        "response_id": response_id,
        "province_code": _labels(province_id, prov_code),
        "commune_code": _labels(unit_id, commune_code),
        "centre_code": centre,
        "field_code": field,
        "channel": raw["channel"].astype(str),
        "day": day,
        "unit_key": _labels(unit_id, {uid: f"u{uid}" for uid in units}),
    })
    data["psu_day"] = data["centre_code"] + "/" + data["day"]
    data["flags"] = _flags(period, data["response_id"], conn)
    return data, int(np.isin(province_id, list(mapped)).sum())


def _labels(ids: np.ndarray, text: dict[int, str]) -> pd.Series:
    """``text[id]`` for every row (``""`` for an id not in ``text``), as an Arrow string
    column: each distinct id is looked up once and Arrow gathers the rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(ids) == 0:
        return pd.Series([], dtype="str")
    if ids.min() >= 0 and ids.max() < 4 * len(ids) + 100_000:  # ids index a table directly
        keys, index = np.arange(int(ids.max()) + 1), ids
    else:
        keys, index = np.unique(ids, return_inverse=True)
    table = pa.array([text.get(int(k), "") for k in keys], pa.string())
    return pd.Series(pc.take(table, pa.array(index)), dtype="str")


def _with_items(data: pd.DataFrame, codes: np.ndarray, items: list[str], reagg: int
                ) -> AnalysisTable:
    values = codes.astype(np.float32)
    values[(codes == 0) | (codes == NA_CODE)] = np.nan
    item_frame = pd.DataFrame(values, columns=items)
    data = pd.concat([data, item_frame], axis=1)
    return AnalysisTable(data=data, items=items, codes=codes, reaggregated=reagg)


def _flags(period: Period, ids: pd.Series, conn: Connection) -> pd.Series:
    rows = conn.execute(
        select(QualityFlag.response_id, QualityFlag.code)
        .join(Response, Response.id == QualityFlag.response_id)
        .where(*period_filter(period)).order_by(QualityFlag.response_id, QualityFlag.code)
    ).all()
    joined: dict[str, list[str]] = {}
    for rid, code in rows:
        joined.setdefault(str(rid).lower(), []).append(code)
    if not joined:
        return pd.Series("", index=ids.index)
    return ids.map({k: ";".join(v) for k, v in joined.items()}).fillna("")


def period_counts(period: Period) -> tuple[int, dict[str, int]]:
    """Responses in the period and quality-flag counts by code (for the design page)."""
    n = db.session.scalar(select(func.count()).select_from(Response)
                          .where(*period_filter(period))) or 0
    flags = db.session.execute(
        select(QualityFlag.code, func.count())
        .join(Response, Response.id == QualityFlag.response_id)
        .where(*period_filter(period)).group_by(QualityFlag.code).order_by(QualityFlag.code)
    ).all()
    return int(n), {code: int(c) for code, c in flags}


def table_hash(table: AnalysisTable, frame: pd.DataFrame) -> str:
    """SHA-256 of the canonical analysis table and frame: same inputs, same hash.

    Rows are sorted by response id (done in :func:`load_table`); every column is hashed as
    text in a fixed order, items as their 0-6 codes; the frame cells sorted by centre, field.
    """
    h = hashlib.sha256()
    h.update(b"sipas-analysis-table/1\n")
    h.update(("\x1f".join(table.items) + "\n").encode())
    for col in ("response_id", "province_code", "commune_code", "centre_code", "field_code",
                "channel", "day", "flags"):
        h.update(col.encode() + b"\x1e")
        h.update("\x1f".join(table.data[col].tolist()).encode())
    h.update(np.ascontiguousarray(table.codes).tobytes())
    f = frame.sort_values(["centre", "field"]).reset_index(drop=True)
    h.update(b"frame\x1e")
    for row in f[["centre", "field", "dossiers"]].itertuples(index=False):
        h.update(f"{row[0]}\x1f{row[1]}\x1f{int(row[2])}\n".encode())
    return h.hexdigest()


__all__ = ["AnalysisTable", "TableRead", "load_table", "period_counts", "reading_table",
           "table_hash", "utc_bound"]
