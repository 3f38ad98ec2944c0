"""Which answers the assistant gave without being sure: the thresholds, in one place.

The wrong answers that matter most are confident-looking ones, and they never
reach the unanswered inbox. What Rasa stores of each visitor message (the parse
data of its `user` event) shows when an answer was a near thing:

- `intent_ranking`: every intent with its confidence. `FallbackClassifier`
  (config.yml) refuses to answer below `threshold` (0.4) and when the top two are
  within `ambiguity_threshold` (0.05).
- `response_selector.faq.ranking`: for a practice question, every FAQ topic with
  its confidence. This ranking picks the answer actually given, and no fallback
  looks at it.
- `topic_match`: what the unknown-question gate (`assistant/unknown_questions.py`)
  measured of an FAQ answer it let through: the message's similarity to the
  topic's examples and the topic's threshold, its similarity to the unknown
  questions, and the margin by which those must lose. (When the gate turns a
  message away it writes `unknown_question` instead, and the message is
  unanswered, not unsure.)

The classifiers' confidences are saturated: nearly every answer, right or wrong,
comes with 0.95 to 1.0, so they rarely tell anything. The gate's similarities do:
in a probe of 40 practice questions, the answers that came within `NEAR_GATE` of
being turned away were the doubtful ones ("who is Barbara" answered with the
services topic, "do you prescribe SSRIs" with the prescriber's), about one FAQ
answer in seven.

An answered message is "answered but unsure" when

- the gate let its FAQ answer through by less than `NEAR_GATE` (similarity above
  the topic's threshold by less, or the unknown questions nearly closer), or
- in either ranking, the chosen intent or topic has a confidence below
  `UNSURE_BELOW` (the fallback threshold plus a margin: it nearly went
  unanswered), or the runner-up comes within `CLOSE_GAP` of it (it nearly got
  another answer).

Button presses (`/intent` payloads), crises and unanswered messages are flagged
otherwise or not at all.

Messages stored before the gate wrote `topic_match` are judged by the confidences
alone. Changing a threshold changes only conversations summarised afterwards; drop the
summaries (`review.summaries.rebuild_summaries`) to apply it to every conversation.
"""

from typing import Any, Dict, List, Mapping, Sequence

from assistant.parse_keys import TOPIC_MATCH_KEY
from review.constants import CRISIS_INTENT, UNANSWERED_INTENTS

# The gate turns an answer away below its topic's threshold (or when the unknown questions are
# closer by `unknown_margin`): an answer let through by less than 0.15 of cosine similarity nearly was.
NEAR_GATE = 0.15
# `FallbackClassifier.threshold` is 0.4: an answer below 0.6 came within 0.2 of not being given.
UNSURE_BELOW = 0.6
# `FallbackClassifier.ambiguity_threshold` is 0.05: a runner-up within 0.15 came close to being chosen.
CLOSE_GAP = 0.15

RETRIEVAL_INTENT = "faq"


def intent_ranking(parse_data: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """The intents with their confidences, best first, as the classifier ranked them."""
    ranking = parse_data.get("intent_ranking") or []
    return [item for item in ranking if isinstance(item, dict) and item.get("confidence") is not None]


def topic_ranking(parse_data: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """The FAQ topics with their confidences, best first (empty unless a practice question)."""
    selector = (parse_data.get("response_selector") or {}).get(RETRIEVAL_INTENT) or {}
    ranking = selector.get("ranking") or []
    return [item for item in ranking if isinstance(item, dict) and item.get("confidence") is not None]


def is_close_call(ranking: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the top of a ranking was a low confidence or a near tie with the runner-up."""
    if not ranking:
        return False
    top = float(ranking[0]["confidence"])
    if top < UNSURE_BELOW:
        return True
    return len(ranking) > 1 and top - float(ranking[1]["confidence"]) < CLOSE_GAP


def gate_margin(parse_data: Mapping[str, Any]) -> float | None:
    """By how much the unknown-question gate let an FAQ answer through (None: it did not judge it)."""
    measured = parse_data.get(TOPIC_MATCH_KEY)
    if not isinstance(measured, dict):
        return None
    try:
        similarity = float(measured["similarity"])
        above_threshold = similarity - float(measured["threshold"])
        unknown_bar = float(measured["unknown_similarity"]) - float(measured.get("unknown_margin") or 0.0)
        above_unknown = similarity - unknown_bar
    except (KeyError, TypeError, ValueError):
        return None
    return min(above_threshold, above_unknown)


def answered_but_unsure(text: str, parse_data: Mapping[str, Any]) -> bool:
    """Whether the assistant answered this visitor message although its rankings were a near thing."""
    intent = (parse_data.get("intent") or {}).get("name")
    if not intent or intent in UNANSWERED_INTENTS or intent == CRISIS_INTENT or text.startswith("/"):
        return False
    margin = gate_margin(parse_data)
    if margin is not None and margin < NEAR_GATE:
        return True
    if is_close_call(intent_ranking(parse_data)):
        return True
    return intent == RETRIEVAL_INTENT and is_close_call(topic_ranking(parse_data))
