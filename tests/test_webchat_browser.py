"""The web chat in a real browser (Debian's headless Chromium) against the real stack.

Screenshots of a conversation in each locale go to build/screenshots/.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.assistant_stack import Running
from tests.conftest import ROOT, SHIPPED_LOCALES
from tests.test_assistant import WHAT_TO_DO

pytestmark = [pytest.mark.browser, pytest.mark.assistant]
SCREENSHOTS = ROOT / "build" / "screenshots"
STEP_ONE = {"en": "Step 1 of", "zh-Hans": "第 1 步", "vi": "Bước 1/"}
NEUTRAL = "https://www.bing.com/"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 420, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: errors.append(f"dialog: {d.message}"))
    # No network here: the neutral site of the quick exit is answered locally.
    page.route(f"{NEUTRAL}**", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<title>Search</title><p>neutral</p>"))
    yield page
    context.close()
    assert errors == []


# The page's Content-Security-Policy forbids eval, so waits use locators (which run in
# Playwright's isolated world), never wait_for_function.


def press_and_wait(page: Any, button: Any) -> None:
    """Press a button and wait until the bot has answered."""
    before = page.locator(".msg.bot").count()
    button.click()
    page.locator(".msg.bot").nth(before).wait_for()


def bot_text(page: Any) -> str:
    return str(page.locator(".msg.bot").all_inner_texts()).replace("\\n", "\n")


@pytest.mark.parametrize("locale", SHIPPED_LOCALES)
def test_a_conversation_in_each_locale(stack: Running, page: Any, locale: str) -> None:
    page.goto(f"{stack.url}/?lang={locale}")
    page.locator(".msg.bot", has_text=WHAT_TO_DO[locale]).wait_for()
    assert page.locator("html").get_attribute("lang") == locale
    # Lessons → who I am (first audience) → first lesson: step 1 with its buttons.
    press_and_wait(page, page.locator(".choices button").first)
    press_and_wait(page, page.locator(".msg.bot").last.locator(".choices button").first)
    press_and_wait(page, page.locator(".msg.bot").last.locator(".choices button").first)
    assert STEP_ONE[locale] in page.locator(".msg.bot").last.inner_text()
    # Bold text arrives as <b>, never as markup shown to the reader.
    assert page.locator(".msg.bot b").count() > 0
    assert "<b>" not in bot_text(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"webchat-{locale}.png"), full_page=True)


def test_typed_html_is_shown_as_text_and_danger_gets_the_numbers(stack: Running, page: Any
                                                                ) -> None:
    page.goto(f"{stack.url}/?lang=en")
    page.wait_for_selector(".msg.bot")
    before = page.locator(".msg.bot").count()
    page.fill("#text", "<img src=x onerror=alert(1)> they took my passport and locked me in")
    page.keyboard.press("Enter")
    page.locator(".msg.bot").nth(before).wait_for()
    assert "110" in page.locator(".msg.bot").last.inner_text()
    assert page.locator(".msg.me").last.inner_text().startswith("<img src=x")
    assert page.locator("img").count() == 0
    assert "not your fault" in bot_text(page)


def test_keyboard_only(stack: Running, page: Any) -> None:
    page.goto(f"{stack.url}/?lang=en")
    page.wait_for_selector(".msg.bot .choices button")
    assert page.evaluate("document.activeElement.id") == "text"  # the input has focus
    page.keyboard.type("hello")
    page.keyboard.press("Enter")
    page.locator(".msg.me").first.wait_for()
    page.locator(".msg.bot").nth(1).wait_for()
    for _ in range(40):  # Tab to the newest enabled button
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "document.activeElement.tagName + '|' + (document.activeElement.disabled || false)")
        if focused == "BUTTON|false" and page.evaluate(
                "document.activeElement.closest('.choices') !== null"):
            break
    title = page.evaluate("document.activeElement.textContent")
    page.keyboard.press("Enter")
    page.locator(".msg.me", has_text=title).first.wait_for()


def test_quick_exit_clears_the_chat_and_leaves(stack: Running, page: Any) -> None:
    page.goto(f"{stack.url}/?lang=vi")
    page.wait_for_selector(".msg.bot")
    old = page.evaluate("sessionStorage.getItem('safesteps-user')")
    assert old and old.startswith("web-")
    page.keyboard.press("Shift+Escape")  # the keyboard shortcut does the same as the button
    page.wait_for_url(f"{NEUTRAL}**")
    assert page.title() == "Search"
    page.go_back()
    assert page.url.startswith(NEUTRAL) or page.url == "about:blank"  # the chat left history
    page.goto(f"{stack.url}/?lang=vi")
    page.wait_for_selector(".msg.bot")
    assert page.evaluate("sessionStorage.getItem('safesteps-user')") != old  # a new chat
    assert page.locator(".msg.me").count() == 0
    page.click("#exit")
    page.wait_for_url(f"{NEUTRAL}**")


def test_the_page_is_light(stack: Running) -> None:
    with urllib.request.urlopen(f"{stack.url}/?lang=zh-Hans") as response:
        body = response.read()
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert len(body) < 100_000
    assert b"<script src" not in body and b"<link" not in body  # one request, no framework
