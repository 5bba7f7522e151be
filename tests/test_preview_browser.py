"""The volunteers' preview in a real browser (Debian's headless Chromium), one screenshot per
locale in build/screenshots/."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator

import pytest

from bot.content.validate import validate
from bot.preview import build_site, serve
from bot.settings import load_settings
from tests.conftest import ROOT, SHIPPED_LOCALES

pytestmark = pytest.mark.browser
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    out = tmp_path_factory.mktemp("preview")
    build_site(validate(None, load_settings(ROOT)), out)
    server = serve(out, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def page(site: str) -> Iterator[object]:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: run make setup-browser (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1000, "height": 1400})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield page
        browser.close()
        assert errors == []


def test_overview_shows_validation_and_translation_status(page, site: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{site}/index.html")
    assert page.locator("#problems-heading").inner_text() == "Validation"
    assert "No problems" in page.locator("section.problems").inner_text()
    rows = page.locator("table").first.locator("tbody tr")
    assert rows.count() == 3
    assert "100%" in rows.first.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "preview-overview.png"))


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_locale_page_shows_lessons_quizzes_and_hotlines(page, site: str, locale: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{site}/{locale}.html")
    heading = {"en": "English", "zh-Hans": "中文 (简体)", "vi": "Tiếng Việt"}[locale]
    assert page.locator("h1").inner_text() == heading
    lessons = page.locator("article[id^=lesson-]")
    assert lessons.count() >= 16
    first_steps = lessons.first.locator("ol > li")
    assert 3 <= first_steps.count() <= 7
    assert page.locator("article[id^=quiz-] li.right").count() >= 80
    china = page.locator("#hotlines-CN").inner_text()
    assert "110" in china
    sources = page.locator("#hotlines-CN a[href^=http]")
    assert sources.count() >= 3
    page.locator("#hotlines").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / f"preview-{locale}.png"))
    page.goto(f"{site}/{locale}.html")
    page.screenshot(path=str(SCREENSHOTS / f"preview-{locale}-top.png"))
