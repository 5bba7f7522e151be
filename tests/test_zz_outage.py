"""Outages: the stack of the session loses its action server, then its Rasa server (this
module runs last, by name, and its tests in this order), each killed with SIGKILL.

With the action server gone, Rasa still reads messages, so danger that only the NLU recognises
is answered from the packs. With Rasa gone, danger is still answered from the packs in
memory (lexicons), everything else gets an apology with the menu, and /healthz names what is
down. Then the supervisor of `safesteps up` starts each again and normal answers come back.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request

import pytest

from bot.safety.layer import SafetyLayer
from tests.assistant_stack import RESTART_DELAY, Running, port_open
from tests.conftest import SHIPPED_LOCALES
from tests.test_assistant import WHAT_TO_DO, is_emergency, library, payloads, texts

pytestmark = pytest.mark.assistant


# Disclosures in words the lexicons do not list; the NLU's danger intent must catch them.
SOFT_DISCLOSURES = {
    "en": ["nobody here lets me use a phone and i want my mum",
           "the boss keeps all our pay and we sleep on the factory floor",
           "a stranger put me in his car and now i dont know where we are",
           "i have to work every night and they say i owe them for the trip"],
    "zh-Hans": ["老板不让我们出厂门，工资也不给",
                "他们说我欠路费，要一直干活还钱",
                "每天晚上都要干活，不能离开",
                "有个陌生人把我带上车，现在不知道在哪"],
    "vi": ["người đưa em tới đây không cho em ra khỏi nhà",
           "chủ không trả lương và không cho tụi em ra ngoài",
           "họ bảo em nợ tiền đi đường phải làm trả",
           "em không biết đây là thành phố nào, họ không cho em gọi điện"],
}


def test_danger_the_nlu_recognises_is_answered_when_the_action_server_is_down(
        stack: Running) -> None:
    """Stops the action server of this stack; Rasa stays up."""
    layer = SafetyLayer(library())
    nlu_only = []
    for locale, messages in SOFT_DISCLOSURES.items():
        for message in messages:
            if layer.check(message) is None and is_emergency(
                    stack.chat(stack.new_user(), message, locale=locale), locale):
                nlu_only.append((locale, message))
    assert nlu_only, "no disclosure was left to the NLU alone: write softer ones"
    action_pid = stack.state()["pids"]["action server"]
    os.killpg(action_pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while port_open(stack.ports["action"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    for locale, message in nlu_only:
        assert is_emergency(stack.chat(stack.new_user(), message, locale=locale), locale), \
            (locale, message)
    # Anything else gets the apology and the menu, never a dead end.
    normal = stack.chat(stack.new_user(), "/menu", locale="en")
    assert "/find_hotline" in payloads(normal)
    assert health(stack) == (503, ["action server"])
    wait_until_healthy(stack)
    assert stack.state()["restarts"]["action server"] == 1
    assert stack.state()["pids"]["action server"] != action_pid
    lesson = stack.chat(stack.new_user(), '/open_lesson{"l":"teens-helping-a-friend"}',
                        locale="en")
    assert "Step 1 of" in texts(lesson)  # a custom action answers again


def health(stack: Running) -> tuple[int, list[str]]:
    try:
        with urllib.request.urlopen(f"{stack.url}/healthz", timeout=10) as response:
            return response.status, json.loads(response.read())["down"]
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())["down"]


def wait_until_healthy(stack: Running) -> None:
    """The supervisor restarts what was killed (after RESTART_DELAY seconds, then the model
    loads); how long that takes is not a test's business (no timed assertions)."""
    deadline = time.monotonic() + RESTART_DELAY + 300
    while time.monotonic() < deadline:
        if health(stack)[0] == 200:
            return
        time.sleep(1)
    raise AssertionError("the stack did not come back:\n" + stack.log.read_text()[-3000:])


def test_danger_is_answered_even_when_rasa_is_down(stack: Running) -> None:
    """Last on purpose: stops the Rasa server of this stack."""
    rasa_pid = stack.state()["pids"]["Rasa server"]
    os.killpg(rasa_pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while port_open(stack.ports["rasa"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    for locale in SHIPPED_LOCALES:
        user = stack.new_user()
        lexicon = library().lexicons[locale]
        danger = stack.chat(user, lexicon.examples.danger[0], locale=locale)
        assert is_emergency(danger, locale)
        normal = stack.chat(user, "/menu", locale=locale)
        assert WHAT_TO_DO[locale] in texts(normal)  # the apology comes with the menu
        assert "/find_hotline" in payloads(normal)
    status, _ = stack.post({"user": "u", "text": "hello"})
    assert status == 200
    assert health(stack) == (503, ["Rasa server"])
    wait_until_healthy(stack)
    assert stack.state()["restarts"]["Rasa server"] == 1
    user = stack.new_user()
    assert WHAT_TO_DO["vi"] in texts(stack.chat(user, "/menu", locale="vi"))
    assert "cannot answer" not in texts(stack.chat(user, "what is human trafficking"))
    assert "restarting it in" in stack.log.read_text()

