"""What a visitor message was answered with, its runner-up and outcome, from Rasa's stored parse data."""

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from review.queries import parse_event_data
from review.summaries import ensure_tables, refresh_summaries
from review.tables import visitor_messages
from review.understanding import ANSWERED, OUTCOMES, UNANSWERED, answered_label, ranking, understand
from tests.review.conftest import Conversations
from tests.review.servers import copy_sqlite_database


def user_events(database: Engine, conversation_id: str) -> list:
    with database.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT id, data FROM events WHERE sender_id = :id AND type_name = 'user' ORDER BY id"),
            {"id": conversation_id},
        ).all()
    return [(row.id, parse_event_data(row.data)) for row in rows]


def test_an_faq_answer_is_its_topic_with_the_combined_confidence_and_a_runner_up(
    database: Engine, conversations: Conversations
) -> None:
    [(_id, data)] = user_events(database, conversations.faq)
    parse_data = data["parse_data"]
    understood = understand(parse_data, data["text"])

    assert understood.answer.label == answered_label(parse_data)
    assert understood.answer.label.startswith("faq/") or understood.answer.label == "out_of_scope"
    assert understood.runner_up is not None and understood.runner_up.label != understood.answer.label
    assert 0 <= understood.runner_up.confidence <= understood.answer.confidence <= 1
    assert understood.outcome in OUTCOMES


def test_the_ranking_puts_faq_topics_in_place_of_faq(database: Engine, conversations: Conversations) -> None:
    [(_id, data)] = user_events(database, conversations.faq)
    labels = [guess.label for guess in ranking(data["parse_data"])]

    assert "faq" not in labels
    assert sum(label.startswith("faq/") for label in labels) > 1
    confidences = [guess.confidence for guess in ranking(data["parse_data"])]
    assert confidences == sorted(confidences, reverse=True)


def test_a_message_the_assistant_did_not_understand_is_unanswered(
    database: Engine, conversations: Conversations
) -> None:
    [(_id, data)] = user_events(database, conversations.fallback)
    understood = understand(data["parse_data"], data["text"])

    assert understood.outcome == UNANSWERED
    assert understood.answer.label in ("nlu_fallback", "out_of_scope")


def test_a_pressed_button_is_answered_not_a_guess(database: Engine, conversations: Conversations) -> None:
    pressed = [data for _id, data in user_events(database, conversations.booking) if data["text"].startswith("/")]

    assert pressed and all(understand(d["parse_data"], d["text"]).outcome == ANSWERED for d in pressed)


def test_every_visitor_message_is_folded_with_its_topic_and_outcome(
    database: Engine, conversations: Conversations
) -> None:
    stored = user_events(database, conversations.booking)
    with database.connect() as connection:
        folded = {
            row.event_id: row
            for row in connection.execute(
                sa.select(visitor_messages).where(visitor_messages.c.conversation_id == conversations.booking)
            )
        }

    assert sorted(folded) == [event_id for event_id, _data in stored]
    for event_id, data in stored:
        understood = understand(data["parse_data"], data["text"])
        assert (folded[event_id].topic, folded[event_id].outcome) == (understood.answer.label, understood.outcome)
        assert folded[event_id].channel == "rest"


def test_parse_data_without_a_ranking_still_names_the_answer() -> None:
    understood = understand({"intent": {"name": "greet", "confidence": 0.9}}, "hi")

    assert (understood.answer.label, understood.answer.confidence, understood.runner_up) == ("greet", 0.9, None)
    assert understand({}, "").outcome == UNANSWERED


def test_messages_summarised_before_their_table_existed_are_folded_in_at_start(
    database: Engine, conversations: Conversations, tmp_path
) -> None:
    copy = copy_sqlite_database(str(database.url), tmp_path / "older.db")
    engine = sa.create_engine(copy, future=True)
    try:
        visitor_messages.drop(engine)

        ensure_tables(engine)
        refresh_summaries(engine)

        with engine.connect() as connection:
            users = connection.execute(sa.text("SELECT COUNT(*) FROM events WHERE type_name = 'user'")).scalar()
            folded = connection.execute(sa.select(sa.func.count()).select_from(visitor_messages)).scalar()
        assert folded == users > 0
    finally:
        engine.dispose()
