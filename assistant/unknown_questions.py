"""Recognises questions that no answer of the assistant addresses.

The intent classifier and the response selector always pick some topic, and
their confidence is near 1.0 even for a question none of the answers is about
("do you do couples therapy?" used to get the answer on who ketamine suits). For
a clinical practice a confident answer to a different question is the worst
reply, so this component asks for evidence beyond confidence: the message must
also resemble the chosen topic's own training examples. It compares the sentence
embedding of the message (MiniLM's, with all-mpnet-base-v2's beside it when
`second_encoder` names its folder, as the question classifier reads it) with the
examples of that topic and with the examples of the unknown-question class
(`out_of_scope`, a broad set of practice questions no topic answers):

- too far from the topic's examples (below the topic's own threshold, calibrated
  at training time from how close the topic's examples are to each other), or
- closer to the unknown questions than to the topic,

and the message becomes `out_of_scope`, with the evidence under `unknown_question`
in the parse result: the action then says honestly that it doesn't have that
information, and offers topics only when they are genuinely close.

A topic the question classifier chose with a calibrated probability of at least
`sure_from` is not questioned: cross-validated by source page over the gathered real
lines (`python -m bench.tune_gate`), the classifier's sure answers are nearly always
right, and questioning them turned right answers away for few unknown questions.
"""

from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, INTENT_RESPONSE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from assistant.mpnet_encoder import JoinedEmbeddings
from assistant.parse_keys import TOPIC_MATCH_KEY, UNKNOWN_INTENT, UNKNOWN_QUESTION_KEY

RETRIEVAL_INTENT = "faq"
RESPONSE_SELECTOR_KEY = "response_selector"
EXAMPLES_FILE = "examples.npz"


def sentence_embedding(message: Message) -> np.ndarray | None:
    """The message's dense sentence features, scaled to unit length (None if it has none)."""
    _sequence, sentence = message.get_dense_features(TEXT)
    if sentence is None:
        return None
    vector = np.asarray(sentence.features, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else None


def full_label(message: Message) -> str | None:
    """An example's or a prediction's label, FAQ topics as `faq/<topic>`."""
    key = message.get(INTENT_RESPONSE_KEY)
    if key:
        return str(key)
    intent = message.get(INTENT)
    name = intent.get("name") if isinstance(intent, dict) else intent
    if name != RETRIEVAL_INTENT:
        return name
    selector = (message.get(RESPONSE_SELECTOR_KEY) or {}).get(RETRIEVAL_INTENT) or {}
    return (selector.get("response") or {}).get("intent_response_key") or name


def topic_probability(message: Message) -> float:
    """The chosen FAQ topic's probability: `faq`'s confidence times the topic's share of it."""
    intent = message.get(INTENT)
    intent_confidence = intent.get("confidence") if isinstance(intent, dict) else None
    selector = (message.get(RESPONSE_SELECTOR_KEY) or {}).get(RETRIEVAL_INTENT) or {}
    topic_confidence = (selector.get("response") or {}).get("confidence")
    return float(intent_confidence if intent_confidence is not None else 0.0) * float(
        topic_confidence if topic_confidence is not None else 1.0
    )


class TopicExamples:
    """The training examples' embeddings by label, and each topic's threshold."""

    def __init__(self, vectors: np.ndarray, labels: np.ndarray, thresholds: Dict[str, float]) -> None:
        """Groups the embeddings by label once, so a message is compared without a scan."""
        self.vectors = vectors
        self.labels = labels
        self.thresholds = thresholds
        self._rows = {str(label): vectors[labels == label] for label in np.unique(labels)}

    def similarity(self, vector: np.ndarray, label: str, neighbours: int) -> float:
        """Mean cosine similarity to the label's `neighbours` closest examples."""
        rows = self._rows.get(label)
        if rows is None or len(rows) == 0:
            return 0.0
        scores = np.sort(rows @ vector)[::-1][:neighbours]
        return float(scores.mean())

    def topic_similarities(self, vector: np.ndarray, neighbours: int) -> Dict[str, float]:
        """Similarity to every FAQ topic's examples."""
        return {
            label: self.similarity(vector, label, neighbours)
            for label in self._rows
            if label.startswith(f"{RETRIEVAL_INTENT}/")
        }


def measure(
    examples: TopicExamples, vector: np.ndarray, label: str, neighbours: int, floor: float, unknown_margin: float
) -> Dict[str, Any]:
    """How close an FAQ prediction is to its topic's examples and to the unknown questions."""
    return {
        "topic": label,
        "similarity": examples.similarity(vector, label, neighbours),
        "threshold": examples.thresholds.get(label, floor),
        "unknown_similarity": examples.similarity(vector, UNKNOWN_INTENT, neighbours),
        "unknown_margin": float(unknown_margin),
    }


def turns_away(measured: Dict[str, Any], probability: float, sure_from: float) -> bool:
    """Whether a topic the classifier wasn't sure of lacks support: too far from its examples, or unknowns closer."""
    similarity = measured["similarity"]
    too_far = similarity < measured["threshold"]
    unknowns_closer = measured["unknown_similarity"] > similarity + measured["unknown_margin"]
    return probability < sure_from and (too_far or unknowns_closer)


def _rounded(measured: Dict[str, Any]) -> Dict[str, Any]:
    """Measurements as stored in the parse data: similarities to three decimals."""
    return {key: round(value, 3) if isinstance(value, float) else value for key, value in measured.items()}


def calibrate_thresholds(
    vectors: np.ndarray, labels: np.ndarray, neighbours: int, quantile: float, floor: float
) -> Dict[str, float]:
    """Each topic's threshold: a low quantile of its own examples' leave-one-out similarity.

    A topic whose examples are all alike gets a high bar, a broad topic a lower one;
    the floor keeps a sparse topic from accepting everything.
    """
    thresholds: Dict[str, float] = {}
    for label in np.unique(labels):
        rows = vectors[labels == label]
        if len(rows) < 2:
            thresholds[str(label)] = floor
            continue
        similarities = rows @ rows.T
        np.fill_diagonal(similarities, -np.inf)
        k = min(neighbours, len(rows) - 1)
        own = np.sort(similarities, axis=1)[:, ::-1][:, :k].mean(axis=1)
        thresholds[str(label)] = max(floor, float(np.quantile(own, quantile)))
    return thresholds


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class UnknownQuestionGate(GraphComponent):
    """Turns an FAQ prediction unlike its topic's examples into `out_of_scope`."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """The evidence asked of an FAQ answer; `config.yml` sets the values `bench.tune_gate` chose."""
        return {
            # how many of a topic's closest examples are averaged
            "neighbours": 3,
            # a topic's threshold: this quantile of its own examples' similarity...
            "quantile": 0.05,
            # ...but never lower than this cosine similarity
            "floor": 0.35,
            # unknown when the unknown-question examples are closer by more than this
            "unknown_margin": 0.0,
            # a topic is offered as "close" from this similarity up
            "close_similarity": 0.55,
            "max_close_topics": 3,
            # a topic chosen with this probability or more is not questioned (above 1: every one is)
            "sure_from": 1.01,
            # a sentence-transformers model folder whose embedding joins the pipeline's (None: none)
            "second_encoder": None,
        }

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        examples: TopicExamples | None = None,
    ) -> None:
        """Keeps the configuration and, once trained or loaded, the topic examples."""
        self._config = {**self.get_default_config(), **config}
        self._storage = model_storage
        self._resource = resource
        self._examples = examples
        self._embeddings = JoinedEmbeddings(self._config["second_encoder"])

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "UnknownQuestionGate":
        """An untrained gate; `train` gives it the examples."""
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Keeps the embedding of every training example and calibrates the thresholds."""
        vectors, labels = self._embedded_examples(training_data.intent_examples)
        thresholds = calibrate_thresholds(
            vectors, labels, self._config["neighbours"], self._config["quantile"], self._config["floor"]
        )
        self._examples = TopicExamples(vectors, labels, thresholds)
        with self._storage.write_to(self._resource) as directory:
            np.savez(
                directory / EXAMPLES_FILE,
                # half precision: similarities need three decimals, and the model stays small
                vectors=vectors.astype(np.float16),
                labels=labels,
                threshold_labels=np.array(list(thresholds), dtype=str),
                threshold_values=np.array(list(thresholds.values()), dtype=np.float32),
            )
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "UnknownQuestionGate":
        """Reads the examples stored by `train`; without them the gate lets everything pass."""
        try:
            with model_storage.read_from(resource) as directory:
                stored = np.load(directory / EXAMPLES_FILE)
                thresholds = dict(
                    zip(stored["threshold_labels"].tolist(), stored["threshold_values"].astype(float).tolist())
                )
                examples = TopicExamples(stored["vectors"].astype(np.float32), stored["labels"], thresholds)
        except (ValueError, FileNotFoundError, OSError):
            examples = None
        return cls(config, model_storage, resource, examples)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Leaves the training data as it is."""
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Marks FAQ predictions that their topic's examples don't support as unknown.

        An FAQ answer it lets through carries the same measurements under
        `TOPIC_MATCH_KEY`, so the therapist's review can tell a clear answer from
        one that nearly was turned away (`review/unsure.py`); one let through only
        because the classifier was sure shows measurements below the bar, and the
        review lists it as unsure.
        """
        if self._examples is None:
            return messages
        for message in messages:
            vector = self._embedding(message) if self._judges(message) else None
            if vector is None:
                continue
            measured = self._measure(full_label(message), vector)
            if turns_away(measured, topic_probability(message), self._config["sure_from"]):
                evidence = _rounded(measured)
                del evidence["unknown_margin"]
                self._mark_unknown(message, {**evidence, "close_topics": self._close_topics(vector)})
            else:
                message.set(TOPIC_MATCH_KEY, _rounded(measured), add_to_output=True)
        return messages

    @staticmethod
    def _judges(message: Message) -> bool:
        """Typed FAQ answers only: button payloads and other intents pass."""
        label = full_label(message)
        return not (message.get(TEXT) or "").startswith("/") and bool(label) and label.startswith(
            f"{RETRIEVAL_INTENT}/"
        )

    def _measure(self, label: str, vector: np.ndarray) -> Dict[str, Any]:
        """The measurements with this gate's settings."""
        config = self._config
        return measure(self._examples, vector, label, config["neighbours"], config["floor"], config["unknown_margin"])

    def _close_topics(self, vector: np.ndarray) -> List[str]:
        """The topics whose examples are genuinely close to the message, closest first."""
        similarities = self._examples.topic_similarities(vector, self._config["neighbours"])
        close = [(s, t) for t, s in similarities.items() if s >= self._config["close_similarity"]]
        return [t.split("/", 1)[1] for _s, t in sorted(close, reverse=True)[: self._config["max_close_topics"]]]

    def _embedding(self, message: Message) -> np.ndarray | None:
        """The message's embedding as the examples' were made: the pipeline's, and the second encoder's."""
        vector = sentence_embedding(message)
        return None if vector is None else self._embeddings.of_message(message.get(TEXT) or "", vector)

    def _embedded_examples(self, examples: Sequence[Message]) -> Tuple[np.ndarray, np.ndarray]:
        vectors, labels, texts = [], [], []
        for example in examples:
            vector = sentence_embedding(example)
            label = full_label(example)
            text = example.get(TEXT) or ""
            if vector is not None and label and not text.startswith("/"):
                vectors.append(vector)
                labels.append(label)
                texts.append(text)
        if not vectors:
            raise ValueError(
                "The unknown-question gate needs dense sentence features; add a dense featurizer before it"
            )
        return self._embeddings.of_lines(texts, np.stack(vectors)), np.array(labels, dtype=str)

    @staticmethod
    def _mark_unknown(message: Message, evidence: Dict[str, Any]) -> None:
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != UNKNOWN_INTENT]
        message.set(INTENT, {"name": UNKNOWN_INTENT, "confidence": 1.0}, add_to_output=True)
        message.set(
            INTENT_RANKING_KEY,
            [{"name": UNKNOWN_INTENT, "confidence": 1.0}] + ranking,
            add_to_output=True,
        )
        message.set(UNKNOWN_QUESTION_KEY, evidence, add_to_output=True)
