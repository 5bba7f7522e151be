"""Rasa components of our own, copied into the generated project as ``safesteps_components.py``.

Rasa imports them from the project folder (it puts its working directory on the path), so
this file runs in .venv-rasa: it may import only Rasa and its dependencies, never ``bot``.

MixedScriptTokenizer: Rasa's JiebaTokenizer hands every message to jieba, which cuts Latin
letters with accents or tone marks out of words ("chào bạn" becomes "ch à o b ạ n"), so the
featurizers never see a Vietnamese syllable whole. This tokenizer gives jieba only the runs of
Chinese characters and keeps every other word whole.
"""

from __future__ import annotations

import re
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message

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
