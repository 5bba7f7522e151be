"""A live class quiz in real browsers (Debian's headless Chromium) against the real stack:
the teacher's projector page and three pupils' phones play a whole quiz.

Screenshots of the host screen in the lobby, at a question and at the podium, and of a pupil's
phone after the first question, go to build/screenshots/.
"""

from __future__ import annotations

import csv
import io
import urllib.request
from typing import Any

import pytest

from bot.content import models
from tests.assistant_stack import Running
from tests.test_assistant import library
from tests.test_webchat_browser import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.assistant]
QUIZ = "children-safe-in-public"
PUPILS = (("Brave Fox", "en"), ("小熊猫", "zh-Hans"), ("Mèo Con", "vi"))
JOINED = {"en": "You are in", "zh-Hans": "小熊猫", "vi": "Mèo Con"}


def open_page(browser: Any, errors: list[str], width: int, height: int, locale: str) -> Any:
    context = browser.new_context(viewport={"width": width, "height": height},
                                  locale=locale, accept_downloads=True)
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    # A refusal the page shows the pupil (the test's phone-number nickname) is expected;
    # anything else the browser reports is a bug.
    page.on("console", lambda m: errors.append(m.text) if m.type == "error"
            and "status of 400" not in m.text else None)
    return page


def choose(page: Any, question: models.Question, right: bool) -> None:
    """Answer on a pupil's phone: the right option(s), or a wrong one."""
    options = page.locator(".opts button")
    options.first.wait_for()
    correct = question.correct_options()
    picks = correct if right else [min(set(range(options.count())) - set(correct))]
    for n in picks:
        options.nth(n).click()
    if question.type == "multiple":
        page.locator(".opts .go").click()


def test_a_host_and_three_pupils_play_a_whole_quiz(stack: Running, browser: Any) -> None:
    errors: list[str] = []
    quiz = library().quizzes[QUIZ]
    host = open_page(browser, errors, 1280, 800, "en")
    host.goto(f"{stack.url}/host?lang=en")
    host.locator("#quiz option").first.wait_for(state="attached")
    host.select_option("#quiz", QUIZ)
    host.fill("#seconds", "120")
    host.locator("#setup button[type=submit]").click()
    code = host.locator(".code").inner_text().strip()
    assert code.isdigit() and len(code) == 6
    # Opened as 127.0.0.1, the join link works on this computer only, and the teacher is told.
    assert "Only this computer" in host.locator("#screen .err").inner_text()
    host.locator("#qr").wait_for()
    for _ in range(50):  # the QR code is an image the browser can draw
        if host.locator("#qr").evaluate("img => img.complete && img.naturalWidth") > 0:
            break
        host.wait_for_timeout(100)
    else:
        raise AssertionError("the QR code did not load")
    with urllib.request.urlopen(f"{stack.url}/api/classroom/{code}/qr.svg") as response:
        assert response.headers["Content-Type"].startswith("image/svg+xml")
        assert b"<svg" in response.read()

    phones = []
    for nickname, locale in PUPILS:
        phone = open_page(browser, errors, 360, 740, locale)
        phone.goto(f"{stack.url}/join?code={code}")
        assert phone.locator("html").get_attribute("lang") == locale
        if locale == "en":  # a phone number is refused, in the pupil's language, and kept out
            phone.fill("#nick", "Tom 0912 345 678")
            phone.locator("#join button").click()
            phone.locator("#err", has_text="numbers").wait_for()
        phone.fill("#nick", nickname)
        phone.locator("#join button").click()
        phone.locator("#play .box", has_text=JOINED[locale]).wait_for()
        phones.append(phone)
    host.locator(".chips li").nth(2).wait_for()
    host.screenshot(path=str(SCREENSHOTS / "classroom-host-lobby.png"))
    assert host.locator(".chips li").all_inner_texts() == [n for n, _ in PUPILS]

    for index, question in enumerate(quiz.questions):
        host.locator("#next").click()
        host.locator(".q").wait_for()
        if index == 0:
            host.locator(".opt").first.wait_for()
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            host.screenshot(path=str(SCREENSHOTS / "classroom-host-question.png"))
        for n, phone in enumerate(phones):
            # The first pupil knows every answer, the second none, the third every other one.
            choose(phone, question, right=n == 0 or (n == 2 and index % 2 == 0))
        host.locator(".opt.ok").first.wait_for()  # everyone answered: the answer is shown
        assert "Top 5" in host.locator(".box h2").inner_text()
        first_pupil = phones[0].locator("#play .box .right")
        first_pupil.wait_for()
        phones[1].locator("#play .box .wrong").wait_for()
        if index == 0:
            phones[2].screenshot(path=str(SCREENSHOTS / "classroom-pupil-answer.png"))
    host.locator("#next").click()
    host.locator(".podium").wait_for()
    host.screenshot(path=str(SCREENSHOTS / "classroom-host-podium.png"), full_page=True)
    assert host.locator(".p1").inner_text().splitlines()[1] == "Brave Fox"
    assert host.locator(".p3").inner_text().splitlines()[1] == "小熊猫"
    for phone in phones:
        phone.locator("#play ol li").first.wait_for()

    with host.expect_download() as download:
        host.locator("#csv").click()
    report = download.value.path().read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(report)))
    assert [r[1] for r in rows[1:4]] == ["Brave Fox", "Mèo Con", "小熊猫"]
    assert rows[1][4] == str(len(quiz.questions))
    for page in (host, *phones):
        page.context.close()
    assert errors == []


def test_the_join_page_is_light_enough_for_a_slow_phone(stack: Running) -> None:
    with urllib.request.urlopen(f"{stack.url}/join?code=123456") as response:
        body = response.read()
        policy = response.headers["Content-Security-Policy"]
    assert len(body) < 16_000, f"{len(body)} bytes"
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert b"http://" not in body and b"https://" not in body  # nothing from elsewhere


def test_homework_at_a_pupils_own_pace(stack: Running, browser: Any) -> None:
    errors: list[str] = []
    quiz = library().quizzes[QUIZ]
    host = open_page(browser, errors, 1280, 800, "vi")
    host.goto(f"{stack.url}/host")
    host.locator("#quiz option").first.wait_for(state="attached")
    host.select_option("#quiz", QUIZ)
    host.select_option("#locale", "vi")  # the list comes again in Vietnamese, the choice kept
    title = quiz.title["vi"]
    host.locator("#quiz option", has_text=title if isinstance(title, str) else title.text
                 ).wait_for(state="attached")
    assert host.locator("#quiz").input_value() == QUIZ
    host.select_option("#mode", "homework")
    host.fill("#days", "3")
    host.locator("#setup button[type=submit]").click()
    code = host.locator(".code").inner_text().strip()
    assert host.locator("#next").is_hidden()  # no live controls for homework
    phone = open_page(browser, errors, 360, 740, "vi")
    phone.goto(f"{stack.url}/join?code={code}")
    phone.fill("#nick", "Mèo Con")
    phone.locator("#join button").click()
    for index, question in enumerate(quiz.questions):
        phone.locator(".bar", has_text=f"{index + 1}/{len(quiz.questions)}").wait_for()
        choose(phone, question, right=index != 0)
        # Right or wrong at once, with the explanation.
        phone.locator("#play .box .right" if index else "#play .box .wrong").wait_for()
        phone.locator("#play .go").click()
    phone.locator("#play .box", has_text=f"{len(quiz.questions) - 1}/{len(quiz.questions)}"
                  ).wait_for()
    # The host's table follows the homework: question 1 is the hardest, the rest all right.
    host.locator("td", has_text="100 %").nth(len(quiz.questions) - 2).wait_for()
    assert host.locator("td.hard").inner_text().startswith("0 %")
    assert host.locator("tr").count() == len(quiz.questions) + 1
    for page in (host, phone):
        page.context.close()
    assert errors == []
