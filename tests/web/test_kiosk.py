"""Kiosk pages: set-up, the whole survey by tapping, idempotent submit, reset, language."""

from __future__ import annotations

import re
import uuid

import pytest

from surveyapp.models import Answer, QualityFlag, Response
from tests.web.helpers import count, csrf_of, radio_names, state_of, walk_survey


def paths(kiosk):
    return f"/k/{kiosk.id}", f"/k/{kiosk.id}/survey"


def test_start_screen_in_vietnamese(kiosk_client, kiosk):
    r = kiosk_client.get(f"/k/{kiosk.id}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert '<html lang="vi">' in html
    assert "Đánh giá mức độ hài lòng của Ông/Bà" in html
    assert "Trung tâm Phục vụ hành chính công phường Ba Đình" in html
    assert "Bắt đầu" in html
    assert ">English</a>" in html
    assert r.headers["Cache-Control"] == "no-store"


def test_start_screen_in_english_on_request(kiosk_client, kiosk):
    html = kiosk_client.get(f"/k/{kiosk.id}?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Please rate how satisfied you are" in html
    assert "Tiếng Việt" in html


def test_browser_language_is_never_guessed(kiosk_client, kiosk):
    html = kiosk_client.get(f"/k/{kiosk.id}", headers={"Accept-Language": "en-US,en"}).get_data(
        as_text=True)
    assert '<html lang="vi">' in html


def test_kiosk_without_setup_is_403_with_vietnamese_page(client, kiosk):
    r = client.get(f"/k/{kiosk.id}")
    assert r.status_code == 403
    html = r.get_data(as_text=True)
    assert "Kiosk chưa được kích hoạt" in html
    assert f"/k/{kiosk.id}/setup" in html


def test_unknown_kiosk_is_404(client):
    r = client.get("/k/k-nothere1")
    assert r.status_code == 404
    assert "Không tìm thấy kiosk" in r.get_data(as_text=True)


def test_setup_with_wrong_token_is_refused(client, kiosk):
    page = client.get(f"/k/{kiosk.id}/setup")
    token = csrf_of(page.get_data(as_text=True))
    r = client.post(f"/k/{kiosk.id}/setup", data={"csrf_token": token,
                                                 "token": "wrong"})
    assert r.status_code == 403
    assert "Mã bí mật không đúng" in r.get_data(as_text=True)
    assert "sipas_kiosk" not in r.headers.get("Set-Cookie", "")


def test_setup_cookie_flags(app, kiosk):
    client = app.test_client()
    page = client.get(f"/k/{kiosk.id}/setup?token={kiosk.token}")
    r = client.post(f"/k/{kiosk.id}/setup",
                    data={"csrf_token": csrf_of(page.get_data(as_text=True)), "token": kiosk.token})
    cookie = next(c for c in r.headers.getlist("Set-Cookie") if c.startswith("sipas_kiosk="))
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert kiosk.token not in cookie


def test_cookie_of_revoked_kiosk_stops_working(app, kiosk_client, kiosk):
    from surveyapp.extensions import db
    from surveyapp.models import Kiosk
    from surveyapp.services import kiosks

    with app.app_context():
        kiosks.revoke(db.session.get(Kiosk, kiosk.id))
    assert kiosk_client.get(f"/k/{kiosk.id}").status_code == 404


def test_citizen_completes_survey_by_tapping(app, kiosk_client, kiosk):
    start, post = paths(kiosk)
    final, pages = walk_survey(kiosk_client, start, post, value="5", comment="Rất tốt")
    assert final.status_code == 303
    assert final.headers["Location"].startswith(f"/k/{kiosk.id}/thanks")
    assert count(app, Response) == 1
    assert count(app, Answer) == 19
    # the pages: start, field, five contents with progress, comment
    assert "Ông/Bà đến giải quyết thủ tục thuộc lĩnh vực nào?" in pages[1]
    assert "Phần 1/5" in pages[2]
    assert "Tiếp cận dịch vụ hành chính công" in pages[2]
    assert "Phần 5/5" in pages[6]
    for label in ("Rất không hài lòng", "Không hài lòng", "Bình thường", "Hài lòng",
                  "Rất hài lòng", "Không áp dụng"):
        assert label in pages[2]
    assert "bị từ chối cấp giấy tờ" in pages[5]  # the C4 note: a refusal is a result too
    from surveyapp.extensions import db

    with app.app_context():
        stored = db.session.scalars(db.select(Response)).one()
        assert (stored.channel, stored.kiosk_id, stored.field.code) == ("kiosk", kiosk.id,
                                                                        "dat-dai")
        assert stored.comment == "Rất tốt"
        assert stored.started_at is not None


def test_thanks_page_returns_to_start(kiosk_client, kiosk):
    r = kiosk_client.get(f"/k/{kiosk.id}/thanks")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "Xin cảm ơn Ông/Bà!" in html
    assert f'<noscript><meta http-equiv="refresh" content="8;url=/k/{kiosk.id}"></noscript>' \
        in html
    assert f'data-idle="8" data-home="/k/{kiosk.id}"' in html  # survey.js does it with JS on


def test_start_screen_reloads_itself_without_timing_out_anyone(kiosk_client, kiosk):
    """A bare <meta refresh> is an axe "critical" finding; the start screen's reload (which
    keeps its CSRF token fresh) is done by survey.js, or by <noscript> when JS is off."""
    html = kiosk_client.get(f"/k/{kiosk.id}").get_data(as_text=True)
    assert f'<noscript><meta http-equiv="refresh" content="300;url=/k/{kiosk.id}"></noscript>' \
        in html
    assert html.count("http-equiv") == 1


def test_question_pages_reset_after_idle_even_without_js(kiosk_client, kiosk):
    start, post = paths(kiosk)
    html = kiosk_client.get(start).get_data(as_text=True)
    r = kiosk_client.post(post, data={"csrf_token": csrf_of(html), "nav": "start"})
    page = r.get_data(as_text=True)
    refresh = f'<meta http-equiv="refresh" content="60;url=/k/{kiosk.id}">'
    assert f"<noscript>{refresh}</noscript>" in page
    assert f'data-idle="60" data-home="/k/{kiosk.id}"' in page
    assert r.headers["Cache-Control"] == "no-store"


def test_start_page_shows_nothing_of_previous_citizen(app, kiosk_client, kiosk):
    start, post = paths(kiosk)
    walk_survey(kiosk_client, start, post, comment="Bí mật của người trước")
    html = kiosk_client.get(start).get_data(as_text=True)
    assert "Bí mật của người trước" not in html
    assert 'name="state"' not in html
    assert "checked" not in html


def test_double_submit_stores_one_response(app, kiosk_client, kiosk):
    start, post = paths(kiosk)
    html = kiosk_client.get(start).get_data(as_text=True)
    html = kiosk_client.post(post, data={"csrf_token": csrf_of(html), "nav": "start"}).get_data(
        as_text=True)
    html = kiosk_client.post(post, data={"csrf_token": csrf_of(html), "state": state_of(html),
                                         "field": ""}).get_data(as_text=True)
    data = {"csrf_token": csrf_of(html), "state": state_of(html), "nav": "next"}
    data.update({name: "3" for name in radio_names(html)})
    html = kiosk_client.post(post, data=data).get_data(as_text=True)
    # jump straight to submit twice with the same state (double tap / retry)
    data = {"csrf_token": csrf_of(html), "state": state_of(html), "nav": "submit"}
    first = kiosk_client.post(post, data=data)
    second = kiosk_client.post(post, data=data)
    assert first.status_code == second.status_code == 303
    assert count(app, Response) == 1
    assert count(app, Answer) == 4


def test_back_keeps_answers_and_language_switch_keeps_state(kiosk_client, kiosk):
    start, post = paths(kiosk)
    html = kiosk_client.get(start).get_data(as_text=True)
    html = kiosk_client.post(post, data={"csrf_token": csrf_of(html), "nav": "start"}).get_data(
        as_text=True)
    html = kiosk_client.post(post, data={"csrf_token": csrf_of(html), "state": state_of(html),
                                         "field": "ho-tich"}).get_data(as_text=True)
    names = radio_names(html)
    data = {"csrf_token": csrf_of(html), "state": state_of(html), "nav": "lang-en",
            names[0]: "2"}
    html = kiosk_client.post(post, data=data).get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Part 1 of 5" in html
    assert "Access to public administrative services" in html  # item text from the DB, in en
    assert re.search(rf'id="{names[0]}-2" name="{names[0]}" value="2" checked', html)
    data = {"csrf_token": csrf_of(html), "state": state_of(html), "nav": "next"}
    html = kiosk_client.post(post, data=data).get_data(as_text=True)
    assert "Part 2 of 5" in html
    data = {"csrf_token": csrf_of(html), "state": state_of(html), "nav": "back"}
    html = kiosk_client.post(post, data=data).get_data(as_text=True)
    assert "Part 1 of 5" in html
    assert re.search(rf'id="{names[0]}-2" name="{names[0]}" value="2" checked', html)


def test_honeypot_filled_keeps_response_with_flag(app, kiosk_client, kiosk):
    start, post = paths(kiosk)
    final, _ = walk_survey(kiosk_client, start, post, extra={"website": "http://spam.example"})
    assert final.status_code == 303
    assert count(app, Response) == 1
    assert count(app, QualityFlag, QualityFlag.code == "honeypot") == 1


def test_tampered_state_restarts_with_clear_page(kiosk_client, kiosk):
    start, post = paths(kiosk)
    html = kiosk_client.get(start).get_data(as_text=True)
    html = kiosk_client.post(post, data={"csrf_token": csrf_of(html), "nav": "start"}).get_data(
        as_text=True)
    state = state_of(html)
    bad = state[:-3] + ("AAA" if not state.endswith("AAA") else "BBB")
    r = kiosk_client.post(post, data={"csrf_token": csrf_of(html), "state": bad, "nav": "next"})
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert "Trang đã hết hạn" in page
    assert f'href="/k/{kiosk.id}"' in page


def test_state_of_another_kiosk_is_refused(app, kiosk_client, kiosk):
    from surveyapp.services import kiosks

    with app.app_context():
        other = kiosks.register(kiosks.find_centre("X00004"))
    start, post = paths(kiosk)
    html = kiosk_client.get(start).get_data(as_text=True)
    html = kiosk_client.post(post, data={"csrf_token": csrf_of(html), "nav": "start"}).get_data(
        as_text=True)
    client2 = app.test_client()
    page = client2.get(f"/k/{other.id}/setup?token={other.token}").get_data(as_text=True)
    client2.post(f"/k/{other.id}/setup", data={"csrf_token": csrf_of(page), "token": other.token})
    page = client2.get(f"/k/{other.id}").get_data(as_text=True)
    r = client2.post(f"/k/{other.id}/survey", data={"csrf_token": csrf_of(page),
                                                   "state": state_of(html), "nav": "next"})
    assert r.status_code == 400


def test_post_without_csrf_token_is_rejected(app, kiosk_client, kiosk):
    _, post = paths(kiosk)
    r = kiosk_client.post(post, data={"nav": "start"})
    assert r.status_code == 400
    assert "Trang đã hết hạn" in r.get_data(as_text=True)


@pytest.mark.parametrize("bad_value", ["0", "6", "3.5", "<script>", "NA", ""])
def test_invalid_radio_values_are_ignored(app, kiosk_client, kiosk, bad_value):
    start, post = paths(kiosk)
    html = kiosk_client.get(start).get_data(as_text=True)
    html = kiosk_client.post(post, data={"csrf_token": csrf_of(html), "nav": "start"}).get_data(
        as_text=True)
    html = kiosk_client.post(post, data={"csrf_token": csrf_of(html), "state": state_of(html),
                                         "field": "not-a-field"}).get_data(as_text=True)
    names = radio_names(html)
    data = {"csrf_token": csrf_of(html), "state": state_of(html), "nav": "next"}
    data.update({names[0]: bad_value, names[1]: "4"})
    html = kiosk_client.post(post, data=data).get_data(as_text=True)
    r = kiosk_client.post(post, data={"csrf_token": csrf_of(html), "state": state_of(html),
                                      "nav": "submit"})
    assert r.status_code == 303
    assert count(app, Answer) == 1
    from surveyapp.extensions import db

    with app.app_context():
        assert db.session.scalars(db.select(Response)).one().field_id is None


def test_nothing_answered_stores_nothing(app, kiosk_client, kiosk):
    start, post = paths(kiosk)
    html = kiosk_client.get(start).get_data(as_text=True)
    html = kiosk_client.post(post, data={"csrf_token": csrf_of(html), "nav": "start"}).get_data(
        as_text=True)
    r = kiosk_client.post(post, data={"csrf_token": csrf_of(html), "state": state_of(html),
                                      "nav": "submit"})
    assert r.status_code == 303
    assert count(app, Response) == 0


def test_response_id_is_made_when_form_is_shown(app, kiosk_client, kiosk):
    """The first question page already carries the UUID that becomes the primary key."""
    from surveyapp.collect import flow

    start, post = paths(kiosk)
    html = kiosk_client.get(start).get_data(as_text=True)
    html = kiosk_client.post(post, data={"csrf_token": csrf_of(html), "nav": "start"}).get_data(
        as_text=True)
    with app.test_request_context():
        state = flow.load_state(state_of(html), f"k:{kiosk.id}")
    final, _ = walk_survey(kiosk_client, start, post)
    assert final.status_code == 303
    assert uuid.UUID(state.rid).version == 4


def test_setup_without_csrf_is_rejected(client, kiosk):
    r = client.post(f"/k/{kiosk.id}/setup", data={"token": kiosk.token})
    assert r.status_code == 400
    assert "sipas_kiosk" not in r.headers.get("Set-Cookie", "")
