"""Demo data: a few real-named communes in three provinces, their centres, counters, kiosks,
procedure fields and a few hundred plausible responses (seeded; no global RNG).

Commune codes below are illustrative 5-digit codes, not taken from the GSO list.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select

from surveyapp.extensions import db
from surveyapp.models import Counter, Kiosk, ProcedureField, ServiceCentre
from surveyapp.models.geography import REFORM_DATE
from surveyapp.services import kiosks, links, questionnaires, refcache, reference, submissions
from surveyapp.services.kiosks import KioskCredentials
from surveyapp.services.refcache import CentreRef, ItemRef, Ref
from surveyapp.services.validation import Submission

FIELDS = [
    ("dat-dai", "Đất đai", "Land"),
    ("ho-tich", "Hộ tịch", "Civil status registration"),
    ("chung-thuc", "Chứng thực", "Certification"),
    ("xay-dung", "Xây dựng", "Construction"),
    ("kinh-doanh", "Đăng ký kinh doanh", "Business registration"),
    ("lao-dong", "Lao động, việc làm, bảo trợ xã hội", "Labour, employment and social protection"),
    ("giao-thong", "Giao thông vận tải", "Transport"),
    ("tu-phap", "Tư pháp", "Justice"),
    ("moi-truong", "Tài nguyên và môi trường", "Natural resources and environment"),
]
#: (province code, commune code, kind, name_vi, name_en)
COMMUNES = [
    ("01", "00004", "phuong", "Phường Ba Đình", "Ba Dinh Ward"),
    ("01", "00070", "phuong", "Phường Hoàn Kiếm", "Hoan Kiem Ward"),
    ("01", "08974", "xa", "Xã Sóc Sơn", "Soc Son Commune"),
    ("48", "20194", "phuong", "Phường Hải Châu", "Hai Chau Ward"),
    ("48", "20333", "xa", "Xã Bà Nà", "Ba Na Commune"),
    ("79", "26734", "phuong", "Phường Sài Gòn", "Sai Gon Ward"),
    ("79", "25747", "phuong", "Phường Thủ Dầu Một", "Thu Dau Mot Ward"),
    ("79", "26941", "dac-khu", "Đặc khu Côn Đảo", "Con Dao Special Zone"),
]
PROVINCIAL = {"01": "thành phố Hà Nội", "48": "thành phố Đà Nẵng", "79": "Thành phố Hồ Chí Minh"}
PROVINCIAL_EN = {"01": "Ha Noi City", "48": "Da Nang City", "79": "Ho Chi Minh City"}
COUNTER_FIELDS = ["Đất đai", "Hộ tịch – Chứng thực", "Kinh doanh – Xây dựng", "Chính sách xã hội"]
COUNTER_FIELDS_EN = ["Land", "Civil status – Certification", "Business – Construction",
                     "Social policy"]
COMMENTS = [
    "Cán bộ hướng dẫn nhiệt tình, dễ hiểu.",
    "Thời gian chờ hơi lâu vào buổi sáng.",
    "Nên bố trí thêm ghế ngồi chờ.",
    "Thủ tục nhanh gọn, đúng hẹn.",
    "Máy lấy số thứ tự hay bị lỗi.",
    "Cảm ơn các anh chị ở quầy đất đai.",
]
CHANNEL_WEIGHTS = [("kiosk", 55), ("phone-qr", 35), ("receipt-link", 5), ("assisted", 5)]


@dataclass
class DemoResult:
    centres: int = 0
    responses: int = 0
    kiosks: list[KioskCredentials] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)


def load_fields() -> None:
    for pos, (code, vi, en) in enumerate(FIELDS, start=1):
        f = db.session.scalar(select(ProcedureField).where(ProcedureField.code == code))
        if f is None:
            db.session.add(ProcedureField(code=code, name_vi=vi, name_en=en, position=pos))
    db.session.commit()


def load_centres() -> list[ServiceCentre]:
    """Provincial centres and commune one-stop centres with 2–4 counters each (idempotent)."""
    out: list[ServiceCentre] = []
    for prov_code in PROVINCIAL:
        prov = reference.province(prov_code, REFORM_DATE)
        assert prov is not None, "run load-units first"
        out.append(_centre(f"P{prov_code}", prov.id, "provincial-centre",
                           f"Trung tâm Phục vụ hành chính công {PROVINCIAL[prov_code]}",
                           f"Public Administrative Service Centre of {PROVINCIAL_EN[prov_code]}",
                           4))
    for prov_code, code, kind, vi, en in COMMUNES:
        prov = reference.province(prov_code, REFORM_DATE)
        assert prov is not None
        unit, _created = reference.upsert_unit(
            code=code, level="commune", name_vi=vi, name_en=en, kind=kind,
            valid_from=REFORM_DATE, valid_to=None, parent=prov,
        )
        db.session.flush()
        lower = vi[0].lower() + vi[1:]
        out.append(_centre(f"X{code}", unit.id, "commune-centre",
                           f"Trung tâm Phục vụ hành chính công {lower}",
                           f"Public Administrative Service Centre, {en}", 2))
    db.session.commit()
    return out


def _centre(code: str, unit_id: int, kind: str, vi: str, en: str, n_counters: int) -> ServiceCentre:
    centre = db.session.scalar(select(ServiceCentre).where(ServiceCentre.code == code))
    if centre is None:
        centre = ServiceCentre(code=code, unit_id=unit_id, kind=kind, name_vi=vi, name_en=en)
        db.session.add(centre)
        for i in range(n_counters):
            centre.counters.append(Counter(
                code=str(i + 1), name_vi=f"Quầy {i + 1} – {COUNTER_FIELDS[i]}",
                name_en=f"Counter {i + 1} – {COUNTER_FIELDS_EN[i]}"))
    return centre


def _value(rng: random.Random, quality: float) -> int:
    """A 1–5 rating: mostly satisfied, shifted by the centre's latent quality."""
    weights = [0.03, 0.06 + 0.04 * (1 - quality), 0.16, 0.42, 0.25 + 0.15 * quality]
    return rng.choices([1, 2, 3, 4, 5], weights=weights)[0]


def load(responses: int = 400, seed: int = 2025, today: dt.date | None = None) -> DemoResult:
    """Everything the demo needs; responses are dated after the 2025 reform."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    reference.load_units()
    version = questionnaires.load_questionnaire("sipas-2023")
    load_fields()
    centres = load_centres()
    result = DemoResult(centres=len(centres))
    for centre in centres:
        result.kiosks.append(kiosks.register(centre, None, f"Kiosk sảnh chờ – {centre.code}"))
        result.links.append((centre.code, links.make(centre.code).query()))
    fields = list(db.session.scalars(select(ProcedureField)))
    quality = {c.id: rng.random() for c in centres}
    kiosk_of = {cred.centre_code: cred.id for cred in result.kiosks}
    end = today or links.local_today()
    start = max(REFORM_DATE, end - dt.timedelta(days=120))
    span = max((end - start).days, 0)
    channels, channel_w = zip(*CHANNEL_WEIGHTS, strict=True)
    version_ref = refcache.version(version.key)
    assert version_ref is not None
    items = {it.id: it for it in version_ref.items}
    for _ in range(responses):
        centre = rng.choice(centres)
        channel = rng.choices(channels, weights=channel_w)[0]
        day = start + dt.timedelta(days=rng.randint(0, span))
        when = dt.datetime.combine(day, dt.time(1 + rng.randint(0, 8), rng.randint(0, 59)))
        answers: dict[ItemRef, int | None] = {}
        for item in version.items:
            na_rate = 0.25 if item.content_code == "C5" else 0.04
            roll = rng.random()
            if roll < na_rate:
                answers[items[item.id]] = None
            elif roll < na_rate + 0.02:
                continue  # left unanswered
            else:
                answers[items[item.id]] = _value(rng, quality[centre.id])
        counter = rng.choice(centre.counters) if rng.random() < 0.7 else None
        proc_field = rng.choice(fields) if rng.random() < 0.8 else None
        sub = Submission(
            id=uuid.UUID(int=rng.getrandbits(128), version=4),
            centre=CentreRef(centre.id, centre.code, centre.active, centre.unit_id),
            counter=Ref(counter.id, counter.code) if counter else None,
            kiosk=None, channel=channel, version=version_ref,
            field=Ref(proc_field.id, proc_field.code) if proc_field else None, answers=answers,
            comment=rng.choice(COMMENTS) if rng.random() < 0.12 else None,
            client_time=when, started_at=when - dt.timedelta(seconds=rng.randint(40, 240)),
        )
        if channel == "kiosk":
            sub.kiosk = db.session.get(Kiosk, kiosk_of[centre.code])
        submissions.store(sub, now=when + dt.timedelta(seconds=rng.randint(0, 5)))
        result.responses += 1
        if not version_ref.frozen:  # the first response froze it
            version_ref = refcache.version(version.key) or version_ref
    return result
