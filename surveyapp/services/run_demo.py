"""Demo data for runs: a period with demo responses and a plausible frame.

Used by tests (here and in the province reports) and by ``flask demo-frame``: one call gives
a period that ``services.runs.run_now`` can estimate.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid

from sqlalchemy import func, insert, select

from surveyapp.extensions import db
from surveyapp.models import (
    Answer,
    Period,
    ProcedureField,
    QualityFlag,
    Response,
    ServiceCentre,
)
from surveyapp.services import demo, frames, questionnaires, reference
from surveyapp.services.accounts import utcnow
from surveyapp.services.run_table import period_filter
from surveyapp.services.submissions import resolve_units

DEMO_PERIOD = "2025-H2"


def demo_frame(period: Period, seed: int = 7, user: object = None) -> frames.FrameStats:
    """Dossiers per cell = responses x a seeded factor (5-40): provincial centres by field,
    commune centres one all-fields count (both kinds of frame row occur in real imports)."""
    rng = random.Random(seed)  # noqa: S311 - demo data
    counts = sorted(db.session.execute(
        select(Response.centre_id, Response.field_id, func.count())
        .where(*period_filter(period)).group_by(Response.centre_id, Response.field_id)
    ).all(), key=lambda r: (r[0], r[1] or 0))  # NULLs sort alike on every backend
    kinds = dict(db.session.execute(select(ServiceCentre.id, ServiceCentre.kind)).all())
    fields = list(db.session.scalars(select(ProcedureField.id).order_by(ProcedureField.id)))
    cells: dict[tuple[int, int | None], int] = {}
    for centre_id, field_id, n in counts:
        if kinds.get(centre_id) == "commune-centre":
            key: tuple[int, int | None] = (centre_id, None)
        else:
            key = (centre_id, field_id if field_id is not None else rng.choice(fields))
        cells[key] = cells.get(key, 0) + int(n) * rng.randint(5, 40)
    return frames.replace_frame(period, [(c, f, n) for (c, f), n in sorted(
        cells.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0))], source="demo", user=user)


def load_responses(n: int, seed: int, start: dt.date, end: dt.date,
                   honeypot_rate: float = 0.01) -> int:
    """Bulk-insert ``n`` demo responses dated ``start <= day < end`` at the demo centres.

    Same rating model as ``services.demo`` (mostly satisfied, shifted by a latent centre
    quality; N/A common on C5) but inserted in bulk, so tests get hundreds of responses fast.
    About ``honeypot_rate`` of them carry the ``honeypot`` quality flag.
    """
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    reference.load_units()
    version = questionnaires.load_questionnaire("sipas-2023")
    demo.load_fields()
    centres = demo.load_centres()
    fields = list(db.session.scalars(select(ProcedureField).order_by(ProcedureField.id)))
    quality = {c.id: rng.random() for c in centres}
    channels, channel_w = zip(*demo.CHANNEL_WEIGHTS, strict=True)
    span = max((end - start).days, 1)
    units: dict[tuple[int, dt.date], tuple[int, int]] = {}
    responses, answers, flags = [], [], []
    for _ in range(n):
        centre = rng.choice(centres)
        day = start + dt.timedelta(days=rng.randrange(span))
        key = (centre.id, day)
        if key not in units:
            unit, province = resolve_units(centre, day)
            units[key] = (unit.id, province.id)
        rid = uuid.UUID(int=rng.getrandbits(128), version=4)
        when = dt.datetime.combine(day, dt.time(1 + rng.randint(0, 8), rng.randint(0, 59)))
        field = rng.choice(fields) if rng.random() < 0.8 else None
        responses.append({
            "id": rid, "centre_id": centre.id, "channel": rng.choices(channels, channel_w)[0],
            "version_id": version.id, "field_id": field.id if field else None,
            "unit_id": units[key][0], "province_id": units[key][1], "submitted_at": when})
        for item in version.items:
            na_rate = 0.25 if item.content_code == "C5" else 0.04
            roll = rng.random()
            if roll < na_rate + 0.02 and roll >= na_rate:
                continue  # left unanswered
            value = None if roll < na_rate else demo._value(rng, quality[centre.id])
            answers.append({"response_id": rid, "item_id": item.id, "value": value,
                            "not_applicable": value is None})
        if rng.random() < honeypot_rate:
            flags.append({"response_id": rid, "code": "honeypot", "reason": "demo",
                          "created_at": utcnow()})
    if responses:
        db.session.execute(insert(Response), responses)
        db.session.execute(insert(Answer), answers)
        if flags:
            db.session.execute(insert(QualityFlag), flags)
        questionnaires.freeze(version)
    db.session.commit()
    return n


def demo_period(responses: int = 400, seed: int = 2025, code: str = DEMO_PERIOD,
                start: dt.date = dt.date(2025, 7, 1), end: dt.date = dt.date(2026, 1, 1),
                frame: bool = True) -> Period:
    """A period (default ``2025-H2``) with ``responses`` bulk demo responses in it and, with
    ``frame``, its demo frame; committed. Ready for ``services.runs.run_now``."""
    period = frames.get_period(code)
    if period is None:
        period = frames.create_period(code, f"Kỳ {code}", f"Period {code}", start, end)
        db.session.commit()
    load_responses(responses, seed, period.start_date, period.end_date)
    if frame:
        demo_frame(period)
    db.session.commit()
    return period


__all__ = ["DEMO_PERIOD", "demo_frame", "demo_period", "load_responses"]
