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
