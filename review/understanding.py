"""How the assistant understood one visitor message, read from the parse data Rasa stored.

Rasa keeps the whole NLU result with each `user` event: the intent and its
ranking, and for the retrieval intent `faq` the response selector's ranking of
the FAQ topics. The therapist thinks in topics, not in "faq then cost", so the
two rankings are folded into one ranking of labels (`faq/cost`, `greet`, ...),
each FAQ topic's confidence being that of `faq` times the selector's.

A message is *answered*, *unsure* or *unanswered*: unanswered when the
assistant said it didn't understand (`nlu_fallback`) or has no answer
(`out_of_scope`, also set by the unknown-question gate); unsure when
`review.unsure` (the one definition, shared with the conversation list's flag)
says it answered without being sure; answered otherwise.
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping

from review.constants import UNANSWERED_INTENTS
from review.unsure import answered_but_unsure

RETRIEVAL_INTENT = "faq"
ANSWERED = "answered"
UNSURE = "unsure"
UNANSWERED = "unanswered"
OUTCOMES = (ANSWERED, UNSURE, UNANSWERED)


@dataclass(frozen=True)
class Guess:
    """A label the assistant considered (`faq/<topic>` or an intent) and its confidence."""

    label: str
    confidence: float | None


@dataclass(frozen=True)
class Understanding:
    """What a message was answered with, the best other candidate, and the outcome."""

    answer: Guess | None
    runner_up: Guess | None
    outcome: str


def answered_label(parse_data: Mapping[str, Any]) -> str | None:
    """The label the message was answered with: `faq/<topic>` for FAQ answers, else the intent."""
    intent = parse_data.get("intent") or {}
    name = intent.get("name")
    if name != RETRIEVAL_INTENT:
        return str(name) if name else None
    selected = ((parse_data.get("response_selector") or {}).get(RETRIEVAL_INTENT) or {}).get("response") or {}
    return intent.get("full_retrieval_intent_name") or selected.get("intent_response_key") or name


def ranking(parse_data: Mapping[str, Any]) -> List[Guess]:
    """Every label considered, best first, with `faq` replaced by its topics."""
    selector = (parse_data.get("response_selector") or {}).get(RETRIEVAL_INTENT) or {}
    guesses: List[Guess] = []
    for entry in parse_data.get("intent_ranking") or []:
        name, confidence = entry.get("name"), _number(entry.get("confidence"))
        if name == RETRIEVAL_INTENT:
            for topic in selector.get("ranking") or []:
                key, share = topic.get("intent_response_key"), _number(topic.get("confidence"))
                if key:
                    guesses.append(Guess(str(key), _product(confidence, share)))
        elif name:
            guesses.append(Guess(str(name), confidence))
    return sorted(guesses, key=lambda guess: -(guess.confidence or 0.0))


def understand(parse_data: Mapping[str, Any], text: str = "") -> Understanding:
    """The answer, its runner-up and the outcome of one message's parse data."""
    label = answered_label(parse_data)
    ranked = ranking(parse_data)
    answer = next((guess for guess in ranked if guess.label == label), None)
    if label and answer is None:
        answer = Guess(label, _number((parse_data.get("intent") or {}).get("confidence")))
    runner_up = next(
        (
            guess
            for guess in ranked
            if guess.label not in (label, RETRIEVAL_INTENT) and guess.label not in UNANSWERED_INTENTS
        ),
        None,
    )
    return Understanding(answer, runner_up, _outcome(parse_data, answer, text))


def _outcome(parse_data: Mapping[str, Any], answer: Guess | None, text: str) -> str:
    if answer is None or answer.label in UNANSWERED_INTENTS:
        return UNANSWERED
    return UNSURE if answered_but_unsure(text, parse_data) else ANSWERED


def outcome_of(data: Dict[str, Any]) -> str:
    """The outcome of a stored `user` event's data (its text and parse data)."""
    return understand(data.get("parse_data") or {}, str(data.get("text") or "")).outcome


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _product(first: float | None, second: float | None) -> float | None:
    return None if first is None or second is None else first * second
