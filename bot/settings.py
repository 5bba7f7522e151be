"""The kit's settings, read from ``config.yml``.

Every field has a docstring: it is what a deployer reads when they change the file. Problems are
collected with their key path and reported together. Secrets never live here: they come from the
environment (``SAFESTEPS_TELEGRAM_TOKEN``, ``SAFESTEPS_SECRET``, ``SAFESTEPS_TEACHER_KEY``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.content.problems import ProblemList, display_path
from bot.content.reading import explain, to_python
from bot.content.yamlsafe import YamlProblem, read_file

CONFIG_FILE = "config.yml"


class PackSetting(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    content: Path
    """The pack's folder, the one holding pack.yml."""

    quizzes: Path | None = None
    """The pack's quizzes folder (default: a quizzes folder inside the pack)."""


class PreviewSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    """Where `safesteps preview` serves the site. Keep 127.0.0.1 unless others must see it."""

    port: int = Field(default=8000, ge=1, le=65535)
    """The preview's port."""


def _default_pipeline() -> list[dict[str, Any]]:
    """Chosen by `safesteps eval` on 2 cores (docs/nlu.md): jieba splits Chinese while
    Vietnamese and English words stay whole, character n-grams carry Vietnamese typed with or
    without tone marks, a linear SVM classifies the kit's intents (every FAQ is one
    intent, "faq"). Which FAQ is asked is decided by the action server's FAQ retriever
    (bot/assistant/faq_retrieval.py), so Rasa's ResponseSelector, two thirds of the
    training time, is no longer trained."""
    return [
        # bot/assistant/rasa_components.py: Rasa's JiebaTokenizer cuts "bạn" into "b ạ n".
        {"name": "safesteps_components.MixedScriptTokenizer"},
        {"name": "CountVectorsFeaturizer", "min_ngram": 1, "max_ngram": 2},
        # From single characters: many Chinese messages are one or two characters ("冲", "收到").
        {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1,
         "max_ngram": 5},
        # Words and word pairs with tone marks and accents removed: Vietnamese is often typed
        # without them ("cuu toi" for "cứu tôi").
        {"name": "CountVectorsFeaturizer", "min_ngram": 1, "max_ngram": 2,
         "strip_accents": "unicode"},
        # ... and their characters: "cuu" and "cứu" share their n-grams too.
        {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1,
         "max_ngram": 5, "strip_accents": "unicode"},
        # A linear SVM with fitted confidences: as accurate as Rasa's
        # LogisticRegressionClassifier here and trained in seconds instead of minutes.
        {"name": "safesteps_components.LinearIntentClassifier"},
        {"name": "FallbackClassifier", "threshold": 0.3, "ambiguity_threshold": 0.05},
        # The locale and country sent with each message (REST metadata) fill their slots.
        # Last, so that adding it renamed no other component: Rasa 3.6 restores a cached
        # LogisticRegressionClassifier under its old node name and then cannot load it.
        {"name": "safesteps_components.ContextFromMetadata"},
    ]


def _default_policies() -> list[dict[str, Any]]:
    """Every intent has a rule (bot/assistant/project.py RULES), so the rules decide every
    turn; TEDPolicy, which cost a TensorFlow model to train and to run but could never choose
    a turn (a rule always applies, and Rasa ranks rules first), is not trained."""
    return [
        {"name": "RulePolicy", "core_fallback_threshold": 0.3,
         "core_fallback_action_name": "action_default_fallback"},
        {"name": "MemoizationPolicy", "max_history": 3},
    ]


class AssistantSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pipeline: list[dict[str, Any]] = Field(default_factory=_default_pipeline)
    """The Rasa NLU pipeline written into the generated project (chosen by `safesteps eval`)."""

    policies: list[dict[str, Any]] = Field(default_factory=_default_policies)
    """The Rasa dialogue policies written into the generated project."""

    rasa_port: int = Field(default=5005, ge=1, le=65535)
    """The Rasa server's port; it listens on 127.0.0.1 only."""

    action_port: int = Field(default=5055, ge=1, le=65535)
    """The action server's port; it listens on 127.0.0.1 only."""

    reply_timeout_seconds: float = Field(default=10.0, gt=0)
    """How long Rasa may take over one turn, once the turn is sent to it, before the chat API
    answers with an apology and the menu (time waiting in the queue does not count)."""

    rasa_concurrency: int = Field(default=4, ge=1, le=256)
    """How many turns the chat API sends to Rasa at the same moment; the others wait in order
    and are sent as turns finish (Rasa works one turn at a time on its CPU, so more at once
    only makes every turn slower)."""

    faq_answer_confidence: float = Field(default=0.4, gt=0, le=1)
    """From this confidence on, a question gets the FAQ's answer; below it, "Did you mean"
    with up to three FAQs (chosen in docs/safety.md so that out-of-scope messages rarely get
    an answer)."""

    faq_suggest_confidence: float = Field(default=0.2, gt=0, le=1)
    """Below this confidence, no FAQ is offered: the out-of-scope reply with the menu."""


class SafetySettings(BaseModel):
    """How sure the danger detector must be before each tier of the safety reply
    (docs/safety.md says how the values were chosen, on the evaluation's development split)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    emergency_score: float = Field(default=0.88, gt=0, le=1)
    """From this score on, a message gets the emergency reply at once."""

    check_in_score: float = Field(default=0.22, gt=0, le=1)
    """From this score on (and below emergency_score), the normal answer comes with one calm
    line with the emergency number and a Get-help button."""

    lexicon_floor: float = Field(default=0.78, ge=0, le=1)
    """A lexicon match is an emergency unless the detector scores the whole message below
    this; then it is a check-in. A message that is nothing but a lexicon entry is always an
    emergency; 0 makes every lexicon match one."""

    reporter_probability: float = Field(default=0.5, gt=0, lt=1)
    """From this probability that the writer reports someone else, the emergency reply tells
    them what to do now instead of speaking to a person in danger."""

    @model_validator(mode="after")
    def _tiers_in_order(self) -> SafetySettings:
        if self.check_in_score > self.emergency_score:
            raise ValueError("check_in_score must not be above emergency_score")
        return self


class ChatSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    """Where the chat API and web pages listen. Keep 127.0.0.1 behind a reverse proxy."""

    port: int = Field(default=8080, ge=1, le=65535)
    """The chat API's port."""

    max_message_chars: int = Field(default=4000, ge=100)
    """Longer messages are checked for danger in full, then shortened before the assistant
    reads them."""

    quick_exit_url: str = "https://www.bing.com/"
    """Where the web chat's quick-exit button leaves to: a neutral page that loads where the
    users are (in mainland China too)."""


class TelegramSettings(BaseModel):
    """The Telegram bot (on when SAFESTEPS_TELEGRAM_TOKEN is set)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["polling", "webhook"] = "polling"
    """polling works from a laptop with no public address; webhook is for production and needs
    webhook_url and SAFESTEPS_TELEGRAM_WEBHOOK_SECRET."""

    webhook_url: str | None = None
    """The public https address Telegram posts updates to (it must reach webhook_path)."""

    webhook_path: str = "/telegram/webhook"
    """Where the chat API server takes Telegram's updates in webhook mode."""

    quiz_style: Literal["poll", "buttons"] = "poll"
    """Quiz questions in private chats: Telegram's native quiz polls (single-answer and
    true/false questions) or inline buttons. Groups and multiple-answer questions use buttons."""

    private_messages_per_second: float = Field(default=1.0, gt=0)
    """Telegram's flood limits, kept by the send queue: per private chat ..."""

    group_messages_per_minute: float = Field(default=20.0, gt=0)
    """... per group ..."""

    messages_per_second: float = Field(default=30.0, gt=0)
    """... and for the whole bot."""


class ClassroomSettings(BaseModel):
    """Live class quizzes and homework (the /host and /join pages, /classquiz in Telegram)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    database: Path = Path("build/var/classroom.sqlite")
    """The SQLite file that keeps sessions, nicknames and answers (it survives restarts)."""

    retention_days: int = Field(default=30, ge=1)
    """Sessions are deleted, with their nicknames and answers, this many days after they start."""

    seconds_per_question: int = Field(default=20, ge=5, le=300)
    """The timer a teacher starts with (they can change it for each session)."""

    telegram_seconds_per_question: int = Field(default=30, ge=10, le=300)
    """The timer of /classquiz in Telegram groups (pupils answer in a private chat)."""

    homework_hours: int = Field(default=7 * 24, ge=1, le=24 * 60)
    """How long homework stays open unless the teacher says otherwise."""

    max_players: int = Field(default=1000, ge=1)
    """The most pupils one session takes."""

    max_live_sessions_per_key: int = Field(default=20, ge=1)
    """Class quizzes one teacher key (or one address, where no key is needed) may have
    running at once; an ended quiz no longer counts."""

    code_digits: int = Field(default=6, ge=4, le=9)
    """How many digits a join code has."""

    public_url: str | None = None
    """The address pupils' phones use to reach this server (such as http://192.168.1.20:8080),
    for the join link and its QR code. Default: the address the host page was opened with."""


class LimitsSettings(BaseModel):
    """Rate limits per client on the chat API and the classroom API (429 with Retry-After).
    A school may reach SafeSteps from one address for a whole class: the per-address limits
    leave room for that. Danger is answered even past a limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chat_per_user_per_minute: int = Field(default=30, ge=1)
    """Messages one conversation may send a minute (after a burst of ``chat_user_burst``)."""

    chat_user_burst: int = Field(default=10, ge=1)
    """Messages one conversation may send at once."""

    chat_per_address_per_minute: int = Field(default=900, ge=1)
    """Messages a minute from one address, all its conversations together (a class behind one
    school router shares it)."""

    chat_address_burst: int = Field(default=200, ge=1)
    """Messages at once from one address."""

    classroom_per_address_per_minute: int = Field(default=6000, ge=1)
    """Classroom requests (joins, answers, screens) a minute from one address: a school's
    router may carry a whole class of up to ``classroom.max_players`` pupils."""

    classroom_address_burst: int = Field(default=3000, ge=1)
    """Classroom requests at once from one address: a whole class joining, opening its
    screens and answering together."""

    creations_per_minute: int = Field(default=6, ge=1)
    """Class quizzes one teacher key (or one address, where no key is needed) may create a
    minute, after a burst of ``creations_burst``."""

    creations_burst: int = Field(default=10, ge=1)
    """Class quizzes created at once."""

    trust_forwarded_for: bool = False
    """Behind a reverse proxy that sets X-Forwarded-For, true: clients are told apart by the
    address it gives. Never true without such a proxy (anyone could claim any address)."""


class Settings(BaseModel):
    """Everything `config.yml` may set, with the defaults used when it does not."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    packs: list[PackSetting] = Field(
        default_factory=lambda: [
            PackSetting(
                content=Path("content/safesteps-core"),
                quizzes=Path("quizzes/safesteps-core"),
            )
        ]
    )
    """The content packs the kit serves, in order of preference."""

    default_country: str = "CN"
    """The country whose emergency numbers users see when they have not chosen one (ISO 3166)."""

    default_locale: str = "zh-Hans"
    """The language used when a user's language is unknown (BCP 47)."""

    hotline_max_age_days: int = Field(default=180, ge=1)
    """Hotline entries checked longer ago than this are reported for re-checking."""

    retention_days: int = Field(default=30, ge=1)
    """How long stored conversation data and progress are kept before deletion."""

    build_dir: Path = Path("build")
    """Where generated files go (preview site, Rasa project, models). Never committed."""

    preview: PreviewSettings = Field(default_factory=PreviewSettings)
    """The volunteers' preview site."""

    assistant: AssistantSettings = Field(default_factory=AssistantSettings)
    """The Rasa assistant: pipeline, policies, ports."""

    chat: ChatSettings = Field(default_factory=ChatSettings)
    """The chat API and web pages."""

    safety: SafetySettings = Field(default_factory=SafetySettings)
    """The tiers of the safety reply."""

    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    """The Telegram bot."""

    classroom: ClassroomSettings = Field(default_factory=ClassroomSettings)
    """Live class quizzes and homework."""

    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    """Rate limits per client on the chat and classroom APIs."""

    root: Path = Field(default=Path("."), exclude=True)
    """The folder config.yml was read from; relative paths are relative to it."""

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.root / path

    def pack_locations(self) -> list[tuple[Path, Path | None]]:
        return [
            (self.resolve(p.content), self.resolve(p.quizzes) if p.quizzes else None)
            for p in self.packs
        ]


def _setting_names() -> tuple[str, ...]:
    names: set[str] = set()
    for model in (Settings, PackSetting, PreviewSettings, AssistantSettings, ChatSettings,
                  SafetySettings,
                  TelegramSettings, ClassroomSettings):
        names |= set(model.model_fields)
    return tuple(sorted(names))


class SettingsError(Exception):
    """config.yml could not be used; ``problems`` says why, line by line."""

    def __init__(self, problems: ProblemList) -> None:
        super().__init__("\n".join(str(p) for p in problems.errors))
        self.problems = problems


CONFIG_ENV = "SAFESTEPS_CONFIG"  # another settings file (`safesteps --config FILE`)


def load_settings(root: Path | None = None) -> Settings:
    """Read config.yml from ``root`` (default: the working folder), or the file that
    SAFESTEPS_CONFIG names (its paths stay relative to ``root``); defaults when absent."""
    base = (root or Path.cwd()).resolve()
    chosen = os.environ.get(CONFIG_ENV)
    path = Path(chosen) if chosen else base / CONFIG_FILE
    if chosen and not path.is_file():
        problems = ProblemList()
        problems.add(chosen, 1, 1, f"{CONFIG_ENV} names a settings file that does not exist")
        raise SettingsError(problems)
    if not path.is_file():
        return Settings(root=base)
    problems = ProblemList()
    shown = display_path(path)
    try:
        document = read_file(path)
    except YamlProblem as err:
        problems.add(shown, err.mark.line, err.mark.column, err.message)
        raise SettingsError(problems) from None
    if document.root is None:
        return Settings(root=base)
    data, positions = to_python(document.root, problems, shown)
    if problems.errors:
        raise SettingsError(problems)
    if not isinstance(data, dict):
        problems.add(shown, 1, 1, 'config.yml should be a mapping of "key: value" lines')
        raise SettingsError(problems)
    try:
        return Settings.model_validate({**data, "root": base})
    except ValidationError as err:
        for detail in err.errors(include_url=False):
            where, message, at_key = explain(detail, _setting_names())
            mark = positions.of_key(where) if at_key else positions.of(where)
            problems.add(shown, mark.line, mark.column, message)
        raise SettingsError(problems) from None
