"""The visitor's own rights, through the running assistant: deleting the conversation, a copy by email.

Conversations are held over REST with the real Rasa server and action server
(the alerting assistant: SMTP to a recording server, and PostgreSQL when one runs
on loopback); the review app's own rows (summaries, unanswered messages, review
note, correction) are made by its own code. Then the visitor types "delete my
conversation" and confirms, and the database is read after the turn has been
stored. These tests need the model trained with `data/nlu/visitor_rights.yml`.
"""

import uuid
from typing import Any, Dict, List, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assistant.database import engine_for
from review import audit, corrections, review_state, tables
from review.summaries import ensure_tables, refresh_summaries
from tests.review.conftest import BOOKING_SCRIPT, hold_conversation
from tests.servers import RunningAssistant
from tests.stored_conversations import FILLED_TABLES, everything_stored, rows_of

BOOKING_EMAIL = "jordan@example.com"
# Private, and an unknown question (an overdose would rightly be read as a possible crisis).
SECRET_WORDS = "blorf can i pay with my brother's gift card zzz"
OTHER_WORDS = "blorf do you see couples zzz"


def booking_with(email: str) -> Tuple[str, ...]:
    """The booking script of the review tests, giving `email` as the contact."""
    return tuple(email if step == BOOKING_EMAIL else step for step in BOOKING_SCRIPT)


def texts(replies: List[Dict[str, Any]]) -> str:
    return "\n".join(reply.get("text") or "" for reply in replies)


def button_titles(replies: List[Dict[str, Any]]) -> List[str]:
    return [button["title"] for reply in replies for button in reply.get("buttons") or []]


def hold_two_conversations(assistant: RunningAssistant) -> Tuple[str, str, Engine]:
    """Two conversations with a row in every table that keeps something about one."""
    prefix = f"rights-{uuid.uuid4().hex[:8]}"
    deleted = hold_conversation(
        assistant, f"{prefix}-deleted", ("is ketamine safe?", SECRET_WORDS, *booking_with(BOOKING_EMAIL))
    )
    kept = hold_conversation(
        assistant, f"{prefix}-kept", ("is ketamine safe?", OTHER_WORDS, *booking_with("sam@example.org"))
    )
    engine = engine_for(assistant.database_url)
    ensure_tables(engine)
    refresh_summaries(engine)
    for conversation in (deleted, kept):
        review_state.set_note(engine, conversation, "call back on Monday")
        with engine.begin() as connection:
            first_message = connection.execute(
                sa.select(tables.events.c.id)
                .where(tables.events.c.sender_id == conversation, tables.events.c.type_name == "user")
                .order_by(tables.events.c.id)
            ).scalars().first()
            corrections.correct_answer(connection, conversation, first_message, "safety")
    return deleted, kept, engine


def test_a_confirmed_deletion_removes_everything_of_the_conversation_and_nothing_of_another(
    alerting_assistant: RunningAssistant,
) -> None:
    deleted, kept, engine = hold_two_conversations(alerting_assistant)
    before_deleted, before_kept = rows_of(engine, deleted), rows_of(engine, kept)
    assert all(before_deleted[name] > 0 for name in FILLED_TABLES), before_deleted

    asked = alerting_assistant.say(deleted, "delete my conversation")
    assert "delete this conversation?" in texts(asked)
    assert button_titles(asked) == ["Yes, delete it", "No, keep it"]
    done = alerting_assistant.say(deleted, "/affirm")
    assert "has been deleted" in texts(done)

    assert set(rows_of(engine, deleted).values()) == {0}
    assert rows_of(engine, kept) == before_kept
    stored = everything_stored(engine)
    assert SECRET_WORDS not in stored and deleted not in stored
    assert OTHER_WORDS in stored
    with engine.connect() as connection:
        visitor_deletions = [e for e in audit.entries(connection, audit.DELETION) if e["actor"] == audit.VISITOR]
    assert len(visitor_deletions) == 1 and visitor_deletions[0]["target"] == ""


def test_the_next_message_after_a_deletion_starts_a_new_conversation(running_assistant: RunningAssistant) -> None:
    conversation = hold_conversation(running_assistant, f"rights-{uuid.uuid4().hex[:8]}", ("is ketamine safe?",))
    running_assistant.say(conversation, "please delete this conversation")
    running_assistant.say(conversation, "yes")
    engine = engine_for(running_assistant.database_url)
    assert rows_of(engine, conversation)["events"] == 0
    again = running_assistant.say(conversation, "hello")
    assert "automated assistant" in texts(again)
    with engine.connect() as connection:
        data = connection.execute(
            sa.select(tables.events.c.data).where(tables.events.c.sender_id == conversation)
        ).scalars().all()
    assert any('"hello"' in row for row in data)
    assert not any("is ketamine safe?" in row for row in data)


def test_saying_no_keeps_the_conversation(running_assistant: RunningAssistant) -> None:
    conversation = hold_conversation(running_assistant, f"rights-{uuid.uuid4().hex[:8]}", ("is ketamine safe?",))
    running_assistant.say(conversation, "delete my conversation")
    kept = running_assistant.say(conversation, "/deny")
    assert "nothing has been deleted" in texts(kept)
    stored = everything_stored(engine_for(running_assistant.database_url))
    assert "is ketamine safe?" in stored and conversation in stored


def test_crisis_resources_come_first_even_at_the_confirmation(running_assistant: RunningAssistant) -> None:
    conversation = hold_conversation(running_assistant, f"rights-{uuid.uuid4().hex[:8]}", ("is ketamine safe?",))
    running_assistant.say(conversation, "delete my conversation")
    replies = running_assistant.say(conversation, "I want to kill myself")
    assert "your safety matters most" in (replies[0].get("text") or "")
    assert rows_of(engine_for(running_assistant.database_url), conversation)["events"] > 0


def test_a_copy_goes_to_the_email_given_when_booking_and_holds_only_that_conversation(
    alerting_assistant: RunningAssistant, mail_recorder: Any
) -> None:
    address = f"copy-{uuid.uuid4().hex[:8]}@example.com"
    conversation = hold_conversation(
        alerting_assistant, f"rights-{uuid.uuid4().hex[:8]}", ("is ketamine safe?", *booking_with(address))
    )
    hold_conversation(alerting_assistant, f"rights-{uuid.uuid4().hex[:8]}", (OTHER_WORDS,))
    sent = alerting_assistant.say(conversation, "send me a copy of this conversation")
    assert address in texts(sent)
    (copy,) = [message for message in mail_recorder.received() if message["To"] == address]
    body = copy.get_content()
    assert "You: is ketamine safe?" in body and "Assistant: " in body
    assert OTHER_WORDS not in body


def test_without_a_booking_email_no_copy_is_sent(running_assistant: RunningAssistant) -> None:
    conversation = hold_conversation(running_assistant, f"rights-{uuid.uuid4().hex[:8]}", ("is ketamine safe?",))
    replies = running_assistant.say(conversation, "email me a copy of this chat")
    assert "only to the email address you gave when booking" in texts(replies)
