"""The assistant's own vocabulary: intents, entities, slots and simple replies.

Typed intents come with examples written by people (``nlu/<locale>.yml``); button intents are
reached by payloads such as ``/open_lesson{"lesson":"x"}``. Simple replies are interface strings
(gettext), compiled into one response variation per locale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from bot.content.problems import ProblemList
from bot.content.reading import load_model

NLU_DIR = Path(__file__).resolve().parent / "nlu"
MIN_EXAMPLES = 10

# Intents people type; each needs examples in every locale.
TYPED_INTENTS = (
    "greet", "menu", "start_lesson", "take_quiz", "find_hotline", "danger", "change_language",
    "choose_audience", "privacy", "forget_me", "stop", "out_of_scope", "next", "back",
)
# Intents only buttons send.
BUTTON_INTENTS = (
    "set_context", "open_lesson", "open_quiz", "answer", "choose_country", "set_locale",
    "set_audience", "confirm_forget", "resume", "retry_missed", "safe_to_talk", "lessons",
    "quiz", "hide", "show_faq",
)
# l: lesson id, q: quiz id, o: option number, f: FAQ id (short, to keep button payloads within
# Telegram's 64 bytes)
ENTITIES = ("locale", "country", "audience", "l", "q", "o", "f")


class KitExamples(BaseModel):
    """``nlu/<locale>.yml``: examples of the kit's typed intents in one language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    locale: str = Field(description="the language of the examples")
    intents: dict[str, list[str]] = Field(description="examples per intent")


def load_kit_examples(problems: ProblemList) -> dict[str, KitExamples]:
    """The kit's examples per locale; problems (missing intents, too few) are collected."""
    out: dict[str, KitExamples] = {}
    for path in sorted(NLU_DIR.glob("*.yml")):
        shown = f"bot/assistant/nlu/{path.name}"
        loaded = load_model(path, shown, KitExamples, problems)
        if loaded.model is None:
            continue
        examples = loaded.model
        for intent in TYPED_INTENTS:
            count = len(examples.intents.get(intent, []))
            if count < MIN_EXAMPLES:
                problems.add(shown, 1, 1, f'intent "{intent}" has {count} examples in '
                             f"{examples.locale}; it needs at least {MIN_EXAMPLES}")
        for intent in examples.intents:
            if intent not in TYPED_INTENTS:
                problems.add(shown, 1, 1, f'"{intent}" is not one of the kit\'s intents')
        out[examples.locale] = examples
    return out


@dataclass(frozen=True)
class Reply:
    """A simple reply: an interface string and its buttons (title msgid, payload)."""

    text: str
    buttons: tuple[tuple[str, str], ...] = ()


def _(message: str) -> str:
    """Marks a msgid for extraction; it is translated when the Rasa project is built."""
    return message


MENU_BUTTONS = ((_("Menu"), "/menu"), (_("Get help"), "/find_hotline"))


REPLIES: dict[str, Reply] = {
    "utter_privacy": Reply(
        _("SafeSteps does not ask for your name, phone number or school. Your chat is kept "
          "under a code, not your account, and deleted after %(days)s days. Type \"forget me\" "
          "to delete it now."),
        ((_("Forget me"), "/forget_me"), *MENU_BUTTONS),
    ),
    "utter_confirm_forget": Reply(
        _("Delete everything SafeSteps keeps about this chat (your progress and messages)? "
          "This cannot be undone."),
        ((_("Yes, delete it"), "/confirm_forget"), (_("No, keep it"), "/menu")),
    ),
    "utter_goodbye": Reply(
        _("Goodbye. Come back any time. If you are ever in danger, call the police."),
        MENU_BUTTONS,
    ),
    "utter_out_of_scope": Reply(
        _("Sorry, I can only help with staying safe: lessons, quizzes and who to call for help."),
        MENU_BUTTONS,
    ),
    "utter_fallback": Reply(
        _("Sorry, I did not understand that. Choose from the menu, or type your question "
          "in other words."),
        MENU_BUTTONS,
    ),
    "utter_safe_to_talk": Reply(
        _("I am glad you can talk. I am a computer program and cannot call anyone for you, but "
          "the people at these numbers can help. You can call them now, or keep talking to me."),
        ((_("Show the numbers"), "/find_hotline"), (_("Menu"), "/menu")),
    ),
}
