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

LinearIntentClassifier: Rasa's LogisticRegressionClassifier fits raw n-gram counts with lbfgs,
which needs hundreds of passes (about 100 s of the assistant's training on 2 cores). A linear
SVM on the same features trains in seconds and scores as well (docs/nlu.md); its margins
become confidences through a softmax whose temperature is fitted on held-out folds of the
training data, so FallbackClassifier's thresholds keep their meaning.

Importing this module also makes the Rasa server check each action server reply against a
schema compiled once: Rasa 3.6 calls ``jsonschema.validate``, which first checks the schema
itself against JSON Schema's meta-schema, on every reply, and that was half of the Rasa
server's CPU time per turn (docs/performance.md). The replies are checked as before. And
it makes Rasa find the class of a stored event by its name in a table instead of by walking
every subclass of Event each time.

ConversationStore: Rasa's SQL tracker store, which on SQLite opened a new connection for every
read and write and waited for the disk at every commit; here it keeps its connections and
writes the file in WAL mode with synchronous=NORMAL (a crash of the process loses nothing; a
power cut may lose the last turns). Other databases are left as Rasa sets them up.
"""

from __future__ import annotations

import re
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

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


def softmax(scores: Any, temperature: float) -> Any:
    import numpy as np

    scaled = scores * temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearIntentClassifier(LogisticRegressionClassifier):  # type: ignore[misc]
    """A linear SVM with confidences from a fitted softmax temperature (kept as plain arrays:
    loading a model unpickles nothing)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**LogisticRegressionClassifier.get_default_config(), "C": 0.05, "folds": 3}

    def __init__(self, config: dict[str, Any], name: str, model_storage: ModelStorage,
                 resource: Resource) -> None:
        super().__init__(config, name, model_storage, resource)
        self.weights: Any = None  # (features, classes), float64 and C-ordered for X @ weights
        self.bias: Any = None
        self.classes: list[str] = []
        self.temperature = 1.0

    def _svm(self) -> Any:
        from sklearn.svm import LinearSVC

        return LinearSVC(C=self.config["C"], class_weight="balanced",
                         random_state=self.config["random_state"])

    def _fit_temperature(self, X: Any, y: Any) -> float:
        """The temperature that makes held-out margins the most likely (log loss)."""
        import numpy as np
        from scipy.optimize import minimize_scalar
        from sklearn.model_selection import KFold

        folds = KFold(n_splits=self.config["folds"], shuffle=True,
                      random_state=self.config["random_state"])
        index = {name: i for i, name in enumerate(self.classes)}
        scores = np.full((X.shape[0], len(self.classes)), -1e4)
        for train, held in folds.split(X):
            model = self._svm().fit(X[train], y[train])
            columns = [index[name] for name in model.classes_]
            decision = model.decision_function(X[held])
            if decision.ndim == 1:  # two classes
                decision = np.stack([-decision, decision], axis=1)
            scores[np.ix_(held, columns)] = decision
        truth = np.array([index[name] for name in y])

        def loss(log_t: float) -> float:
            p = softmax(scores, float(np.exp(log_t)))[np.arange(len(truth)), truth]
            return float(-np.log(np.clip(p, 1e-12, None)).mean())

        best = minimize_scalar(loss, bounds=(np.log(0.05), np.log(100.0)), method="bounded")
        return float(np.exp(best.x))

    def train(self, training_data: TrainingData) -> Resource:
        import numpy as np

        X, labels = self._create_training_matrix(training_data)
        if X.shape[0] == 0:
            return self._resource
        y = np.array(labels)
        model = self._svm().fit(X, y)
        self.classes = [str(name) for name in model.classes_]
        self.weights = np.ascontiguousarray(model.coef_.T, dtype=np.float64)
        self.bias = model.intercept_
        if len(self.classes) > 1 and X.shape[0] >= 2 * self.config["folds"]:
            self.temperature = self._fit_temperature(X, y)
        self.persist()
        return self._resource

    def _create_X(self, messages: list[Message]) -> Any:
        """Each message's sentence features, stacked once (Rasa's own stacks a sparse and a
        dense part per message even when one is empty: a tenth of a turn's CPU time)."""
        from scipy.sparse import csr_matrix, hstack, vstack

        rows = []
        for message in messages:
            parts = [found.features for found in (message.get_sparse_features("text")[1],
                                                   message.get_dense_features("text")[1])
                     if found is not None]
            rows.append(csr_matrix(parts[0]) if len(parts) == 1 else
                        hstack([csr_matrix(part) for part in parts], format="csr")
                        if parts else csr_matrix((1, 0)))
        return rows[0] if len(rows) == 1 else vstack(rows, format="csr")

    def _scores(self, X: Any) -> Any:
        import numpy as np

        decision = np.asarray(X @ self.weights) + self.bias
        if len(self.classes) == 2 and decision.shape[1] == 1:
            decision = np.hstack([-decision, decision])
        return softmax(decision, self.temperature)

    def process(self, messages: list[Message]) -> list[Message]:
        if self.weights is None or not messages:
            return messages
        probabilities = self._scores(self._create_X(messages))
        for row, message in zip(probabilities, messages, strict=True):
            ranking: list[dict[str, Any]] = sorted(
                ({"name": name, "confidence": float(p)}
                 for name, p in zip(self.classes, row, strict=True)),
                key=lambda e: -float(e["confidence"]))
            message.set("intent", ranking[0], add_to_output=True)
            if self.config["ranking_length"] > 0:
                ranking = ranking[: self.config["ranking_length"]]
            message.set("intent_ranking", ranking, add_to_output=True)
        return messages

    def persist(self) -> None:
        import numpy as np

        with self._model_storage.write_to(self._resource) as model_dir:
            np.savez(model_dir / "linear.npz", weights=self.weights.T.astype(np.float32),
                     bias=self.bias, classes=np.array(self.classes),
                     temperature=self.temperature)

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> LinearIntentClassifier:
        import numpy as np

        component = cls(config, execution_context.node_name, model_storage, resource)
        try:
            with (model_storage.read_from(resource) as model_dir,
                  np.load(model_dir / "linear.npz", allow_pickle=False) as saved):
                component.weights = np.ascontiguousarray(saved["weights"].T, dtype=np.float64)
                component.bias = saved["bias"]
                component.classes = [str(name) for name in saved["classes"]]
                component.temperature = float(saved["temperature"])
        except (ValueError, OSError):
            pass  # not trained (no intent examples): it classifies nothing
        return component


def _sqlite_settings(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


class ConversationStore(SQLTrackerStore):  # type: ignore[misc]
    """SQLTrackerStore keeping its SQLite connections, in WAL mode."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.engine: Any
        if self.engine.dialect.name != "sqlite":
            return
        import sqlalchemy as sa

        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(url, poolclass=sa.pool.QueuePool, pool_size=2,
                                       connect_args={"check_same_thread": False})
        sa.event.listen(self.engine, "connect", _sqlite_settings)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)


def _check_action_replies_with_a_compiled_schema() -> None:
    """RemoteAction._validate_action_result, with the schema checked and compiled once."""
    from jsonschema import ValidationError
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    checker = validator_for(schema)
    checker.check_schema(schema)
    validator = checker(schema)
    rasa_validate = RemoteAction._validate_action_result

    def validate(self: Any, result: dict[str, Any]) -> bool:
        error: ValidationError | None = best_match(validator.iter_errors(result))
        if error is None:
            return True
        return bool(rasa_validate(self, result))  # Rasa's own message for what is wrong

    RemoteAction._validate_action_result = validate


def _resolve_event_types_from_a_table() -> None:
    """Event.resolve_by_type, which walks every subclass of Event for each stored event it
    reads (a tenth of a turn's CPU time), answered from a table of the same classes (the
    first class Rasa's walk finds for a name wins, as before)."""
    from rasa.shared.core.events import Event
    from rasa.shared.utils.common import all_subclasses

    rasa_resolve = Event.resolve_by_type
    table: dict[str, Any] = {}

    def resolve(type_name: str, default: Any = None) -> Any:
        found = table.get(type_name)
        if found is None:
            for event_class in all_subclasses(Event):  # new classes may have been imported
                table.setdefault(event_class.type_name, event_class)
            found = table.get(type_name)
        return found if found is not None else rasa_resolve(type_name, default)

    Event.resolve_by_type = staticmethod(resolve)


_check_action_replies_with_a_compiled_schema()
_resolve_event_types_from_a_table()
