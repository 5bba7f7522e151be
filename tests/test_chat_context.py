"""How a turn carries its conversation's locale and country to Rasa in the same call."""

from __future__ import annotations

import json

import pytest

from bot.chat.app import with_context

CONTEXT = {"locale": "vi", "country": "VN"}


def entities(payload: str) -> dict[str, str]:
    loaded: dict[str, str] = json.loads(payload[payload.index("{"):])
    return loaded


def test_a_bare_payload_gets_the_context_as_entities() -> None:
    sent = with_context("/greet", CONTEXT)
    assert sent.startswith("/greet{")
    assert entities(sent) == {"context_locale": "vi", "context_country": "VN"}


def test_a_payloads_own_entities_are_kept_beside_the_context() -> None:
    # The user's own choice travels as "locale"; Rasa's slot mapping puts it first.
    sent = with_context('/set_locale{"locale": "en"}', CONTEXT)
    assert entities(sent) == {"locale": "en", "context_locale": "vi", "context_country": "VN"}
    lesson = with_context('/open_lesson{"l":"teens-helping-a-friend"}', CONTEXT)
    assert entities(lesson)["l"] == "teens-helping-a-friend"


@pytest.mark.parametrize("text", ["hello", "xin chào /greet", "/broken{json", "/list[1]",
                                  '/answer["not", "an object"]', "/"])
def test_typed_text_and_malformed_payloads_are_sent_as_they_are(text: str) -> None:
    """Typed text carries its context in the metadata; a payload that is not an intent with a
    JSON object is left for Rasa to read (it answers it as typed text)."""
    assert with_context(text, CONTEXT) == text


def test_a_payload_whose_json_is_not_an_object_is_left_alone() -> None:
    assert with_context('/answer["a"]', CONTEXT) == '/answer["a"]'
    assert with_context("/answer{}", CONTEXT).startswith("/answer{")
