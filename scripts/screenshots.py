#!/usr/bin/env python3
"""Take the README's screenshots of the survey pages with the real app and headless Chromium.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Serves the app on a throw-away SQLite database with demo data (the same live server the
browser tests use), sets up a kiosk through its set-up page, then walks the survey like a
citizen and saves kiosk start / question / thank-you pages in Vietnamese and English, and the
phone start and question pages, and the admin's kiosk fleet page (heartbeats of a few
demo kiosks set to show every state).  Needs Debian's chromium (scripts/install-system-deps).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import citizen  # noqa: E402
from tests.browser.live import LiveServer, launch_chromium  # noqa: E402

KIOSK = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
FIELD = {"vi": "Hộ tịch", "en": "Civil status registration"}
ADMIN_PASSWORD = "screenshot-only-" + "x" * 8  # noqa: S105 - a throw-away database


def kiosk_shots(browser, site: LiveServer, out: Path, lang: str) -> list[Path]:
    context = browser.new_context(viewport=KIOSK, has_touch=True, reduced_motion="reduce")
    page = context.new_page()
    page.goto(site.kiosk_setup_url)
    with page.expect_navigation():
        page.get_by_role("button").click()
    if lang == "en":
        citizen.press(page, page.get_by_role("link", name="English"))
    saved = [shot(page, out / f"kiosk-start-{lang}.png")]
    citizen.start(page, lang)
    citizen.choose_field(page, FIELD[lang], lang)
    first = site.contents()[0]
    for item, value in zip(first.items[:2], ("4", "5"), strict=True):
        citizen.press(page, citizen.option(page, item, value), navigates=False)
    page.evaluate("window.scrollTo(0, 0)")
    saved.append(shot(page, out / f"kiosk-question-{lang}.png", full=True))
    for item in first.items[2:]:
        citizen.press(page, citizen.option(page, item, "4"), navigates=False)
    for _ in site.contents():
        citizen.press(page, page.get_by_role("button", name=citizen.TEXT[lang]["next"],
                                              exact=True))
    citizen.comment_and_send(page, None, lang)
    saved.append(shot(page, out / f"kiosk-thanks-{lang}.png"))
    context.close()
    return saved


def phone_shots(browser, site: LiveServer, out: Path) -> list[Path]:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                  device_scale_factor=2, reduced_motion="reduce")
    page = context.new_page()
    page.goto(site.phone_url)
    saved = [shot(page, out / "phone-start-vi.png")]
    citizen.start(page)
    citizen.choose_field(page, None)
    item = site.contents()[0].items[0]
    citizen.press(page, citizen.option(page, item, "4"), navigates=False)
    page.evaluate("window.scrollTo(0, 0)")
    saved.append(shot(page, out / "phone-question-vi.png"))
    context.close()
    return saved


def fleet_shots(browser, site: LiveServer, out: Path) -> list[Path]:
    """Admin -> Kiosks with kiosks in contact, silent, with answers queued or held, new."""
    import datetime as dt

    from sqlalchemy import select

    from surveyapp.extensions import db
    from surveyapp.models import Kiosk
    from surveyapp.services import accounts

    now = accounts.utcnow()
    beats = {"P01": (1, "kiosk-2026.11.27-1", 0, 0), "P48": (2, "kiosk-2026.11.27-1", 3, 0),
             "P79": (47, "kiosk-2026.11.20-1", 12, 1), "X00070": (0, "kiosk-2026.11.27-1", 0, 0)}
    with site.app.app_context():
        db.session.add(accounts.create_user("quantri", ADMIN_PASSWORD, "admin",
                                            display_name="Nguyễn Quản Trị"))
        for row in db.session.scalars(select(Kiosk)):  # the demo's kiosks, one per centre
            beat = beats.pop(row.centre.code, None)
            if beat is not None:
                minutes, version, queued, held = beat
                row.last_heartbeat_at = now - dt.timedelta(minutes=minutes)
                row.app_version, row.queue_length, row.queue_held = version, queued, held
        db.session.commit()
    context = browser.new_context(viewport=KIOSK, reduced_motion="reduce")
    page = context.new_page()
    page.goto(site.url + "/login")
    page.fill("#username", "quantri")
    page.fill("#password", ADMIN_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Đăng nhập").click()
    page.goto(site.url + "/admin/kiosks?province=")
    saved = [shot(page, out / "admin-kiosks.png")]
    context.close()
    return saved


def shot(page, path: Path, full: bool = False) -> Path:
    page.screenshot(path=str(path), full_page=full, animations="disabled")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="sipas-shots-") as tmp:
        site = LiveServer(Path(tmp), KIOSK_OPENING_HOURS="mon-sun 00:00-24:00",
                          PASSWORD_HASH_PROFILE="test").start()  # noqa: S106
        try:
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                saved = kiosk_shots(browser, site, args.out, "vi")
                saved += kiosk_shots(browser, site, args.out, "en")
                saved += phone_shots(browser, site, args.out)
                saved += fleet_shots(browser, site, args.out)
                browser.close()
        finally:
            site.stop()
    for path in saved:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
