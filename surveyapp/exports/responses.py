"""Streaming export of responses: one row per response, one column per item code.

Memory stays bounded whatever the table size: responses are read in keyset-paginated chunks
(``(submitted_at, id) > last``, ``LIMIT n``), each chunk's answers and flags are fetched with
one ``IN`` query, and each row is written out before the next chunk is read.  Keyset chunks
rather than one long server-side cursor: identical on SQLite and PostgreSQL, no transaction
held open for the whole export, and each query is an index range scan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import aliased

from surveyapp.exports.writers import WRITERS
from surveyapp.extensions import db
from surveyapp.models import (
    AdminUnit,
    Answer,
    Counter,
    Item,
    ProcedureField,
    QualityFlag,
    Questionnaire,
    QuestionnaireVersion,
    Response,
    ServiceCentre,
)

FIXED_COLUMNS = ["response_id", "submitted_at", "province_code", "commune_code", "centre_code",
                 "counter", "channel", "field", "questionnaire", "flags"]


@dataclass(frozen=True)
class ExportFilter:
    """Dates are Vietnam calendar days (inclusive) applied to ``submitted_at``."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    province: str | None = None
    comments: bool = False


def _utc_bound(day: dt.date) -> dt.datetime:
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    return dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC).replace(tzinfo=None)


def _conditions(flt: ExportFilter) -> list[Any]:
    conds: list[Any] = []
    if flt.date_from:
        conds.append(Response.submitted_at >= _utc_bound(flt.date_from))
    if flt.date_to:
        conds.append(Response.submitted_at < _utc_bound(flt.date_to + dt.timedelta(days=1)))
    if flt.province:
        ids = select(AdminUnit.id).where(AdminUnit.level == "province",
                                         AdminUnit.code == flt.province)
        conds.append(Response.province_id.in_(ids))
    return conds


def item_codes(flt: ExportFilter) -> list[str]:
    """Item columns: the items of every version the selected responses used, in form order."""
    versions = select(Response.version_id).where(*_conditions(flt)).distinct()
    rows = db.session.execute(
        select(Item.code, Questionnaire.code, QuestionnaireVersion.number, Item.position)
        .join(QuestionnaireVersion, Item.version_id == QuestionnaireVersion.id)
        .join(Questionnaire, QuestionnaireVersion.questionnaire_id == Questionnaire.id)
        .where(Item.version_id.in_(versions))
        .order_by(Questionnaire.code.desc(), QuestionnaireVersion.number.desc(), Item.position)
    ).all()
    seen: dict[str, None] = {}
    for code, *_rest in rows:
        seen.setdefault(code, None)
    return list(seen)


def iter_rows(flt: ExportFilter, chunk_size: int | None = None) -> Iterator[list[Any]]:
    """Yield export rows (fixed columns, item values, optional comment), chunk by chunk."""
    size = chunk_size or int(current_app.config["EXPORT_CHUNK_SIZE"])
    codes = item_codes(flt)
    province, commune = aliased(AdminUnit), aliased(AdminUnit)
    base = (
        select(Response.id, Response.submitted_at, province.code, commune.code,
               commune.level, ServiceCentre.code, Counter.code, Response.channel,
               ProcedureField.code, QuestionnaireVersion.key, Response.comment)
        .join(province, Response.province_id == province.id)
        .join(commune, Response.unit_id == commune.id)
        .join(ServiceCentre, Response.centre_id == ServiceCentre.id)
        .join(QuestionnaireVersion, Response.version_id == QuestionnaireVersion.id)
        .outerjoin(Counter, Response.counter_id == Counter.id)
        .outerjoin(ProcedureField, Response.field_id == ProcedureField.id)
        .where(*_conditions(flt))
        .order_by(Response.submitted_at, Response.id)
        .limit(size)
    )
    last: tuple[dt.datetime, Any] | None = None
    while True:
        query = base
        if last is not None:
            query = query.where(or_(Response.submitted_at > last[0],
                                    and_(Response.submitted_at == last[0], Response.id > last[1])))
        chunk = db.session.execute(query).all()
        if not chunk:
            return
        ids = [r[0] for r in chunk]
        answers: dict[Any, dict[str, Any]] = {}
        for rid, code, value, na in db.session.execute(
            select(Answer.response_id, Item.code, Answer.value, Answer.not_applicable)
            .join(Item, Answer.item_id == Item.id).where(Answer.response_id.in_(ids))
        ):
            answers.setdefault(rid, {})[code] = "na" if na else value
        flags: dict[Any, list[str]] = {}
        for rid, code in db.session.execute(
            select(QualityFlag.response_id, QualityFlag.code)
            .where(QualityFlag.response_id.in_(ids)).order_by(QualityFlag.code)
        ):
            flags.setdefault(rid, []).append(code)
        for (rid, submitted, prov_code, unit_code, unit_level, centre_code, counter_code,
             channel, field_code, version_key, comment) in chunk:
            got = answers.get(rid, {})
            row: list[Any] = [
                str(rid), submitted.replace(microsecond=0).isoformat() + "Z", prov_code,
                unit_code if unit_level == "commune" else "", centre_code, counter_code or "",
                channel, field_code or "", version_key, ";".join(flags.get(rid, [])),
            ]
            row.extend(got.get(code, "") for code in codes)
            if flt.comments:
                row.append(comment or "")
            yield row
        last = (chunk[-1][1], chunk[-1][0])
        db.session.expunge_all()
        if len(chunk) < size:
            return


def header(flt: ExportFilter) -> list[str]:
    return FIXED_COLUMNS + item_codes(flt) + (["comment"] if flt.comments else [])


def export(fmt: str, path: Path, flt: ExportFilter) -> int:
    """Write the export to ``path`` in ``fmt``; returns the number of responses written."""
    writer = WRITERS[fmt]
    columns = header(flt)
    return writer(path, columns, iter_rows(flt), len(FIXED_COLUMNS))


__all__ = ["ExportFilter", "export", "header", "iter_rows"]
