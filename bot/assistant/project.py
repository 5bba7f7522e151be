"""`safesteps build`: compile the packs and the kit's data into a complete Rasa project.

The project goes under the build folder and is never edited by hand: domain (intents,
entities, slots, one response variation per locale), NLU data (kit intents and the FAQs as
retrieval intents), rules, stories, test stories, config, endpoints and credentials.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from markupsafe import escape

from bot.assistant import kit
from bot.content import models
from bot.content.library import ContentLibrary
from bot.content.problems import ProblemList
from bot.i18n import Translator
from bot.settings import Settings

RASA_FORMAT = "3.1"
ACTIONS = (
    "action_welcome", "action_menu", "action_context", "action_list_lessons",
    "action_open_lesson", "action_next", "action_back", "action_answer", "action_list_quizzes",
    "action_open_quiz", "action_retry_missed", "action_resume", "action_hotlines",
    "action_choose_country", "action_danger", "action_choose_language", "action_set_locale",
    "action_choose_audience", "action_set_audience", "action_forget", "action_hide",
    "action_faq",
)
PROGRESS_SLOTS: dict[str, dict[str, Any]] = {
    "activity": {"type": "text"},       # lesson | quiz | None
    "lesson": {"type": "text"},
    "step": {"type": "float"},
    "quiz": {"type": "text"},
    "question": {"type": "float"},
    "score": {"type": "float"},
    "missed": {"type": "list"},
    "retry": {"type": "list"},           # question indexes of a retry round
    "answered": {"type": "bool"},        # the current quiz question has been answered
    "selected": {"type": "list"},        # options chosen so far in a multiple-choice question
    "pending": {"type": "text"},         # lessons | quizzes, shown once the audience is known
}


class _Literal(str):
    """A string written as a YAML literal block (Rasa's examples: | format)."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Literal, lambda dumper, value: dumper.represent_scalar(
        "tag:yaml.org,2002:str", str(value), style="|")
)


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=10_000)


def _examples(lines: list[str]) -> _Literal:
    cleaned = []
    seen: set[str] = set()
    for line in lines:
        one = " ".join(line.split())
        # Rasa reads [text](entity) as an annotation; examples are plain text.
        one = one.replace("[", "(").replace("]", ")")
        if one and one.casefold() not in seen:
            seen.add(one.casefold())
            cleaned.append(f"- {one}")
    return _Literal("\n".join(cleaned) + "\n")


@dataclass
class BuiltProject:
    folder: Path
    fingerprint: str
    files: dict[str, str]
    problems: ProblemList


def _locale_condition(locale: str) -> list[dict[str, str]]:
    return [{"type": "slot", "name": "locale", "value": locale}]


def _buttons(pairs: tuple[tuple[str, str], ...], translate: Translator) -> list[dict[str, str]]:
    return [{"title": translate(title), "payload": payload} for title, payload in pairs]


def _variations(
    library: ContentLibrary, render: Any
) -> list[dict[str, Any]]:
    """One variation per locale (chosen by the locale slot) plus the default-locale one."""
    out = []
    for locale in library.locales:
        out.append({**render(locale), "condition": _locale_condition(locale)})
    out.append(render(library.default_locale))
    return out


def build_domain(library: ContentLibrary, settings: Settings) -> dict[str, Any]:
    responses: dict[str, list[dict[str, Any]]] = {}
    for name, reply in kit.REPLIES.items():
        def render(locale: str, reply: kit.Reply = reply) -> dict[str, Any]:
            translate = Translator(locale)
            text = translate(reply.text, days=settings.retention_days) if "%(days)s" in \
                reply.text else translate(reply.text)
            return {"text": str(escape(text)), "buttons": _buttons(reply.buttons, translate)}
        responses[name] = _variations(library, render)
    for faq in library.faqs.values():
        def render_faq(locale: str, faq: models.Faq = faq) -> dict[str, Any]:
            translate = Translator(locale)
            question, answer = faq.question_and_answer(locale, library.source_locale)
            text = f"<b>{escape(question)}</b>\n{escape(answer)}"
            return {"text": text, "buttons": _buttons(kit.MENU_BUTTONS, translate)}
        responses[f"utter_faq/{faq.id}"] = _variations(library, render_faq)
    slots: dict[str, Any] = {
        "locale": {"type": "text", "initial_value": library.default_locale,
                   "influence_conversation": False,
                   "mappings": [{"type": "from_entity", "entity": "locale"},
                                {"type": "from_entity", "entity": "context_locale"}]},
        "country": {"type": "text", "initial_value": library.default_country,
                    "influence_conversation": False,
                    "mappings": [{"type": "from_entity", "entity": "country"},
                                 {"type": "from_entity", "entity": "context_country"}]},
        "audience": {"type": "text", "influence_conversation": False,
                     "mappings": [{"type": "from_entity", "entity": "audience"}]},
    }
    for name, spec in PROGRESS_SLOTS.items():
        slots[name] = {**spec, "influence_conversation": False, "mappings": [{"type": "custom"}]}
    return {
        "version": RASA_FORMAT,
        "intents": [*kit.TYPED_INTENTS, *kit.BUTTON_INTENTS, "faq"],
        # The locale and country sent with every message (safesteps_components.
        # ContextFromMetadata): they choose the responses' language, never the dialogue.
        "entities": [*kit.ENTITIES, *({f"context_{key}": {"influence_conversation": False}}
                                      for key in ("locale", "country"))],
        "slots": slots,
        "responses": responses,
        "actions": list(ACTIONS),
        "session_config": {"session_expiration_time": 0,
                           "carry_over_slots_to_new_session": True},
    }


def build_nlu(library: ContentLibrary, examples: dict[str, kit.KitExamples]) -> dict[str, Any]:
    by_intent: dict[str, list[str]] = {intent: [] for intent in kit.TYPED_INTENTS}
    faq_lines = {" ".join(line.casefold().split()) for faq in library.faqs.values()
                 for lines in faq.examples.values() for line in lines}
    for locale in library.locales:
        for intent, lines in examples[locale].intents.items() if locale in examples else ():
            by_intent.setdefault(intent, []).extend(lines)
        lexicon = library.lexicons.get(locale)
        if lexicon is not None:
            # The lexicon's danger examples teach the danger intent too, unless an FAQ owns them.
            by_intent["danger"].extend(
                line for line in lexicon.examples.danger
                if " ".join(line.casefold().split()) not in faq_lines)
    nlu: list[dict[str, Any]] = [
        {"intent": intent, "examples": _examples(lines)} for intent, lines in by_intent.items()
    ]
    for faq in library.faqs.values():
        lines = [line for locale in library.locales for line in faq.examples.get(locale, [])]
        nlu.append({"intent": f"faq/{faq.id}", "examples": _examples(lines)})
    return {"version": RASA_FORMAT, "nlu": nlu}


RULES: list[tuple[str, str]] = [
    ("greet", "action_welcome"), ("menu", "action_menu"), ("set_context", "action_context"),
    ("start_lesson", "action_list_lessons"), ("lessons", "action_list_lessons"),
    ("open_lesson", "action_open_lesson"), ("next", "action_next"), ("back", "action_back"),
    ("answer", "action_answer"), ("take_quiz", "action_list_quizzes"),
    ("quiz", "action_list_quizzes"), ("open_quiz", "action_open_quiz"),
    ("retry_missed", "action_retry_missed"), ("resume", "action_resume"),
    ("find_hotline", "action_hotlines"), ("choose_country", "action_choose_country"),
    ("danger", "action_danger"), ("change_language", "action_choose_language"),
    ("set_locale", "action_set_locale"), ("choose_audience", "action_choose_audience"),
    ("set_audience", "action_set_audience"), ("privacy", "utter_privacy"),
    ("forget_me", "utter_confirm_forget"), ("confirm_forget", "action_forget"),
    ("stop", "utter_goodbye"), ("out_of_scope", "utter_out_of_scope"),
    ("safe_to_talk", "utter_safe_to_talk"), ("hide", "action_hide"),
    ("faq", "action_faq"), ("show_faq", "action_faq"), ("nlu_fallback", "action_faq"),
]


def build_rules() -> dict[str, Any]:
    return {
        "version": RASA_FORMAT,
        "rules": [
            {"rule": f"{intent} -> {action}",
             "steps": [{"intent": intent}, {"action": action}]}
            for intent, action in RULES
        ],
    }


def build_stories() -> dict[str, Any]:
    """A few whole conversations, so that dialogue policies see real sequences."""
    def story(name: str, pairs: list[tuple[str, str]]) -> dict[str, Any]:
        steps: list[dict[str, str]] = []
        for intent, action in pairs:
            steps += [{"intent": intent}, {"action": action}]
        return {"story": name, "steps": steps}

    return {
        "version": RASA_FORMAT,
        "stories": [
            story("lesson then quiz", [
                ("greet", "action_welcome"), ("start_lesson", "action_list_lessons"),
                ("open_lesson", "action_open_lesson"), ("next", "action_next"),
                ("next", "action_next"), ("open_quiz", "action_open_quiz"),
                ("answer", "action_answer"), ("next", "action_next")]),
            story("danger mid-lesson", [
                ("open_lesson", "action_open_lesson"), ("danger", "action_danger"),
                ("resume", "action_resume")]),
            story("hotline in another country", [
                ("find_hotline", "action_hotlines"), ("choose_country", "action_choose_country")]),
        ],
    }


def build_test_stories(library: ContentLibrary, examples: dict[str, kit.KitExamples]
                       ) -> dict[str, Any]:
    """Test conversations in each locale, typed as users type them."""
    stories = []
    for locale in library.locales:
        intents = examples[locale].intents if locale in examples else {}
        if not all(intents.get(i) for i in ("greet", "start_lesson", "find_hotline", "danger")):
            continue
        faq = next(iter(library.faqs.values()), None)
        steps: list[dict[str, Any]] = [
            {"user": intents["greet"][0], "intent": "greet"}, {"action": "action_welcome"},
            {"user": intents["start_lesson"][0], "intent": "start_lesson"},
            {"action": "action_list_lessons"},
            {"user": intents["find_hotline"][0], "intent": "find_hotline"},
            {"action": "action_hotlines"},
            {"user": intents["danger"][0], "intent": "danger"}, {"action": "action_danger"},
        ]
        if faq is not None and faq.examples.get(locale):
            steps += [{"user": faq.examples[locale][0], "intent": "faq"},
                      {"action": "action_faq"}]
        stories.append({"story": f"typed conversation ({locale})", "steps": steps})
    return {"version": RASA_FORMAT, "stories": stories}


def build_config(settings: Settings) -> dict[str, Any]:
    return {
        "recipe": "default.v1",
        "language": "zh",  # the tokenizer is jieba for Chinese, whole words for the rest
        "assistant_id": "safesteps",
        "pipeline": settings.assistant.pipeline,
        "policies": settings.assistant.policies,
    }


CONVERSATION_STORE = "conversations.sqlite"


def conversation_store(settings: Settings) -> Path:
    """The SQLite file Rasa keeps conversations in (its tracker store)."""
    return settings.resolve(settings.build_dir) / "var" / CONVERSATION_STORE


def build_endpoints(settings: Settings, var_dir: Path, action_port: int | None = None
                    ) -> dict[str, Any]:
    port = action_port or settings.assistant.action_port
    return {
        "action_endpoint": {"url": f"http://127.0.0.1:{port}/webhook"},
        # Rasa's SQL tracker store with SQLite tuned (bot/assistant/rasa_components.py).
        "tracker_store": {"type": f"{COMPONENTS_MODULE}.ConversationStore", "dialect": "sqlite",
                          "db": str((var_dir / CONVERSATION_STORE).resolve())},
    }


# Our own Rasa components (bot/assistant/rasa_components.py), copied into the project folder,
# where Rasa finds them: the pipeline names them "safesteps_components.<class>".
COMPONENTS_MODULE = "safesteps_components"


def components_source() -> str:
    return (Path(__file__).resolve().parent / "rasa_components.py").read_text(encoding="utf-8")


def project_files(settings: Settings, library: ContentLibrary, var_dir: Path
                  ) -> tuple[dict[str, str], ProblemList]:
    problems = ProblemList()
    examples = kit.load_kit_examples(problems)
    for locale in library.locales:
        if locale not in examples:
            problems.add("bot/assistant/nlu", 1, 1, f"there are no examples for {locale}: "
                         f"add bot/assistant/nlu/{locale}.yml")
    files = {
        "config.yml": _dump(build_config(settings)),
        "domain.yml": _dump(build_domain(library, settings)),
        "data/nlu.yml": _dump(build_nlu(library, examples)),
        "data/rules.yml": _dump(build_rules()),
        "data/stories.yml": _dump(build_stories()),
        "tests/test_stories.yml": _dump(build_test_stories(library, examples)),
        "credentials.yml": _dump({"rest": None}),
        f"{COMPONENTS_MODULE}.py": components_source(),
    }
    # Endpoints hold machine paths, so they are not part of the model's fingerprint.
    return files, problems


def fingerprint(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        if name in ("tests/test_stories.yml", "credentials.yml"):
            continue
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return digest.hexdigest()[:16]


def write_endpoints(settings: Settings, action_port: int) -> Path:
    """Point the generated project at the action server on ``action_port``."""
    build = settings.resolve(settings.build_dir)
    path = build / "rasa" / "endpoints.yml"
    path.write_text(_dump(build_endpoints(settings, build / "var", action_port)),
                    encoding="utf-8")
    return path


def write_project(settings: Settings, library: ContentLibrary) -> BuiltProject:
    build = settings.resolve(settings.build_dir)
    folder = build / "rasa"
    var_dir = build / "var"
    var_dir.mkdir(parents=True, exist_ok=True)
    files, problems = project_files(settings, library, var_dir)
    wanted = {**files, "endpoints.yml": _dump(build_endpoints(settings, var_dir))}
    # Files are replaced in place (a training may be reading the folder); stale ones go.
    for stale in [p for p in folder.rglob("*.yml") if p.relative_to(folder).as_posix()
                  not in wanted] if folder.exists() else []:
        stale.unlink()
    for name, text in wanted.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    digest = fingerprint(files)
    (folder / "fingerprint.json").write_text(json.dumps({"fingerprint": digest}) + "\n")
    return BuiltProject(folder, digest, files, problems)
