"""The safety net: spaCy rules that catch explicit danger phrases in any message.

The intent classifier is a statistical model and can miss a message that says,
in so many words, that someone is about to hurt themselves. This component runs
after the classifiers and overrides their verdict with `crisis` whenever a phrase
of `data/safety/crisis_phrases.yml` matches (compared on lemmas, so word forms do
not matter), and also when the classifier's own best guess was `crisis` but the
fallback classifier turned it into `nlu_fallback` for lack of confidence.
Either way the parse result says why under `safety_net`, so the therapist's review
can tell a rule match from a classifier verdict.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Sequence

import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

CRISIS_INTENT = "crisis"
FALLBACK_INTENT = "nlu_fallback"
SAFETY_NET_KEY = "safety_net"
WILDCARD = "*"
WILDCARD_SPAN = 3
NEGATION_WINDOW = 2


@dataclass(frozen=True)
class CrisisMatch:
    """Why a message was treated as a crisis."""

    reason: str
    phrase: str | None = None

    def as_dict(self) -> Dict[str, Any]:
        """The form stored in the parse result (and so in the tracker store)."""
        return {"reason": self.reason, "phrase": self.phrase}


class CrisisPhraseRules:
    """Lemma-based spaCy Matcher rules built from the therapist-readable phrase list."""

    def __init__(self, nlp: Any, phrases: Sequence[str], negations: Sequence[str]) -> None:
        """Compiles the phrases with the same pipeline that will read the messages."""
        from spacy.matcher import Matcher

        self._nlp = nlp
        self._matcher = Matcher(nlp.vocab)
        self._negations = {self._lemmas(word)[0] for word in negations if word.strip()}
        self._phrase_starts_negated: Dict[str, bool] = {}
        for phrase in phrases:
            pattern = self._pattern(phrase)
            if pattern:
                self._matcher.add(phrase, [pattern])
                first = self._lemmas(phrase)[0]
                self._phrase_starts_negated[phrase] = first in self._negations

    @classmethod
    def from_file(cls, nlp: Any, path: Path) -> "CrisisPhraseRules":
        """Reads the phrase list; a missing or empty list is an error, never silence."""
        content = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        phrases = [str(p) for p in content.get("phrases") or [] if str(p).strip()]
        if not phrases:
            raise ValueError(f"{path} lists no crisis phrases")
        return cls(nlp, phrases, [str(n) for n in content.get("negations") or []])

    def first_match(self, text: str) -> str | None:
        """Returns the first phrase that matches the text, ignoring negated matches."""
        lemmas = self._lemmas(text)
        if not lemmas:
            return None
        doc = self._lemma_doc(lemmas)
        for match_id, start, _end in sorted(self._matcher(doc), key=lambda m: m[1]):
            phrase = self._nlp.vocab.strings[match_id]
            if self._phrase_starts_negated.get(phrase) or not self._negated(doc, start):
                return phrase
        return None

    def _negated(self, doc: Any, start: int) -> bool:
        window = doc[max(0, start - NEGATION_WINDOW) : start]
        return any(token.text in self._negations for token in window)

    def _pattern(self, phrase: str) -> List[Dict[str, Any]]:
        pattern: List[Dict[str, Any]] = []
        for part in phrase.split(WILDCARD):
            for lemma in self._lemmas(part):
                pattern.append({"ORTH": lemma})
            pattern.extend({"OP": "?"} for _ in range(WILDCARD_SPAN))
        return pattern[:-WILDCARD_SPAN] if pattern else pattern

    def _lemma_doc(self, lemmas: List[str]) -> Any:
        from spacy.tokens import Doc

        return Doc(self._nlp.vocab, words=lemmas)

    def _lemmas(self, text: str) -> List[str]:
        """Lower-cased dictionary forms, with every spelling of "not" made one."""
        doc = self._nlp(text.lower().replace("’", "'"))
        lemmas = []
        for token in doc:
            if token.is_space or token.is_punct and token.text not in {"'", "-"}:
                continue
            if token.norm_ in {"not", "n't"} or token.lower_ in {"nt", "n't"}:
                lemmas.append("not")
            else:
                lemmas.append((token.lemma_ or token.lower_).lower())
        return lemmas


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class CrisisSafetyNet(GraphComponent):
    """Turns any message with an explicit danger phrase into the `crisis` intent."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Where the phrases and the spaCy pipeline are, and the classifier floor."""
        return {
            "phrases": "data/safety/crisis_phrases.yml",
            "spacy_model": "build/spacy_en",
            # keep the classifier's `crisis` verdict even when the fallback
            # classifier found it too unsure, down to this confidence
            "classifier_floor": 0.3,
        }

    def __init__(self, config: Dict[str, Any], rules: CrisisPhraseRules) -> None:
        """Keeps the compiled rules; see `create` for where they come from."""
        self._floor = float(config["classifier_floor"])
        self._rules = rules

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "CrisisSafetyNet":
        """Builds the rules from the phrase file each time the assistant starts.

        The phrases are read at start rather than stored in the model, so that the
        therapist's edits take effect on the next restart without retraining.
        """
        import spacy

        nlp = spacy.load(config["spacy_model"])
        return cls(config, CrisisPhraseRules.from_file(nlp, Path(config["phrases"])))

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "CrisisSafetyNet":
        """Same as `create`: nothing is persisted in the model."""
        return cls.create(config, model_storage, resource, execution_context)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Leaves training data alone: the rules are not learned."""
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Marks crisis messages and records why on the message."""
        for message in messages:
            match = self.check(message)
            if match is not None:
                self._mark_crisis(message, match)
        return messages

    def check(self, message: Message) -> CrisisMatch | None:
        """Says whether (and why) a message must be treated as a crisis."""
        text = message.get(TEXT) or ""
        if text.startswith("/"):
            return None
        phrase = self._rules.first_match(text)
        if phrase is not None:
            return CrisisMatch(reason="phrase", phrase=phrase)
        if self._classifier_leaned_to_crisis(message):
            return CrisisMatch(reason="classifier_below_threshold")
        return None

    def _classifier_leaned_to_crisis(self, message: Message) -> bool:
        intent = message.get(INTENT) or {}
        if intent.get("name") != FALLBACK_INTENT:
            return False
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != FALLBACK_INTENT]
        return bool(ranking) and ranking[0].get("name") == CRISIS_INTENT and (
            ranking[0].get("confidence") or 0.0
        ) >= self._floor

    @staticmethod
    def _mark_crisis(message: Message, match: CrisisMatch) -> None:
        classifier_intent = (message.get(INTENT) or {}).get("name")
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != CRISIS_INTENT]
        message.set(INTENT, {"name": CRISIS_INTENT, "confidence": 1.0}, add_to_output=True)
        message.set(
            INTENT_RANKING_KEY,
            [{"name": CRISIS_INTENT, "confidence": 1.0}] + ranking,
            add_to_output=True,
        )
        message.set(
            SAFETY_NET_KEY,
            {**match.as_dict(), "classifier_intent": classifier_intent},
            add_to_output=True,
        )
