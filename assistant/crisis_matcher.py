"""The safety net: spaCy rules that grade the danger a message speaks of.

The intent classifier is a statistical model and can miss a message that says,
in so many words, that someone is about to hurt themselves. This component runs
after the classifiers and overrides their verdict with `crisis` whenever an acute
phrase of `data/safety/crisis_phrases.yml` matches (compared on lemmas, so word
forms do not matter), and also when the classifier's own best guess was `crisis`
but the fallback classifier turned it into `nlu_fallback` for lack of confidence.
The parse result then says why under `safety_net`, so the therapist's review can
tell a rule match from a classifier verdict.

Not every alarming word is danger. Words inside an everyday idiom ("this wait is
killing me") never count, and when only the classifier calls such a message a
crisis, the idiom overrules it (the next intent, or an unknown question). An
acute phrase next to a context that makes it history, grief or a question about
the treatment ("I was suicidal years ago", "can you
overdose on ketamine") is a sensitive mention, as are the file's `sensitive`
words. A sensitive mention keeps the classifier's verdict (the visitor's question
gets its answer) and is recorded under `sensitive_mention`, so that the answer
ends with one gentle line carrying the crisis number.
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

from assistant.parse_keys import (
    CRISIS_INTENT,
    IDIOM_KEY,
    SAFETY_NET_KEY,
    SENSITIVE_MENTION_KEY,
    UNKNOWN_INTENT,
)

FALLBACK_INTENT = "nlu_fallback"
WILDCARD = "*"
WILDCARD_SPAN = 3
NEGATION_WINDOW = 2
# Punctuation that ends a sentence (with a single full stop): a negation before it
# doesn't reach past it. An ellipsis trails off instead ("i can't... go on").
SENTENCE_ENDS = frozenset("!?;")
# The one token every sentence end becomes in the lemma list.
SENTENCE_END = "."
# How many words may separate an acute phrase from the context that makes it a
# mention of the past or of someone else ("attempted suicide two years ago").
CONTEXT_WINDOW = 3
ACUTE = "acute"
SENSITIVE = "sensitive"


def _ends_a_sentence(token: str) -> bool:
    """A full stop, or a run of "!", "?" and ";": not an ellipsis, which trails off mid-thought."""
    return token == SENTENCE_END or (bool(token) and all(character in SENTENCE_ENDS for character in token))


@dataclass(frozen=True)
class CrisisMatch:
    """Why a message was treated as a crisis."""

    reason: str
    phrase: str | None = None

    def as_dict(self) -> Dict[str, Any]:
        """The form stored in the parse result (and so in the tracker store)."""
        return {"reason": self.reason, "phrase": self.phrase}


@dataclass(frozen=True)
class SafetyVerdict:
    """How much danger a message speaks of, by the rules: acute, sensitive or none."""

    level: str | None
    phrase: str | None = None
    # the not_acute context found in the message (history, someone else, a risk question)
    context: str | None = None
    # an everyday idiom found in a message that is neither acute nor sensitive
    idiom: str | None = None


@dataclass(frozen=True)
class PhraseSpan:
    """Where a phrase of the list matched, in lemma positions."""

    phrase: str
    start: int
    end: int

    def near(self, other: "PhraseSpan", window: int) -> bool:
        """Whether the two spans overlap or are at most `window` words apart."""
        return self.start <= other.end + window and other.start <= self.end + window


class CrisisPhraseRules:
    """Lemma-based spaCy Matcher rules built from the therapist-readable phrase lists."""

    LISTS = ("phrases", "idioms", "not_acute", "sensitive")

    def __init__(
        self,
        nlp: Any,
        phrases: Sequence[str],
        negations: Sequence[str],
        idioms: Sequence[str] = (),
        not_acute: Sequence[str] = (),
        sensitive: Sequence[str] = (),
    ) -> None:
        """Compiles every list with the same pipeline that will read the messages."""
        self._nlp = nlp
        self._negations = {self._lemmas(word)[0] for word in negations if word.strip()}
        self._acute = self._matcher(phrases)
        self._idioms = self._matcher(idioms)
        self._not_acute = self._matcher(not_acute)
        self._sensitive = self._matcher(sensitive)
        self._phrase_starts_negated = {
            phrase: self._lemmas(phrase)[0] in self._negations
            for phrase in [*phrases, *sensitive]
            if self._lemmas(phrase)
        }

    @classmethod
    def from_file(cls, nlp: Any, path: Path) -> "CrisisPhraseRules":
        """Reads the phrase lists; a missing or empty acute list is an error, never silence."""
        content = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        lists = {name: [str(p) for p in content.get(name) or [] if str(p).strip()] for name in cls.LISTS}
        if not lists["phrases"]:
            raise ValueError(f"{path} lists no crisis phrases")
        return cls(
            nlp,
            lists["phrases"],
            [str(n) for n in content.get("negations") or []],
            idioms=lists["idioms"],
            not_acute=lists["not_acute"],
            sensitive=lists["sensitive"],
        )

    def first_match(self, text: str) -> str | None:
        """Returns the acute phrase that makes the text a crisis, or None."""
        verdict = self.assess(text)
        return verdict.phrase if verdict.level == ACUTE else None

    def assess(self, text: str) -> SafetyVerdict:
        """Grades the text: an acute phrase, a sensitive mention, or nothing.

        Words inside an idiom never count. An acute phrase near a context of the
        past, of someone else or of a question about the treatment is only a
        sensitive mention; any other acute phrase is acute.
        """
        lemmas = self._lemmas(text)
        if not lemmas:
            return SafetyVerdict(None)
        doc = self._lemma_doc(lemmas)
        idioms = self._spans(self._idioms, doc)
        contexts = self._spans(self._not_acute, doc)
        acute = self._live_spans(self._acute, doc, idioms)
        for span in acute:
            if not any(span.near(context, CONTEXT_WINDOW) for context in contexts):
                return SafetyVerdict(ACUTE, span.phrase)
        context = contexts[0].phrase if contexts else None
        if acute:
            return SafetyVerdict(SENSITIVE, acute[0].phrase, context)
        sensitive = self._live_spans(self._sensitive, doc, idioms)
        if sensitive:
            return SafetyVerdict(SENSITIVE, sensitive[0].phrase, context)
        return SafetyVerdict(None, idiom=idioms[0].phrase if idioms else None)

    def _matcher(self, phrases: Sequence[str]) -> Any:
        from spacy.matcher import Matcher

        matcher = Matcher(self._nlp.vocab)
        for phrase in phrases:
            pattern = self._pattern(phrase)
            if pattern:
                matcher.add(phrase, [pattern])
        return matcher

    def _spans(self, matcher: Any, doc: Any) -> List[PhraseSpan]:
        spans = [
            PhraseSpan(self._nlp.vocab.strings[match_id], start, end - 1)
            for match_id, start, end in matcher(doc)
        ]
        return sorted(spans, key=lambda span: (span.start, -span.end))

    def _live_spans(self, matcher: Any, doc: Any, idioms: Sequence[PhraseSpan]) -> List[PhraseSpan]:
        """Matches that are neither negated nor inside an idiom."""
        return [
            span
            for span in self._spans(matcher, doc)
            if (self._phrase_starts_negated.get(span.phrase) or not self._negated(doc, span.start))
            and not any(span.near(idiom, 0) for idiom in idioms)
        ]

    def _negated(self, doc: Any, start: int) -> bool:
        """A negation just before the phrase and in its sentence: "don't cry. this is goodbye" is no negation."""
        window = list(doc[max(0, start - NEGATION_WINDOW) : start])
        ends = [position for position, token in enumerate(window) if token.text == SENTENCE_END]
        same_sentence = window[ends[-1] + 1 :] if ends else window
        return any(token.text in self._negations for token in same_sentence)

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
        """Lower-cased dictionary forms, with every spelling of "not" made one and every sentence end a full stop."""
        doc = self._nlp(text.lower().replace("’", "'"))
        lemmas = []
        for token in doc:
            if _ends_a_sentence(token.text):
                lemmas.append(SENTENCE_END)
                continue
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
    """Turns a message with an acute danger phrase into `crisis`; notes sensitive mentions."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Where the phrases and the spaCy pipeline are, and the classifier floor."""
        return {
            "phrases": "data/safety/crisis_phrases.yml",
            "spacy_model": "build/spacy_en",
            # keep the classifier's `crisis` verdict even when the fallback
            # classifier found it too unsure, down to this confidence
            "classifier_floor": 0.3,
            # after an idiom overrules `crisis`, the classifier's next intent is
            # taken from this confidence up (else the message is an unknown question)
            "idiom_next_intent_floor": 0.3,
            # a message with no idiom and no sensitive context is a crisis when the
            # classifier ranked `crisis` anywhere with at least this confidence
            "crisis_runner_up_floor": 0.15,
        }

    def __init__(self, config: Dict[str, Any], rules: CrisisPhraseRules) -> None:
        """Keeps the compiled rules; see `create` for where they come from."""
        self._floor = float(config["classifier_floor"])
        self._idiom_next_floor = float(config.get("idiom_next_intent_floor", 0.3))
        self._runner_up_floor = float(config.get("crisis_runner_up_floor", 0.15))
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
        """Marks crisis messages and sensitive mentions, recording why on the message."""
        for message in messages:
            text = message.get(TEXT) or ""
            verdict = SafetyVerdict(None) if text.startswith("/") else self._rules.assess(text)
            match = self.check(message, verdict)
            if match is not None:
                self._mark_crisis(message, match)
            elif verdict.level == SENSITIVE:
                self._mark_sensitive(message, verdict)
            elif verdict.idiom is not None:
                self._overrule_with_idiom(message, verdict.idiom)
        return messages

    def check(self, message: Message, verdict: SafetyVerdict | None = None) -> CrisisMatch | None:
        """Says whether (and why) a message must be treated as a crisis."""
        text = message.get(TEXT) or ""
        if text.startswith("/"):
            return None
        verdict = verdict or self._rules.assess(text)
        if verdict.level == ACUTE:
            return CrisisMatch(reason="phrase", phrase=verdict.phrase)
        if verdict.idiom is not None:
            return None
        if self._classifier_leaned_to_crisis(message):
            return CrisisMatch(reason="classifier_below_threshold")
        if verdict.level is None and self._classifier_considered_crisis(message):
            return CrisisMatch(reason="classifier_runner_up")
        return None

    def _classifier_leaned_to_crisis(self, message: Message) -> bool:
        intent = message.get(INTENT) or {}
        if intent.get("name") != FALLBACK_INTENT:
            return False
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") != FALLBACK_INTENT]
        return bool(ranking) and ranking[0].get("name") == CRISIS_INTENT and (
            ranking[0].get("confidence") or 0.0
        ) >= self._floor

    def _classifier_considered_crisis(self, message: Message) -> bool:
        """Whether `crisis` was a serious reading of the classifier, though not its first.

        Indirect warning signs ("nothing matters anymore", a goodbye) are learned,
        not listed, and the classifier's first choice for them wavers between
        trainings. A missed crisis costs far more than a needless crisis line, so a
        message the rules find nothing ordinary in (no idiom, no told history or
        question about the treatment) is a crisis when the classifier gave `crisis`
        at least `crisis_runner_up_floor`. (DIET's `crisis` entry is the question
        model's second opinion when that model found it unlikely:
        `assistant/question_classifier.py`.)
        """
        return any(
            r.get("name") == CRISIS_INTENT and (r.get("confidence") or 0.0) >= self._runner_up_floor
            for r in message.get(INTENT_RANKING_KEY) or []
        )

    @staticmethod
    def _mark_sensitive(message: Message, verdict: SafetyVerdict) -> None:
        """Notes a sensitive mention; a classifier's crisis verdict yields to an explicit context.

        When the message itself says the danger is past, someone else's or a question
        about the treatment ("I was suicidal in college", "can ketamine make suicidal
        thoughts worse?") and no acute phrase stands apart from that context, the
        classifier's `crisis` gives way to its next intent and the answer gets the
        gentle line instead of the crisis script.
        """
        intent = (message.get(INTENT) or {}).get("name")
        mention: Dict[str, Any] = {"phrase": verdict.phrase}
        if intent == CRISIS_INTENT:
            if verdict.context is None:
                return
            ranking = [
                r
                for r in message.get(INTENT_RANKING_KEY) or []
                if r.get("name") not in (CRISIS_INTENT, FALLBACK_INTENT)
            ]
            if not ranking:
                return
            message.set(INTENT, dict(ranking[0]), add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
            mention.update(context=verdict.context, classifier_intent=CRISIS_INTENT)
        message.set(SENSITIVE_MENTION_KEY, mention, add_to_output=True)

    def _overrule_with_idiom(self, message: Message, idiom: str) -> None:
        """A classifier's `crisis` for words that only an idiom holds gives way.

        The classifier learns "kill", "die" and "dead" as danger; in "this cake is
        to die for" or "we killed ourselves moving house" the therapist's idiom list
        says they are not. The message takes the classifier's next intent when it is
        reasonably sure of it, and otherwise becomes an unknown question; the parse
        result records the idiom under `everyday_idiom` for the review.
        """
        intent = (message.get(INTENT) or {}).get("name")
        if intent != CRISIS_INTENT:
            return
        ranking = [
            r for r in message.get(INTENT_RANKING_KEY) or [] if r.get("name") not in (CRISIS_INTENT, FALLBACK_INTENT)
        ]
        if not ranking or (ranking[0].get("confidence") or 0.0) < self._idiom_next_floor:
            ranking = [{"name": UNKNOWN_INTENT, "confidence": 1.0}] + [
                r for r in ranking if r.get("name") != UNKNOWN_INTENT
            ]
        message.set(INTENT, dict(ranking[0]), add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        message.set(IDIOM_KEY, {"idiom": idiom, "classifier_intent": CRISIS_INTENT}, add_to_output=True)

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
