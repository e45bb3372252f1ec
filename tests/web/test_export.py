"""``export-responses``: formats read back, formula escaping, filters, bounded memory."""

from __future__ import annotations

import csv
import datetime as dt
import gc
import json
import tracemalloc
import uuid

import openpyxl
import pyarrow.parquet as pq
import pytest
from sqlalchemy import event

from tests.web.helpers import ITEMS, payload

HEADER = ["response_id", "submitted_at", "province_code", "commune_code", "centre_code",
          "counter", "channel", "field", "questionnaire", "flags"]


def submit(client, kiosk, **overrides):
    body = payload(**overrides)
    r = client.post("/api/v1/responses", data=json.dumps(body), headers=kiosk.auth,
                    content_type="application/json")
    assert r.status_code == 201, r.get_json()
    return body


def set_submitted(app, rid: str, when: dt.datetime) -> None:
    from surveyapp.extensions import db
    from surveyapp.models import Response

    with app.app_context():
        db.session.get(Response, uuid.UUID(rid)).submitted_at = when
        db.session.commit()


def read_csv(path):
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


@pytest.fixture
def two_responses(app, client, kiosk):
    a = submit(client, kiosk, comment="=HYPERLINK(\"http://evil\")", counter="1")
    b = submit(client, kiosk, answers={"C1.1": 5, "C2.3": "na"}, counter=None, field=None,
               comment="-2+3")
    set_submitted(app, a["id"], dt.datetime(2026, 8, 1, 3, 0))
    set_submitted(app, b["id"], dt.datetime(2026, 9, 15, 3, 0))
    return a, b


def test_csv_round_trip(app, runner, tmp_path, two_responses):
    a, b = two_responses
    out = tmp_path / "r.csv"
    result = runner.invoke(args=["export-responses", "--format", "csv", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "exported 2 responses" in result.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM for Excel
    rows = read_csv(out)
    assert rows[0] == HEADER + ITEMS
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["response_id"] == a["id"]
    assert first["submitted_at"] == "2026-08-01T03:00:00Z"
    assert (first["province_code"], first["commune_code"], first["centre_code"]) == (
        "01", "00004", "X00004")
    assert (first["counter"], first["channel"], first["field"]) == ("1", "kiosk", "ho-tich")
    assert first["questionnaire"] == "sipas-2023.v1"
    assert first["flags"] == ""
    assert first["C1.1"] == "1"
    assert first["C5.3"] == "na"
    second = dict(zip(rows[0], rows[2], strict=True))
    assert second["C1.1"] == "5"
    assert second["C2.3"] == "na"
    assert second["C1.2"] == ""
    assert second["counter"] == ""
    assert second["field"] == ""


def test_formula_injection_escaped_in_csv_and_xlsx(app, runner, tmp_path, two_responses):
    out = tmp_path / "r.csv"
    runner.invoke(args=["export-responses", "--format", "csv", "-o", str(out), "--comments"])
    rows = read_csv(out)
    assert rows[0][-1] == "comment"
    assert rows[1][-1] == "'=HYPERLINK(\"http://evil\")"
    assert rows[2][-1] == "'-2+3"
    xlsx = tmp_path / "r.xlsx"
    runner.invoke(args=["export-responses", "--format", "xlsx", "-o", str(xlsx), "--comments"])
    book = openpyxl.load_workbook(xlsx, read_only=True)
    values = [list(r) for r in book.active.iter_rows(values_only=True)]
    book.close()
    assert values[1][-1] == "'=HYPERLINK(\"http://evil\")"
    assert values[2][-1] == "'-2+3"


def test_xlsx_round_trip_numbers_as_numbers(app, runner, tmp_path, two_responses):
    out = tmp_path / "r.xlsx"
    assert runner.invoke(args=["export-responses", "--format", "xlsx", "-o",
                               str(out)]).exit_code == 0
    book = openpyxl.load_workbook(out, read_only=True)
    rows = [list(r) for r in book.active.iter_rows(values_only=True)]
    book.close()
    assert rows[0] == HEADER + ITEMS
    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["C1.1"] == 1
    assert isinstance(record["C1.1"], int)
    assert record["C5.3"] == "na"
    assert record["province_code"] == "01"  # a code keeps its leading zero (text)


def test_parquet_round_trip(app, runner, tmp_path, two_responses):
    a, b = two_responses
    out = tmp_path / "r.parquet"
    assert runner.invoke(args=["export-responses", "--format", "parquet", "-o",
                               str(out)]).exit_code == 0
    table = pq.read_table(out)
    assert table.column_names == HEADER + ITEMS
    data = table.to_pylist()
    assert [r["response_id"] for r in data] == [a["id"], b["id"]]
    assert data[0]["C1.1"] == "1"
    assert data[0]["C5.3"] == "na"
    assert data[1]["C1.2"] is None


@pytest.mark.parametrize(("args", "expected"), [
    pytest.param(["--from", "2026-09-01"], 1, id="from"),
    pytest.param(["--to", "2026-08-01"], 1, id="to-inclusive"),
    pytest.param(["--from", "2026-08-02", "--to", "2026-09-14"], 0, id="between"),
    pytest.param(["--province", "01"], 2, id="province"),
    pytest.param(["--province", "79"], 0, id="other-province"),
    pytest.param(["--province", "1"], 0, id="code-is-a-string"),
])
def test_filters(app, runner, tmp_path, two_responses, args, expected):
    out = tmp_path / "r.csv"
    r = runner.invoke(args=["export-responses", "--format", "csv", "-o", str(out), *args])
    assert r.exit_code == 0, r.output
    assert len(read_csv(out)) - 1 == expected


def test_bad_dates_are_refused(runner, tmp_path):
    r = runner.invoke(args=["export-responses", "--format", "csv", "-o", str(tmp_path / "x"),
                            "--from", "2026-13-01"])
    assert r.exit_code != 0
    r = runner.invoke(args=["export-responses", "--format", "csv", "-o", str(tmp_path / "x"),
                            "--from", "2026-02-01", "--to", "2026-01-01"])
    assert r.exit_code != 0


def test_flags_column(app, runner, tmp_path, client, kiosk):
    submit(client, kiosk, client_time="2001-01-01T00:00:00Z")
    out = tmp_path / "r.csv"
    runner.invoke(args=["export-responses", "--format", "csv", "-o", str(out)])
    assert read_csv(out)[1][9] == "client_clock"


def bulk_responses(app, n: int) -> None:
    """Insert n responses with 19 answers each quickly (core inserts, same schema)."""
    from sqlalchemy import insert, select

    from surveyapp.extensions import db
    from surveyapp.models import AdminUnit, Answer, Item, Response, ServiceCentre

    with app.app_context():
        centre = db.session.scalar(select(ServiceCentre).where(ServiceCentre.code == "X00004"))
        items = list(db.session.scalars(select(Item).order_by(Item.position)))
        prov = db.session.scalar(select(AdminUnit.id).where(AdminUnit.code == "01",
                                                            AdminUnit.valid_to.is_(None)))
        base = dt.datetime(2026, 8, 1)
        for start in range(0, n, 1000):
            ids = [uuid.uuid4() for _ in range(min(1000, n - start))]
            db.session.execute(insert(Response), [
                {"id": rid, "centre_id": centre.id, "channel": "kiosk",
                 "version_id": items[0].version_id, "unit_id": centre.unit_id,
                 "province_id": prov, "submitted_at": base + dt.timedelta(seconds=start + i)}
                for i, rid in enumerate(ids)])
            db.session.execute(insert(Answer), [
                {"response_id": rid, "item_id": it.id, "value": 1 + (k % 5),
                 "not_applicable": False}
                for rid in ids for k, it in enumerate(items)])
            db.session.commit()


def test_export_reads_in_chunks(app, tmp_path):
    """The response query runs once per chunk with a LIMIT: rows are never all loaded."""
    from surveyapp.exports.responses import ExportFilter, export
    from surveyapp.extensions import db

    bulk_responses(app, 2100)
    statements: list[str] = []
    with app.app_context():
        def record(_conn, _cursor, statement, *_args):
            if "FROM response" in statement and "LIMIT" in statement:
                statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            app.config["EXPORT_CHUNK_SIZE"] = 500
            n = export("csv", tmp_path / "r.csv", ExportFilter())
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
    assert n == 2100
    assert len(statements) == 5  # 500 × 4 + 100
    assert len(read_csv(tmp_path / "r.csv")) == 2101


def _peak(app, tmp_path, fmt: str, chunk: int = 50) -> int:
    from surveyapp.exports.responses import ExportFilter, export

    with app.app_context():
        app.config["EXPORT_CHUNK_SIZE"] = chunk
        app.config["EXPORT_PARQUET_ROW_GROUP"] = chunk
        gc.collect()
        tracemalloc.start()
        try:
            export(fmt, tmp_path / f"r.{fmt}", ExportFilter())
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
def test_export_memory_does_not_grow_with_rows(app, tmp_path, fmt):
    bulk_responses(app, 150)  # tracemalloc makes every row slow: few rows, small chunks
    small = _peak(app, tmp_path, fmt)
    bulk_responses(app, 1350)  # ten times as many rows
    large = _peak(app, tmp_path, fmt)
    # a writer that kept rows would need ~10x; chunked reading stays near constant
    assert large < small * 2.5, (small, large)


def test_memory_check_can_fail(app, tmp_path):
    """Control: with one chunk holding every row, the same measurement does grow."""
    bulk_responses(app, 150)
    small = _peak(app, tmp_path, "csv", chunk=100_000)
    bulk_responses(app, 1350)
    large = _peak(app, tmp_path, "csv", chunk=100_000)
    assert large > small * 4, (small, large)


def test_keyset_chunks_handle_identical_timestamps(app, tmp_path):
    """Rows sharing one submitted_at across chunk boundaries are each exported exactly once."""
    from sqlalchemy import update

    from surveyapp.exports.responses import ExportFilter, export
    from surveyapp.extensions import db
    from surveyapp.models import Response

    bulk_responses(app, 250)
    with app.app_context():
        db.session.execute(update(Response).values(submitted_at=dt.datetime(2026, 9, 1, 2, 0)))
        db.session.commit()
        app.config["EXPORT_CHUNK_SIZE"] = 100
        assert export("csv", tmp_path / "r.csv", ExportFilter()) == 250
        ids = [row[0] for row in read_csv(tmp_path / "r.csv")[1:]]
        stored = {str(i) for i in db.session.scalars(db.select(Response.id))}
    assert len(ids) == len(set(ids)) == 250
    assert set(ids) == stored
