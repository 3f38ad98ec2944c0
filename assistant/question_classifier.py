"""Chooses which question a visitor asks with a linear model, where DIET generalises worse.

DIET learns the training lines very well and real visitors' phrasing less so: on the
real-question held-out set (`tests/heldout/visitors_*.yml`) it picked the right
topic for 0.74 of the questions, while a linear support-vector machine on word and
character n-grams plus the MiniLM sentence embedding, trained on the same lines,
picked it for 0.81 (bench/README.md). Many features, each weak, and a wide margin
suit a few thousand short, varied questions better than a network.

So this component re-decides only what it was measured on, the *question* labels
(the FAQ topics, `out_of_scope`, `medical_question`, booking, a human, "are you a
bot"), and leaves everything else to DIET:

- a message DIET reads as anything else (yes, no, a name, an email, a slot, a
  greeting) keeps DIET's intent and entities, so conversations and forms behave
  as before;
- a message DIET reads as `crisis`, or ranks `crisis` at or above
  `leave_crisis_from`, is left untouched for the crisis safety net, which judges it
  with DIET's ranking as it was measured (crisis recall, false alarms); this model
  never writes `crisis` as the intent, the safety net alone does;
- unless this model, trained on the same crisis lines, gives `crisis` less than
  `crisis_second_opinion`: DIET alone then saw danger in an ordinary question ("six
  sessions ahead, how can I best prepare?", "what if I can't let go?"), its `crisis`
  entry is replaced by this model's probability (kept under `crisis_second_opinion`
  in the parse data) and the question is decided as any other. On the held-out sets
  this removed 8 of the 9 false crisis replies that had no danger phrase, and no
  real crisis: the real crises DIET only ranked got 0.33 or more here, the false ones
  0.09 or less. A danger phrase (`data/safety/crisis_phrases.yml`) is a crisis
  whatever either model says. (The floor is at most the safety net's
  `crisis_runner_up_floor`, so the replaced entry no longer counts there.)
- the second opinion works the other way too: when this model gives `crisis`
  `raise_crisis_from` or more to a message DIET ranked `crisis` lower ("enjoy the
  good times while you can, they never last", "can you hold on to my guns for me for
  a while?": DIET read both as unknown questions; a farewell it reads as `goodbye` or
  `thank`, which this model doesn't re-decide), its probability replaces DIET's
  `crisis` entry in the ranking (both figures under `crisis_second_opinion`) and the
  safety net judges the message as it judges any crisis DIET ranked: a crisis,
  unless an everyday idiom or a told history or treatment question explains the
  words. The intent stays a question label (or DIET's reading). On the held-out
  sets, 0.5 or more reached one ordinary message of 960 (a prompt injection, which
  also reaches 0.6) and 94.5% of the real crises (0.6: 89.8%), among them those
  that DIET alone missed.

Its sentence features are the pipeline's (MiniLM) and, when `second_encoder` names a
model folder, that encoder's embedding beside them (all-mpnet-base-v2,
`assistant/mpnet_encoder.py`): the two together picked the right topic for more real
questions than either alone.

Each probability mixes the calibrated model's with a vote of the training lines nearest
the message on that embedding (`neighbour_vote`, the vote's share; `NeighbourVote`): a
rare phrasing that another site's line also used is read by that line, which a linear
model of thousands of features can outvote. A small share measured best (config.yml).

It writes its choice where Rasa's own components do (the intent, the intent
ranking and, for an FAQ topic, the response selector's prediction), with
calibrated probabilities, so the unknown-question gate, the actions and the
review app read it as they read DIET's. It runs after `FallbackClassifier`: the
calibrated probabilities are honest but flatter than DIET's, and the fallback's
thresholds were set for DIET's.
"""

from typing import Any, Dict, List, Sequence, Tuple

import joblib
import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import csr_matrix, hstack
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from assistant.mpnet_encoder import JoinedEmbeddings
from assistant.parse_keys import CRISIS_INTENT, CRISIS_SECOND_OPINION_KEY
from assistant.unknown_questions import RESPONSE_SELECTOR_KEY, RETRIEVAL_INTENT, full_label, sentence_embedding

MODEL_FILE = "question_classifier.joblib"
FALLBACK_INTENT = "nlu_fallback"
RANKING_LENGTH = 10


class NeighbourVote:
    """The labels of the training lines nearest a message, each weighted by how close it is.

    The linear model weighs every feature across all lines; a real visitor's question is
    sometimes better read by the few lines most like it (a rare phrasing another site also
    used). Weights are a softmax of the cosine similarities, sharpened by `sharpness`.
    """

    def __init__(self, vectors: np.ndarray, labels: Sequence[str], neighbours: int, sharpness: float) -> None:
        """Keeps the lines' embeddings, unit length as `JoinedEmbeddings` gives them (as the gate's examples)."""
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.labels = np.asarray(labels)
        self.neighbours = int(neighbours)
        self.sharpness = float(sharpness)

    def shares(self, sentence: np.ndarray) -> Dict[str, float]:
        """Each label's share of the vote of the `neighbours` nearest lines (shares sum to 1)."""
        similarities = self.vectors @ sentence.reshape(-1).astype(np.float32)
        nearest = np.argpartition(-similarities, min(self.neighbours, len(similarities) - 1))[: self.neighbours]
        weights = np.exp(self.sharpness * (similarities[nearest] - similarities[nearest].max()))
        shares: Dict[str, float] = {}
        for label, weight in zip(self.labels[nearest], weights / weights.sum()):
            shares[str(label)] = shares.get(str(label), 0.0) + float(weight)
        return shares

    def __getstate__(self) -> Dict[str, Any]:
        """Stored in half precision, which keeps the model small: the shares need two decimals."""
        return {**self.__dict__, "vectors": self.vectors.astype(np.float16)}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        """Computed on in single precision, as trained."""
        self.__dict__.update({**state, "vectors": state["vectors"].astype(np.float32)})


class QuestionModel:
    """The vectorisers, the calibrated linear classifier and the neighbours' vote, trained together."""

    def __init__(self, config: Dict[str, Any]) -> None:
        """An untrained model with the component's settings."""
        self.words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)
        self.characters = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, max_features=config["max_character_features"]
        )
        self.sentence_weight = float(config["sentence_weight"])
        # One machine trained on every line, its scores turned into probabilities by a
        # sigmoid fitted on 3-fold held-out scores (`ensemble=False`): averaging three
        # machines trained on two thirds each picked the right topic less often (0.80 vs 0.82).
        self.classifier = CalibratedClassifierCV(
            LinearSVC(C=config["C"], random_state=config["random_seed"]), cv=3, method="sigmoid", ensemble=False
        )
        self.vote_weight = float(config["neighbour_vote"] or 0.0)
        self.neighbour_settings = (config["neighbours"], config["neighbour_sharpness"])
        self.neighbours: NeighbourVote | None = None

    def fit(self, texts: Sequence[str], sentences: np.ndarray, labels: Sequence[str]) -> "QuestionModel":
        """Learns the vocabularies and the classifier from the training lines."""
        self.words.fit(texts)
        self.characters.fit(texts)
        # An array, not a list: scikit-learn 1.1 counts the classes per fold with `y == label`.
        self.classifier.fit(self._features(texts, sentences), np.asarray(labels))
        if self.vote_weight > 0:
            self.neighbours = NeighbourVote(sentences, labels, *self.neighbour_settings)
        return self

    def __setstate__(self, state: Dict[str, Any]) -> None:
        """A model stored before the neighbours' vote existed reads as one without it."""
        self.__dict__.update({"vote_weight": 0.0, "neighbours": None, **state})

    def probabilities(self, text: str, sentence: np.ndarray) -> Dict[str, float]:
        """Every label's probability for one message: the calibrated model's, mixed with the neighbours' vote."""
        row = self.classifier.predict_proba(self._features([text], sentence.reshape(1, -1)))[0]
        probabilities = {str(label): float(p) for label, p in zip(self.classifier.classes_, row)}
        if self.neighbours is None:
            return probabilities
        shares = self.neighbours.shares(sentence)
        return {
            label: (1.0 - self.vote_weight) * p + self.vote_weight * shares.get(label, 0.0)
            for label, p in probabilities.items()
        }

    def _features(self, texts: Sequence[str], sentences: np.ndarray) -> csr_matrix:
        sentence_columns = csr_matrix(sentences * self.sentence_weight)
        return hstack([self.words.transform(texts), self.characters.transform(texts), sentence_columns]).tocsr()


def is_question(label: str | None, question_intents: Sequence[str]) -> bool:
    """A label this component decides: `faq`, an FAQ topic or one of the configured question intents."""
    return bool(label) and (
        label == RETRIEVAL_INTENT or label.startswith(f"{RETRIEVAL_INTENT}/") or label in question_intents
    )


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class QuestionClassifier(GraphComponent):
    """Re-decides DIET's question labels with a calibrated linear model (see the module docstring)."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """The settings measured in bench/README.md; `config.yml` may override them."""
        return {
            # the support-vector machine's regularisation (smaller: wider margin)
            "C": 0.3,
            "max_character_features": 20000,
            # how much the MiniLM sentence embedding weighs beside the n-grams
            "sentence_weight": 2.0,
            "random_seed": 7,
            # the share of the nearest training lines' vote in each probability (0: the linear model alone),
            # how many lines vote, and how much more the closest count (softmax of similarity x sharpness)
            "neighbour_vote": 0.2,
            "neighbours": 10,
            "neighbour_sharpness": 20.0,
            # the labels besides `faq/<topic>` that this component decides
            "question_intents": [
                "out_of_scope", "medical_question", "book_consultation", "human_handoff", "bot_challenge",
            ],
            # DIET's `crisis` at or above this is the safety net's to judge...
            "leave_crisis_from": 0.15,
            # ...unless this model gives `crisis` less than this (None: DIET's reading always stands)
            "crisis_second_opinion": 0.15,
            # a question DIET ranked `crisis` lower gets this model's `crisis` in its ranking from here
            # (None: never), for the safety net to judge
            "raise_crisis_from": 0.5,
            # a sentence-transformers model folder whose embedding joins the pipeline's (None: none)
            "second_encoder": None,
        }

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: QuestionModel | None = None,
        responses: Dict[str, List[Dict[str, Any]]] | None = None,
    ) -> None:
        """Keeps the configuration and, once trained or loaded, the model and the FAQ responses."""
        self._config = {**self.get_default_config(), **config}
        self._storage = model_storage
        self._resource = resource
        self._model = model
        self._responses = responses or {}
        self._embeddings = JoinedEmbeddings(self._config["second_encoder"])

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "QuestionClassifier":
        """An untrained component; `train` gives it the model."""
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "QuestionClassifier":
        """Reads what `train` stored; without it the component leaves DIET's choices alone."""
        try:
            with model_storage.read_from(resource) as directory:
                stored = joblib.load(directory / MODEL_FILE)
            return cls(config, model_storage, resource, stored["model"], stored["responses"])
        except (ValueError, FileNotFoundError, OSError, KeyError):
            return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Fits the model on every training line (button payloads aside) with its full label."""
        texts, sentences, labels = self._training_lines(training_data.intent_examples)
        sentences = self._embeddings.of_lines(texts, sentences)
        self._model = QuestionModel(self._config).fit(texts, sentences, labels)
        self._responses = {
            name: list(variants)
            for name, variants in (training_data.responses or {}).items()
            if name.startswith(f"utter_{RETRIEVAL_INTENT}/")
        }
        with self._storage.write_to(self._resource) as directory:
            joblib.dump({"model": self._model, "responses": self._responses}, directory / MODEL_FILE)
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Leaves the training data as it is."""
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Writes this model's question label into each message it decides."""
        if self._model is None:
            return messages
        for message in messages:
            sentence = sentence_embedding(message)
            if sentence is None or not self._reads(message):
                continue
            probabilities = None
            if self._diet_crisis(message) >= self._config["leave_crisis_from"]:
                probabilities = self._probabilities(message, sentence)
                if not self._overrules_crisis(message, probabilities):
                    continue
            if self._decides(message):
                probabilities = probabilities or self._probabilities(message, sentence)
                self._choose(message, probabilities)
            if self._config["raise_crisis_from"] is not None:
                self._raise_crisis(message, probabilities or self._probabilities(message, sentence))
        return messages

    @staticmethod
    def _reads(message: Message) -> bool:
        """Typed text only: button payloads keep the intent they name."""
        text = message.get(TEXT) or ""
        return bool(text.strip()) and not text.startswith("/")

    @staticmethod
    def _diet_crisis(message: Message) -> float:
        ranking = message.get(INTENT_RANKING_KEY) or []
        return max((r.get("confidence") or 0.0 for r in ranking if r.get("name") == CRISIS_INTENT), default=0.0)

    def _overrules_crisis(self, message: Message, probabilities: Dict[str, float]) -> bool:
        """Replaces DIET's `crisis` reading when this model finds it unlikely (the module docstring says why)."""
        floor = self._config["crisis_second_opinion"]
        if floor is None:
            return False
        crisis = probabilities.get(CRISIS_INTENT, 0.0)
        if crisis >= floor:
            return False
        others = [dict(r) for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != CRISIS_INTENT]
        if not others:
            return False
        self._give_crisis_entry(message, crisis)
        if (message.get(INTENT) or {}).get("name") == CRISIS_INTENT:
            message.set(INTENT, max(others, key=lambda r: r["confidence"] or 0.0), add_to_output=True)
        return True

    def _raise_crisis(self, message: Message, probabilities: Dict[str, float]) -> None:
        """Ranks this model's confident `crisis` where DIET's was lower; `process` calls it only when raising is on."""
        floor = self._config["raise_crisis_from"]
        crisis = probabilities.get(CRISIS_INTENT, 0.0)
        if crisis >= floor and self._diet_crisis(message) < crisis:
            self._give_crisis_entry(message, crisis)

    def _give_crisis_entry(self, message: Message, crisis: float) -> None:
        """Replaces DIET's `crisis` entry in the ranking with this model's, keeping both figures on the message."""
        diet = self._diet_crisis(message)
        others = [dict(r) for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != CRISIS_INTENT]
        ranking = sorted(others + [{"name": CRISIS_INTENT, "confidence": crisis}], key=lambda r: -r["confidence"])
        message.set(INTENT_RANKING_KEY, ranking[:RANKING_LENGTH], add_to_output=True)
        message.set(CRISIS_SECOND_OPINION_KEY, {"diet": round(diet, 3), "question_model": round(crisis, 3)},
                    add_to_output=True)

    def _probabilities(self, message: Message, sentence: np.ndarray) -> Dict[str, float]:
        """Every label's probability, on the sentence embedding the model was trained with."""
        text = message.get(TEXT)
        return self._model.probabilities(text, self._embeddings.of_message(text, sentence))

    def _decides(self, message: Message) -> bool:
        label = full_label(message)
        if label == FALLBACK_INTENT:
            ranked = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != FALLBACK_INTENT]
            label = str(ranked[0].get("name")) if ranked else None
        return is_question(label, self._config["question_intents"])

    def _choose(self, message: Message, probabilities: Dict[str, float]) -> None:
        questions = {
            label: p for label, p in probabilities.items() if is_question(label, self._config["question_intents"])
        }
        if not questions:
            return
        best = max(questions, key=lambda label: questions[label])
        ranking = self._intent_ranking(probabilities, message)
        top = next(entry for entry in ranking if entry["name"] == best.split("/", 1)[0])
        message.set(INTENT, dict(top), add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        if best.startswith(f"{RETRIEVAL_INTENT}/"):
            self._select_response(message, best, probabilities)

    @staticmethod
    def _intent_ranking(probabilities: Dict[str, float], message: Message) -> List[Dict[str, Any]]:
        """Intents by probability, FAQ topics summed under `faq`; DIET's `crisis` entry is kept as it was."""
        by_intent: Dict[str, float] = {}
        for label, p in probabilities.items():
            intent = label.split("/", 1)[0]
            if intent != CRISIS_INTENT:
                by_intent[intent] = by_intent.get(intent, 0.0) + p
        ranking = [{"name": name, "confidence": p} for name, p in by_intent.items()]
        ranking += [dict(r) for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") == CRISIS_INTENT]
        return sorted(ranking, key=lambda entry: -entry["confidence"])[:RANKING_LENGTH]

    def _select_response(self, message: Message, topic: str, probabilities: Dict[str, float]) -> None:
        """The response selector's prediction for `topic`, topics ranked by their share of `faq`."""
        topics: List[Tuple[str, float]] = sorted(
            ((label, p) for label, p in probabilities.items() if label.startswith(f"{RETRIEVAL_INTENT}/")),
            key=lambda item: -item[1],
        )
        total = sum(p for _label, p in topics) or 1.0
        selectors = dict(message.get(RESPONSE_SELECTOR_KEY) or {})
        selectors[RETRIEVAL_INTENT] = {
            "response": {
                "responses": self._responses.get(f"utter_{topic}", []),
                "confidence": probabilities[topic] / total,
                "intent_response_key": topic,
                "utter_action": f"utter_{topic}",
            },
            "ranking": [
                {"confidence": p / total, "intent_response_key": label} for label, p in topics[:RANKING_LENGTH]
            ],
        }
        selectors.setdefault("all_retrieval_intents", [RETRIEVAL_INTENT])
        message.set(RESPONSE_SELECTOR_KEY, selectors, add_to_output=True)

    @staticmethod
    def _training_lines(examples: Sequence[Message]) -> Tuple[List[str], np.ndarray, List[str]]:
        texts, sentences, labels = [], [], []
        for example in examples:
            text, label, sentence = example.get(TEXT) or "", full_label(example), sentence_embedding(example)
            if text and not text.startswith("/") and label and sentence is not None:
                texts.append(text)
                sentences.append(sentence)
                labels.append(label)
        if not texts:
            raise ValueError("The question classifier needs dense sentence features; add a dense featurizer before it")
        return texts, np.stack(sentences), labels
