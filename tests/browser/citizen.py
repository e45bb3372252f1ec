"""What a citizen does on the survey pages, step by step, with the checks a person would make.

Every press is a tap on what the citizen sees (the face-and-word label, the button text), and
every step waits for the page it leads to; nothing is posted behind the browser's back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.browser.live import Content, ItemInfo

WORDS = {
    "vi": ["Rất không hài lòng", "Không hài lòng", "Bình thường", "Hài lòng", "Rất hài lòng"],
    "en": ["Very dissatisfied", "Dissatisfied", "Neutral", "Satisfied", "Very satisfied"],
}
TEXT = {
    "vi": {
        "title": ("Đánh giá mức độ hài lòng của Ông/Bà về sự phục vụ của cơ quan hành chính "
                  "nhà nước"),
        "start": "Bắt đầu", "field_q": "Ông/Bà đến giải quyết thủ tục thuộc lĩnh vực nào?",
        "skip": "Bỏ qua câu này", "part": "Phần {n}/{total}", "na": "Không áp dụng",
        "next": "Tiếp tục", "comment_q": "Ông/Bà có góp ý gì thêm không?",
        "send": "Gửi đánh giá", "thanks": "Xin cảm ơn Ông/Bà!", "switch": "English",
        "field": "Hộ tịch",
    },
    "en": {
        "title": "Please rate how satisfied you are with the service of the public administration",
        "start": "Start", "field_q": "Which kind of procedure did you come for?",
        "skip": "Skip this question", "part": "Part {n} of {total}", "na": "Not applicable",
        "next": "Next", "comment_q": "Anything else you would like to tell us?",
        "send": "Send my rating", "thanks": "Thank you!", "switch": "Tiếng Việt",
        "field": "Civil status registration",
    },
}
#: Answers cycle through every level and "na", so each value is stored at least once.
CYCLE = ("5", "4", "na", "3", "2", "1")


def plan(contents: Iterable[Content], shift: int = 0) -> dict[str, str]:
    """A full set of answers by item code; "na" only where the item allows it."""
    out: dict[str, str] = {}
    items = [item for content in contents for item in content.items]
    for n, item in enumerate(items):
        value = CYCLE[(n + shift) % len(CYCLE)]
        out[item.code] = "3" if value == "na" and not item.allow_na else value
    return out


def press(page: Any, locator: Any, *, navigates: bool = True) -> None:
    """Tap like a finger; when the tap sends a form, wait until the next page has loaded."""
    if navigates:
        with page.expect_navigation():
            locator.tap()
    else:
        locator.tap()


def start(page: Any, lang: str = "vi") -> None:
    """On the start screen: check it, then tap Start."""
    t = TEXT[lang]
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator("h1")).to_have_text(t["title"])
    press(page, page.get_by_role("button", name=t["start"], exact=True))


def choose_field(page: Any, name: str | None, lang: str = "vi") -> None:
    t = TEXT[lang]
    expect(page.locator("h1")).to_have_text(t["field_q"])
    target = name if name is not None else t["skip"]
    press(page, page.get_by_role("button", name=target, exact=True))


def option(page: Any, item: ItemInfo, value: str) -> Any:
    """The face-and-word label a citizen taps for ``value`` on ``item``."""
    return page.locator(f'label[for="i{item.id}-{value}"]')


#: What a citizen sees of each criterion on a content page, read in one go.
_SNAPSHOT = """() => Array.from(document.querySelectorAll("fieldset.item")).map(box => ({
  legend: box.querySelector("legend").textContent.trim(),
  options: Array.from(box.querySelectorAll("label.opt")).map(label => ({
    for: label.htmlFor, text: label.textContent.trim(),
    face: (label.querySelector("svg use") || {getAttribute: () => null}).getAttribute("href"),
    height: label.getBoundingClientRect().height,
  })),
}))"""


def rate_content(page: Any, content: Content, n: int, total: int, answers: dict[str, str],
                 lang: str = "vi", *, go_next: bool = True) -> None:
    """One content page: check heading, progress, each criterion's faces and words; tap."""
    t = TEXT[lang]
    expect(page.locator("#progress-label")).to_have_text(t["part"].format(n=n, total=total))
    expect(page.locator("h1")).to_have_text(content.name_vi if lang == "vi" else content.name_en)
    seen = page.evaluate(_SNAPSHOT)
    wanted = []
    for item in content.items:
        options = [{"for": f"i{item.id}-{level}", "text": word, "face": f"#face-{level}"}
                   for level, word in enumerate(WORDS[lang], start=1)]
        if item.allow_na:
            options.append({"for": f"i{item.id}-na", "text": t["na"], "face": None})
        wanted.append({"legend": item.text_vi if lang == "vi" else item.text_en,
                       "options": options})
    heights = [o.pop("height") for box in seen for o in box["options"]]
    assert seen == wanted
    assert min(heights) >= 48, heights
    for item in content.items:
        press(page, option(page, item, answers[item.code]), navigates=False)
    checked = page.locator("fieldset.item input:checked").evaluate_all(
        "els => els.map(e => e.id)")
    assert checked == [f"i{item.id}-{answers[item.code]}" for item in content.items]
    if go_next:
        press(page, page.get_by_role("button", name=t["next"], exact=True))


def comment_and_send(page: Any, comment: str | None, lang: str = "vi") -> None:
    t = TEXT[lang]
    expect(page.locator("h1")).to_have_text(t["comment_q"])
    if comment:
        page.locator("#comment").fill(comment)
    press(page, page.get_by_role("button", name=t["send"], exact=True))
    expect(page.locator("h1")).to_have_text(t["thanks"])


def complete(page: Any, contents: list[Content], answers: dict[str, str], *, lang: str = "vi",
             field: str | None = None, comment: str | None = None) -> None:
    """From the start screen to the thank-you page."""
    start(page, lang)
    choose_field(page, field, lang)
    for n, content in enumerate(contents, start=1):
        rate_content(page, content, n, len(contents), answers, lang)
    comment_and_send(page, comment, lang)


def go_back_html(page: Any) -> str:
    """Press the browser's Back button and return what it then shows.

    Survey pages are answers to POSTs sent with ``Cache-Control: no-store``, so Chromium has no
    copy to show: it fails with ERR_CACHE_MISS and shows its "Confirm form resubmission" page.
    """
    try:
        page.go_back()
    except PlaywrightError as exc:
        if "ERR_CACHE_MISS" not in str(exc):
            raise
        page.wait_for_url(re.compile(r"^chrome-error://"))
    page.wait_for_load_state()
    return page.content()


def quick_to_comment(page: Any, contents: list[Content],
                     field: str | None = None) -> dict[str, str]:
    """Start, then rate only the first criterion of each content; returns those answers."""
    start(page)
    choose_field(page, field)
    answers: dict[str, str] = {}
    for n, content in enumerate(contents, start=1):
        expect(page.locator("#progress-label")).to_have_text(f"Phần {n}/{len(contents)}")
        item = content.items[0]
        answers[item.code] = str(1 + n % 5)
        press(page, option(page, item, answers[item.code]), navigates=False)
        press(page, page.get_by_role("button", name="Tiếp tục", exact=True))
    return answers


def small_targets(page: Any, minimum: int = 48) -> list[str]:
    """Visible buttons, links and answer labels smaller than ``minimum`` CSS pixels."""
    return page.evaluate(
        """min => Array.from(document.querySelectorAll('button, a, label.opt, .choice'))
             .filter(e => e.offsetParent !== null)
             .map(e => [e, e.getBoundingClientRect()])
             .filter(([e, r]) => r.width < min || r.height < min)
             .map(([e, r]) => `${e.tagName} "${e.textContent.trim().slice(0, 30)}" `
                              + `${Math.round(r.width)}x${Math.round(r.height)}`)""",
        minimum,
    )
