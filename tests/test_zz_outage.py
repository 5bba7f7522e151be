"""Outages: the stack of the session loses its action server, then its Rasa server (this
module runs last, by name, and its tests in this order).

With the action server gone, Rasa still reads messages, so danger that only the NLU recognises
is answered from the packs. With Rasa gone too, danger is still answered from the packs in
memory (lexicons), everything else gets an apology with the menu, and /healthz says the
assistant is not ready.
"""

from __future__ import annotations

import os
import signal
import time
import urllib.error
import urllib.request

import pytest

from bot.safety.layer import SafetyLayer
from tests.assistant_stack import Running, port_open
from tests.conftest import SHIPPED_LOCALES
from tests.test_assistant import WHAT_TO_DO, is_emergency, library, payloads, texts

pytestmark = pytest.mark.assistant


# Disclosures in words the lexicons do not list; the NLU's danger intent must catch them.
SOFT_DISCLOSURES = {
    "en": ["i cant go home and nobody will tell me where i am",
           "they keep me inside the flat all day and i am scared",
           "the man who brought me here will not let me leave the house"],
    "zh-Hans": ["他们不让我回家，我也不知道这是哪里",
                "带我来的那个人不让我出门，我好害怕",
                "我被关在屋里好几天了"],
    "vi": ["họ không cho em về nhà, em không biết đây là đâu",
           "người đưa em tới đây không cho em ra khỏi nhà",
           "em bị nhốt trong phòng mấy ngày rồi"],
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
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{stack.url}/healthz")
    with err.value:
        assert err.value.code == 503

