"""The run's analysis table holds every answer of the period and nothing else (both
databases): checked against the answers read one by one through the ORM, with responses in
another period (PostgreSQL's array path drops them in numpy or joins in SQL, depending on
the period's share) and UUIDs that share their first 64 bits."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pytest
from flask import Flask
from sqlalchemy import select


def _clone(resp, new_id: uuid.UUID, when: dt.datetime) -> None:  # noqa: ANN001
    from surveyapp.extensions import db
    from surveyapp.models import Answer, Response

    db.session.add(Response(id=new_id, centre_id=resp.centre_id, channel=resp.channel,
                            version_id=resp.version_id, field_id=resp.field_id,
                            unit_id=resp.unit_id, province_id=resp.province_id,
                            submitted_at=when))
    db.session.flush()
    for a in db.session.scalars(select(Answer).where(Answer.response_id == resp.id)).all():
        db.session.add(Answer(response_id=new_id, item_id=a.item_id, value=a.value,
                              not_applicable=a.not_applicable))


def _expected(table, period) -> np.ndarray:  # noqa: ANN001
    from surveyapp.extensions import db
    from surveyapp.models import Answer, Item, Response
    from surveyapp.services.run_table import NA_CODE, period_filter

    col = {code: j for j, code in enumerate(table.items)}
    row = {rid: i for i, rid in enumerate(table.data["response_id"])}
    out = np.zeros_like(table.codes)
    answers = db.session.execute(
        select(Answer.response_id, Item.code, Answer.value, Answer.not_applicable)
        .join(Item, Item.id == Answer.item_id).join(Response, Response.id == Answer.response_id)
        .where(*period_filter(period))).all()
    for rid, code, value, na in answers:
        out[row[str(rid).lower()], col[code]] = NA_CODE if na else (value or 0)
    return out


@pytest.mark.parametrize("others", [3, 400])  # other periods: few (no join) / most (join)
def test_table_codes_are_the_periods_answers(app: Flask, others: int) -> None:
    from surveyapp.extensions import db
    from surveyapp.models import Response
    from surveyapp.services import frames, run_demo
    from surveyapp.services.run_table import load_table, period_filter

    with app.app_context():
        period = run_demo.demo_period(responses=120, frame=False)
        inside = db.session.scalars(select(Response).where(*period_filter(period))
                                    .order_by(Response.id)).all()
        rng = np.random.default_rng(others)
        before = dt.datetime.combine(period.start_date, dt.time()) - dt.timedelta(days=3)
        for k in range(others):  # outside the period; the first ones share an inside id's hi
            src = inside[k % len(inside)]
            if k < 3:
                new = uuid.UUID(bytes=src.id.bytes[:8] + rng.bytes(8))
            else:
                new = uuid.UUID(bytes=rng.bytes(16), version=4)
            _clone(src, new, before)
        # inside the period: two responses whose ids share the first 64 bits
        twin = uuid.UUID(bytes=inside[5].id.bytes[:8] + bytes(8))
        _clone(inside[7], twin, inside[7].submitted_at)
        db.session.commit()
        period = frames.get_period(period.code)
        table = load_table(period)
        assert table.n == len(inside) + 1
        assert list(table.data["response_id"]) == sorted(table.data["response_id"])
        assert str(twin) in set(table.data["response_id"])
        expected = _expected(table, period)
        assert (expected > 0).sum() > 1000
        assert (expected == 6).any()
        assert (expected == 0).any()
        np.testing.assert_array_equal(table.codes, expected)


def test_uuid_text_round_trip() -> None:
    from surveyapp.services.run_answers import uuid_text

    ids = [uuid.uuid4() for _ in range(50)] + [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)]
    halves = np.array([[u.int >> 64, u.int & (2**64 - 1)] for u in ids], dtype=np.uint64)
    assert list(uuid_text(halves[:, 0], halves[:, 1])) == [str(u) for u in ids]


def _ids_in_groups(groups: bytes) -> set[str]:
    from surveyapp.services.run_answers import _tuples, _uuids

    out: set[str] = set()
    for fields in _tuples(groups, 3):
        ids = _uuids(fields[2]).astype(np.uint64)
        out |= {str(uuid.UUID(int=(int(h) << 64) | int(lo))) for h, lo in ids}
    return out


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)],
                         indirect=True)
def test_responses_and_answers_read_one_snapshot(app: Flask, backend) -> None:  # noqa: ANN001
    """The answers are read on a second connection in a thread, the responses on the first:
    both see the data as it was when the pair opened, though a response with its answers is
    committed before either read starts (PostgreSQL only: SQLite reads in one statement)."""
    assert backend.name == "postgresql"
    from surveyapp.extensions import db
    from surveyapp.models import Response
    from surveyapp.services import frames, run_demo
    from surveyapp.services.run_answers import (
        read_responses,
        snapshot_pair,
        start_answer_groups,
    )
    from surveyapp.services.run_table import load_table, period_filter, reading_table

    with app.app_context():
        period = run_demo.demo_period(responses=60, frame=False)
        where = period_filter(period)
        inside = db.session.scalars(select(Response).where(*where)).all()
        source = str(inside[0].id).lower()
        db.session.commit()
        late, later = uuid.uuid4(), uuid.uuid4()
        with snapshot_pair() as (lead, follow):
            _clone(inside[0], late, inside[0].submitted_at)  # committed after the snapshot
            db.session.commit()
            raw, _hi, _lo = read_responses(where, lead)
            groups = start_answer_groups(where, len(raw), lead, follow).result()
        assert set(raw["response_id"]) == {str(r.id).lower() for r in inside}
        answered = _ids_in_groups(groups)
        assert source in answered
        assert str(late) not in answered
        with reading_table(frames.get_period(period.code)) as read:  # the whole table too
            _clone(inside[0], later, inside[0].submitted_at)
            db.session.commit()
            table = read.finish()
        ids = list(table.data["response_id"])
        assert str(later) not in ids
        assert table.n == len(inside) + 1
        row, src = ids.index(str(late)), ids.index(source)
        np.testing.assert_array_equal(table.codes[row], table.codes[src])
        assert (table.codes[row] > 0).any()
        assert load_table(frames.get_period(period.code)).n == len(inside) + 2


def test_a_failed_read_leaves_no_thread_or_transaction_behind(app: Flask) -> None:
    """An error while the answers are in flight ends the block cleanly: the thread is waited
    for (cancelled on PostgreSQL) and the next read works."""
    from surveyapp.services import frames, run_demo
    from surveyapp.services.run_table import load_table, reading_table

    with app.app_context():
        period = run_demo.demo_period(responses=30, frame=False)
        code = period.code

        def fail_while_reading() -> None:
            with reading_table(frames.get_period(code)) as read:
                assert read.base.n == 30
                raise RuntimeError("caller failed")

        with pytest.raises(RuntimeError, match="caller failed"):
            fail_while_reading()
        assert load_table(frames.get_period(code)).n == 30


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)],
                         indirect=True)
def test_a_read_in_flight_is_cancelled_not_waited_for(app: Flask, backend) -> None:  # noqa: ANN001
    """What ``reading_table`` does when its caller fails while the answers are still being
    read: cancel the statement on the second connection, then wait for the thread -- which
    ends at once with the cancellation instead of running the read to its end."""
    import time

    import psycopg

    from surveyapp.services.run_answers import InBackground, _copy_binary, snapshot_pair

    assert backend.name == "postgresql"
    with app.app_context(), snapshot_pair() as (_lead, follow):
        slow = InBackground(_copy_binary, "SELECT pg_sleep(30)", follow)
        time.sleep(0.5)
        assert slow.running()
        started = time.monotonic()
        follow.connection.dbapi_connection.cancel()
        with pytest.raises(psycopg.errors.QueryCanceled):
            slow.result()
        assert time.monotonic() - started < 5
