"""What "answered but unsure" means: read from the rankings Rasa stores with each visitor message."""

import copy
from pathlib import Path
from typing import Any, Dict, List, Tuple

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Engine

from assistant import settings
from review.queries import ConversationFilter, conversation_events, conversation_summary, count_conversations
from review.tables import conversation_summaries
from review.unsure import (
    CLOSE_GAP,
    NEAR_GATE,
    UNSURE_BELOW,
    answered_but_unsure,
    gate_margin,
    intent_ranking,
    topic_ranking,
)
from tests.review.conftest import Conversations


def visitor_messages(database: Engine, conversation_id: str) -> List[Tuple[str, Dict[str, Any]]]:
    """(text, parse data) of each visitor message, as Rasa stored them."""
    with database.connect() as connection:
        stored = conversation_events(connection, conversation_id)
    return [(str(e.data.get("text") or ""), e.data.get("parse_data") or {}) for e in stored if e.type_name == "user"]


def clear_answer(parse_data: Dict[str, Any]) -> Dict[str, Any]:
    """The parse data of a real FAQ answer, made a clear one: far from the gate, no close runner-up."""
    clear = copy.deepcopy(parse_data)
    clear["topic_match"].update(similarity=0.8, threshold=0.5, unknown_similarity=0.3)
    clear["intent_ranking"] = [{"name": "faq", "confidence": 0.99}, {"name": "greet", "confidence": 0.01}]
    topics = clear["response_selector"]["faq"]["ranking"]
    topics[:2] = [{**topics[0], "confidence": 0.95}, {**topics[1], "confidence": 0.05}]
    return clear


def fallback_classifier() -> Dict[str, Any]:
    config = yaml.safe_load(Path(settings.PROJECT_ROOT, "config.yml").read_text())
    return next(component for component in config["pipeline"] if component["name"] == "FallbackClassifier")


def test_the_thresholds_sit_above_where_the_fallback_classifier_gives_up() -> None:
    fallback = fallback_classifier()

    assert fallback["threshold"] < UNSURE_BELOW < 1
    assert fallback["ambiguity_threshold"] < CLOSE_GAP < 1


def test_the_stored_parse_data_carries_both_rankings(database: Engine, conversations: Conversations) -> None:
    (_text, parse_data), *_ = visitor_messages(database, conversations.faq)

    assert len(intent_ranking(parse_data)) > 1
    topics = topic_ranking(parse_data)
    assert len(topics) > 1 and topics[0]["intent_response_key"].startswith("faq/")


def test_the_stored_parse_data_says_how_near_the_gate_came_to_turning_an_answer_away(
    database: Engine, conversations: Conversations
) -> None:
    (_text, parse_data), *_ = visitor_messages(database, conversations.faq)

    assert parse_data["topic_match"]["topic"] == topic_ranking(parse_data)[0]["intent_response_key"]
    assert gate_margin(parse_data) > 0


def test_an_answer_the_gate_nearly_turned_away_is_unsure(database: Engine, conversations: Conversations) -> None:
    (text, parse_data), *_ = visitor_messages(database, conversations.faq)
    clear = clear_answer(parse_data)
    near_threshold = copy.deepcopy(clear)
    near_threshold["topic_match"]["threshold"] = 0.8 - NEAR_GATE / 2
    near_unknown = copy.deepcopy(clear)
    near_unknown["topic_match"]["unknown_similarity"] = 0.8 + clear["topic_match"]["unknown_margin"] - NEAR_GATE / 2

    assert not answered_but_unsure(text, clear)
    assert answered_but_unsure(text, near_threshold)
    assert answered_but_unsure(text, near_unknown)


def test_a_practice_answer_with_a_close_runner_up_or_low_confidence_is_unsure(
    database: Engine, conversations: Conversations
) -> None:
    (text, parse_data), *_ = visitor_messages(database, conversations.faq)
    clear = clear_answer(parse_data)
    close = copy.deepcopy(clear)
    close["response_selector"]["faq"]["ranking"][1]["confidence"] = 0.95 - CLOSE_GAP / 2
    low = copy.deepcopy(clear)
    low["response_selector"]["faq"]["ranking"][0]["confidence"] = UNSURE_BELOW - 0.01

    assert not answered_but_unsure(text, clear)
    assert answered_but_unsure(text, close)
    assert answered_but_unsure(text, low)


def test_crises_unanswered_questions_and_button_presses_are_never_unsure(
    database: Engine, conversations: Conversations
) -> None:
    for name in ("crisis", "fallback"):
        for text, parse_data in visitor_messages(database, getattr(conversations, name)):
            lowered = copy.deepcopy(parse_data)
            for item in lowered.get("intent_ranking") or []:
                item["confidence"] = 0.41
            assert not answered_but_unsure(text, lowered), name
    presses = [(t, p) for t, p in visitor_messages(database, conversations.booking) if t.startswith("/")]
    assert presses and not any(answered_but_unsure(text, parse_data) for text, parse_data in presses)


def test_a_conversation_is_flagged_unsure_exactly_when_one_of_its_answers_was(
    database: Engine, conversations: Conversations
) -> None:
    for conversation_id in conversations.all():
        expected = any(answered_but_unsure(t, p) for t, p in visitor_messages(database, conversation_id))
        with database.connect() as connection:
            assert conversation_summary(connection, conversation_id)["unsure"] is expected, conversation_id


def test_the_unsure_flag_is_a_filter_of_the_list(database: Engine) -> None:
    with database.connect() as connection:
        flagged = connection.execute(
            sa.select(sa.func.count()).where(conversation_summaries.c.unsure.is_(True))
        ).scalar()
        assert count_conversations(connection, ConversationFilter(flag="unsure")) == flagged
