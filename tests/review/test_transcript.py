"""The transcript shows what was said, how it was understood, buttons and form steps."""

from typing import List

from sqlalchemy.engine import Engine

from review import queries
from review.transcript import ASSISTANT, STEP, VISITOR, TranscriptEntry, build_transcript
from tests.review.conftest import BOOKING_SCRIPT, Conversations


def transcript_of(database: Engine, conversation_id: str) -> List[TranscriptEntry]:
    with database.connect() as connection:
        return build_transcript(queries.conversation_events(connection, conversation_id))


def test_every_visitor_message_is_there_in_order_with_its_time(database: Engine, conversations: Conversations) -> None:
    entries = transcript_of(database, conversations.booking)
    visitor = [entry for entry in entries if entry.kind == VISITOR]

    assert [entry.text for entry in visitor] == list(BOOKING_SCRIPT)
    times = [entry.timestamp for entry in entries]
    assert times == sorted(times) and all(time > 0 for time in times)


def test_every_assistant_message_is_there(database: Engine, conversations: Conversations) -> None:
    entries = transcript_of(database, conversations.booking)
    assistant = [entry for entry in entries if entry.kind == ASSISTANT]

    assert len(assistant) >= len(BOOKING_SCRIPT)
    assert all(entry.text for entry in assistant)
    assert "Jordan Lee" in assistant[-1].text


def test_the_understood_intent_and_confidence_are_given(database: Engine, conversations: Conversations) -> None:
    medical = [entry for entry in transcript_of(database, conversations.medical) if entry.kind == VISITOR][0]
    faq = [entry for entry in transcript_of(database, conversations.faq) if entry.kind == VISITOR][0]

    assert medical.intent == "medical_question" and 0 < medical.confidence <= 1
    assert faq.intent == "faq/safety"
    assert medical.channel == "rest"


def test_buttons_offered_and_the_one_pressed_are_named(database: Engine, conversations: Conversations) -> None:
    entries = transcript_of(database, conversations.booking)
    pressed = [(index, entry) for index, entry in enumerate(entries) if entry.kind == VISITOR and entry.pressed]

    assert len(pressed) == 2  # consent, then confirmation
    for index, entry in pressed:
        offered = [e for e in entries[:index] if e.kind == ASSISTANT][-1].buttons
        assert entry.pressed in [button.title for button in offered]
        assert entry.text in [button.payload for button in offered]


def test_the_booking_forms_steps_are_shown(database: Engine, conversations: Conversations) -> None:
    steps = [entry.text for entry in transcript_of(database, conversations.booking) if entry.kind == STEP]

    assert steps[0] == "Form started: booking_form"
    assert "Form asks for: visitor_name" in steps
    assert "visitor_name = Jordan Lee" in steps
    assert "contact = jordan@example.com" in steps
    assert "Form ended" in steps
    assert not any(step.endswith("cleared") for step in steps[steps.index("Form ended"):])


def test_session_start_bookkeeping_is_left_out(database: Engine, conversations: Conversations) -> None:
    steps = [entry.text for entry in transcript_of(database, conversations.greeting) if entry.kind == STEP]
    assert not any(step.startswith(("practice_name", "therapist_name", "crisis_resources")) for step in steps)


def test_a_crisis_message_and_its_flag_are_marked(database: Engine, conversations: Conversations) -> None:
    entries = transcript_of(database, conversations.crisis)
    message = [entry for entry in entries if entry.kind == VISITOR][0]

    assert message.crisis is True
    assert message.safety_net_phrase
    assert any(entry.kind == STEP and entry.crisis and "crisis_flag" in entry.text for entry in entries)
    calm = [entry for entry in transcript_of(database, conversations.faq) if entry.kind == VISITOR][0]
    assert calm.crisis is False


def test_a_message_that_went_to_fallback_is_marked_unanswered(database: Engine, conversations: Conversations) -> None:
    message = [entry for entry in transcript_of(database, conversations.fallback) if entry.kind == VISITOR][0]
    assert message.unanswered is True
