"""Rasa components of our own, copied into the generated project as ``safesteps_components.py``.

Rasa imports them from the project folder (it puts its working directory on the path), so
this file runs in .venv-rasa: it may import only Rasa and its dependencies, never ``bot``.

MixedScriptTokenizer: Rasa's JiebaTokenizer hands every message to jieba, which cuts Latin
letters with accents or tone marks out of words ("chào bạn" becomes "ch à o b ạ n"), so the
featurizers never see a Vietnamese syllable whole. This tokenizer gives jieba only the runs of
Chinese characters and keeps every other word whole.

ContextFromMetadata: the chat API sends each message with the conversation's locale and
country in the REST channel's ``metadata``; this component reads them as the
``context_locale`` and ``context_country`` entities, which fill the ``locale`` and ``country``
slots before any response is chosen (a locale or country the user chose in this very message,
as the ``locale`` or ``country`` entity, comes first). So the language travels with the
message, in the same Rasa call, instead of in a turn of its own.
"""

from __future__ import annotations

import re
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message

CONTEXT_KEYS = ("locale", "country")
CONTEXT_ENTITY = "context_{}"  # the entity that carries each key
MAX_CONTEXT_CHARS = 16  # "zh-Hans", "CN": anything longer is not a locale or a country
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# A run of Chinese characters, a word in any other script, or one punctuation mark.
_PIECES = re.compile(rf"[{_HAN}]+|[^\W{_HAN}]+|[^\w\s]")


def split_words(text: str) -> list[tuple[str, int]]:
    """Words and where they start: jieba's words in Chinese, whole words elsewhere."""
    import jieba

    words: list[tuple[str, int]] = []
    for piece in _PIECES.finditer(text):
        if re.match(f"[{_HAN}]", piece.group()):
            words.extend((word, piece.start() + start)
                         for word, start, _ in jieba.tokenize(piece.group()))
        else:
            words.append((piece.group(), piece.start()))
    return words


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class MixedScriptTokenizer(JiebaTokenizer):  # type: ignore[misc]
    """JiebaTokenizer for Chinese, whole words for Vietnamese, English and the rest."""

    @staticmethod
    def supported_languages() -> list[str] | None:
        return None

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        text: Any = message.get(attribute)
        tokens = [Token(word, start) for word, start in split_words(str(text))]
        result: list[Token] = self._apply_token_pattern(tokens)
        return result


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class ContextFromMetadata(GraphComponent, EntityExtractorMixin):  # type: ignore[misc]
    """The locale and country of a message's metadata, as entities (nothing to train)."""

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> ContextFromMetadata:
        return cls()

    @staticmethod
    def supported_languages() -> list[str] | None:
        return None

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            metadata = message.get("metadata")
            if not isinstance(metadata, dict):
                continue
            found = [{"entity": CONTEXT_ENTITY.format(key), "value": value, "start": 0,
                      "end": 0}
                     for key in CONTEXT_KEYS
                     if isinstance(value := metadata.get(key), str)
                     and 0 < len(value) <= MAX_CONTEXT_CHARS]
            if found:
                names = {CONTEXT_ENTITY.format(key) for key in CONTEXT_KEYS}
                entities = [e for e in message.get("entities", [])
                            if e.get("entity") not in names]
                message.set("entities", entities + self.add_extractor_name(found),
                            add_to_output=True)
        return messages
