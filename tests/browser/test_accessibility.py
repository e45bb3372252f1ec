"""axe-core (axe-playwright-python) on every kiosk and phone page: no serious or critical
violation.  Moderate and minor findings are written to test-artifacts/axe-<device>.json."""

from __future__ import annotations

import json

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.browser import citizen
from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

BLOCKING = {"serious", "critical"}
_axe = Axe()


class Scanner:
    def __init__(self, page) -> None:
        self.page = page
        self.found: dict[str, list[dict]] = {}

    def scan(self, name: str) -> None:
        result = _axe.run(self.page)
        self.found[name] = [
            {"id": v["id"], "impact": v["impact"], "help": v["help"],
             "targets": [n["target"] for n in v["nodes"]][:5]}
            for v in result.response["violations"]
        ]

    def blocking(self) -> dict[str, list[dict]]:
        return {page: [v for v in vs if v["impact"] in BLOCKING]
                for page, vs in self.found.items() if any(v["impact"] in BLOCKING for v in vs)}

    def save(self, device: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"axe-{device}.json"
        path.write_text(json.dumps(self.found, ensure_ascii=False, indent=1), encoding="utf-8")


def test_kiosk_pages_have_no_serious_axe_violations(open_page, live_site, contents):
    page = open_page("kiosk")
    axe = Scanner(page)
    page.goto(live_site.kiosk_url)
    axe.scan("start")
    citizen.start(page)
    axe.scan("field")
    citizen.choose_field(page, "Tư pháp")
    axe.scan("question")
    answers = citizen.plan(contents)
    citizen.rate_content(page, contents[0], 1, len(contents), answers, go_next=False)
    axe.scan("question-answered")
    citizen.press(page, page.get_by_role("button", name="English"))
    axe.scan("question-en")
    citizen.press(page, page.get_by_role("button", name="Tiếng Việt"))
    for _n in range(len(contents)):
        citizen.press(page, page.get_by_role("button", name="Tiếp tục", exact=True))
    axe.scan("comment")
    citizen.comment_and_send(page, None)
    axe.scan("thanks")
    axe.save("kiosk")
    assert axe.blocking() == {}
    # Control: the same scan does catch a broken page (an unnamed button is critical).
    page.evaluate("document.querySelector('main').append(document.createElement('button'))")
    axe.scan("control")
    assert [v["id"] for v in axe.blocking().get("control", [])] == ["button-name"]


def test_phone_pages_have_no_serious_axe_violations(open_page, live_site, contents):
    page = open_page("phone")
    axe = Scanner(page)
    page.goto(live_site.phone_url)
    axe.scan("start")
    citizen.start(page)
    axe.scan("field")
    citizen.choose_field(page, None)
    axe.scan("question")
    for _n in range(len(contents)):
        citizen.press(page, page.get_by_role("button", name="Tiếp tục", exact=True))
    page.locator("#comment").fill("Rất tốt.")
    axe.scan("comment")
    citizen.comment_and_send(page, "Rất tốt.")
    axe.scan("thanks")
    page.goto(live_site.phone_url.replace("sig=", "sig=x"))
    axe.scan("invalid-link")
    axe.save("phone")
    assert axe.blocking() == {}
