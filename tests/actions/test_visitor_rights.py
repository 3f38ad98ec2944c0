"""The visitor deletes their conversation, or has a copy emailed, from the chat.

The database is a real SQLite file filled as the running assistant fills it:
conversations are written by the project's tracker store (Rasa's SQL store)
from Rasa events, the booking request by the booking action, the alert by the
outbox, the review app's rows by its own functions. Each action runs as Rasa
runs a custom action (the tracker as the action server receives it, the bot
messages and events applied back in Rasa's order) and the turn is then stored
by the tracker store, so what is left in the database is what a real turn
leaves.
"""

import json
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    UserUttered,
)
from rasa.shared.core.trackers import EventVerbosity
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.engine import Engine

from actions.alerts import conversation_link
from actions.booking import ActionSubmitBooking
from actions.conversation_copy import copy_lines
from actions.visitor_rights import MAX_COPIES_A_SESSION, ActionDeleteConversation, ActionSendTranscript
from assistant.alert_outbox import enqueue_alert
from assistant.database import booking_requests_for, dispose_engine, engine_for
from assistant.tracker_store import DatabaseUrlTrackerStore
from review import audit, corrections, review_state, tables
from review.queries import conversation_events
from review.summaries import ensure_tables, refresh_summaries
from review.transcript import build_transcript
from tests.actions.test_booking_calendar import CONSULTATION, book, offered, offered_times
from tests.calendar_server import RunningCalendar, start_radicale
from tests.review.mail import start_mail_server
from tests.servers import free_port, postgres_reachable, temporary_postgres_database
from tests.stored_conversations import FILLED_TABLES, everything_stored, hold_conversation, rows_of, visitor_turn

DELETED, KEPT = "visitor-deletes", "visitor-keeps"
SECRET_WORDS = "my brother's overdose last spring"
KEPT_WORDS = "do you see couples"
BOOKING_EMAIL = "jordan@example.com"
OTHER_EMAIL = "sam@example.org"
THERAPIST = "therapist@example.com"
UNKNOWN = "nlu_fallback"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database (an SQLite file; PostgreSQL when it runs on loopback), and a reference key of the test's own."""
    monkeypatch.setenv("CONVERSATION_REFERENCE_KEY", "a reference key for these tests only")
    for name in ("SMTP_HOST", "THERAPIST_EMAIL", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_FROM"):
        monkeypatch.delenv(name, raising=False)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'assistant.db'}"
        monkeypatch.setenv("DATABASE_URL", url)
        yield url
        dispose_engine(url)
        return
    if not postgres_reachable():
        pytest.skip("no PostgreSQL server on loopback")
    with temporary_postgres_database("visitor_rights") as url:
        monkeypatch.setenv("DATABASE_URL", url)
        yield url


@pytest.fixture
def store(database_url: str) -> Iterator[DatabaseUrlTrackerStore]:
    store = DatabaseUrlTrackerStore(domain=Domain.empty())
    yield store
    store.engine.dispose()


@pytest.fixture
def engine(database_url: str, store: DatabaseUrlTrackerStore) -> Engine:
    engine = engine_for(database_url)
    ensure_tables(engine)
    return engine


@pytest.fixture
def mail(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A recording SMTP server on loopback, configured as the practice's mail server."""
    controller, recorder, port = start_mail_server()
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(port))
    monkeypatch.setenv("SMTP_STARTTLS", "false")
    monkeypatch.setenv("THERAPIST_EMAIL", THERAPIST)
    monkeypatch.setenv("SMTP_FROM", "assistant@example.com")
    yield recorder
    controller.stop()


def copies(mail: Any) -> List[Any]:
    """The emails to visitors (the booking action also alerts the therapist through the same server)."""
    return [message for message in mail.received() if message["To"] != THERAPIST]


async def run_action_in_turn(
    store: DatabaseUrlTrackerStore, sender: str, action: Action, text: str, intent: str, channel: str = "socketio"
) -> Tuple[CollectingDispatcher, List[Dict[str, Any]]]:
    """One turn as Rasa runs it: the visitor's message, the custom action, the store's save."""
    tracker = await store.get_or_create_tracker(sender, append_action_listen=False)
    parse_data = {"text": text, "intent": {"name": intent, "confidence": 0.97}, "entities": []}
    tracker.update(UserUttered(text, intent=parse_data["intent"], parse_data=parse_data, input_channel=channel))
    dispatcher = CollectingDispatcher()
    returned = await action.run(dispatcher, Tracker.from_dict(tracker.current_state(EventVerbosity.ALL)), {})
    tracker.update(ActionExecuted(action.name()))
    for message in dispatcher.messages:
        tracker.update(BotUttered(message.get("text"), metadata={"utter_action": message.get("response")}))
    tracker.update_with_events([Event.from_parameters(event) for event in returned], None)
    tracker.update(ActionExecuted(tracker.followup_action or "action_listen"))
    await store.save(tracker)
    return dispatcher, returned


async def book_with_email(sender: str, email: str, channel: str = "socketio") -> None:
    """The booking action stores the request, as at the end of the booking form."""
    slots = {
        "visitor_name": "Jordan Lee",
        "contact": email,
        "preferred_times": "weekday mornings",
        "contact_consent": True,
        "booking_confirmed": True,
    }
    tracker = Tracker(sender, slots, {"intent": {"name": "affirm"}}, [{"event": "user", "input_channel": channel}],
                      False, None, {}, "action_listen")
    await ActionSubmitBooking().run(CollectingDispatcher(), tracker, {})


async def fill_two_conversations(store: DatabaseUrlTrackerStore, engine: Engine) -> None:
    """Two conversations with a row in every table that keeps something about one."""
    for sender, words, email in ((DELETED, SECRET_WORDS, BOOKING_EMAIL), (KEPT, KEPT_WORDS, OTHER_EMAIL)):
        await hold_conversation(
            store,
            sender,
            "socketio",
            [
                ("is ketamine safe?", "faq", "action_answer_faq", "It is given under medical supervision."),
                (words, UNKNOWN, "action_suggest_topics", "I'm not sure I understood."),
            ],
        )
        await book_with_email(sender, email)
        enqueue_alert(engine, "New request for a consultation call", f"Read it: {conversation_link(sender)}\n", THERAPIST)
    refresh_summaries(engine)
    for sender in (DELETED, KEPT):
        review_state.set_note(engine, sender, "call back on Monday")
        with engine.begin() as connection:
            first_message = connection.execute(
                sa.select(tables.events.c.id).where(tables.events.c.sender_id == sender, tables.events.c.type_name == "user")
            ).scalars().first()
            corrections.correct_answer(connection, sender, first_message, "safety")


async def test_confirmed_deletion_removes_everything_of_the_conversation_and_nothing_of_another(
    store: DatabaseUrlTrackerStore, engine: Engine
) -> None:
    await fill_two_conversations(store, engine)
    before_deleted, before_kept = rows_of(engine, DELETED), rows_of(engine, KEPT)
    assert all(before_deleted[name] > 0 for name in FILLED_TABLES), before_deleted
    dispatcher, returned = await run_action_in_turn(store, DELETED, ActionDeleteConversation(), "/affirm", "affirm")
    assert [m.get("response") for m in dispatcher.messages] == ["utter_conversation_deleted", None]
    assert dispatcher.messages[1]["custom"] == {"data": {"conversation_deleted": True}}
    assert [event["event"] for event in returned] == ["restart", "followup"]
    assert set(rows_of(engine, DELETED).values()) == {0}
    assert rows_of(engine, KEPT) == before_kept
    stored = everything_stored(engine)
    assert SECRET_WORDS not in stored and DELETED not in stored
    assert KEPT_WORDS in stored


async def test_the_audit_log_keeps_only_that_a_visitor_deleted_a_conversation(
    store: DatabaseUrlTrackerStore, engine: Engine
) -> None:
    await fill_two_conversations(store, engine)
    await run_action_in_turn(store, DELETED, ActionDeleteConversation(), "yes", "affirm", channel="facebook")
    with engine.connect() as connection:
        (entry,) = audit.entries(connection, audit.DELETION)
    assert entry["actor"] == audit.VISITOR and entry["target"] == ""
    assert entry["detail"].startswith("by the visitor (facebook)")
    assert DELETED not in json.dumps(entry) and SECRET_WORDS not in json.dumps(entry)


async def test_after_the_deletion_the_next_message_starts_a_new_conversation(
    store: DatabaseUrlTrackerStore, engine: Engine
) -> None:
    await fill_two_conversations(store, engine)
    await run_action_in_turn(store, DELETED, ActionDeleteConversation(), "yes", "affirm")
    assert await store.retrieve(DELETED) is None
    tracker = await store.get_or_create_tracker(DELETED, append_action_listen=False)
    tracker.update_with_events(visitor_turn("hello", "greet", "utter_greet", "Hello, and welcome.", "socketio"), None)
    await store.save(tracker)
    with engine.connect() as connection:
        texts = [entry.text for entry in build_transcript(conversation_events(connection, DELETED))]
    assert texts == ["hello", "Hello, and welcome."]


async def test_a_failed_deletion_is_told_and_keeps_the_conversation(
    store: DatabaseUrlTrackerStore, engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    await fill_two_conversations(store, engine)
    before = rows_of(engine, DELETED)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'missing' / 'folder' / 'x.db'}")
    dispatcher, returned = await run_action_in_turn(store, DELETED, ActionDeleteConversation(), "yes", "affirm")
    assert [m["response"] for m in dispatcher.messages] == ["utter_conversation_not_deleted"]
    assert returned == []
    after = rows_of(engine, DELETED)
    assert after["events"] > before["events"] and {k: v for k, v in after.items() if k != "events"} == {
        k: v for k, v in before.items() if k != "events"
    }


async def test_on_messenger_the_widget_signal_is_not_sent(store: DatabaseUrlTrackerStore, engine: Engine) -> None:
    await fill_two_conversations(store, engine)
    dispatcher, _ = await run_action_in_turn(store, DELETED, ActionDeleteConversation(), "yes", "affirm", "facebook")
    assert [m.get("response") for m in dispatcher.messages] == ["utter_conversation_deleted"]


async def test_a_copy_goes_only_to_the_booking_email_with_only_this_conversation(
    store: DatabaseUrlTrackerStore, engine: Engine, mail: Any
) -> None:
    await fill_two_conversations(store, engine)
    dispatcher, _ = await run_action_in_turn(store, DELETED, ActionSendTranscript(), "send me a copy", "send_transcript")
    assert dispatcher.messages[0]["response"] == "utter_transcript_sent"
    assert dispatcher.messages[0]["email"] == BOOKING_EMAIL
    (message,) = copies(mail)
    assert message["To"] == BOOKING_EMAIL
    body = message.get_content()
    assert "You: is ketamine safe?" in body and SECRET_WORDS in body
    assert "Assistant: It is given under medical supervision." in body
    assert KEPT_WORDS not in body


async def test_without_a_booking_email_no_copy_is_sent(
    store: DatabaseUrlTrackerStore, engine: Engine, mail: Any
) -> None:
    await hold_conversation(store, "no-booking", "socketio", [("hello", "greet", "utter_greet", "Hello.")])
    dispatcher, _ = await run_action_in_turn(store, "no-booking", ActionSendTranscript(), "send me a copy", "send_transcript")
    assert dispatcher.messages[0]["response"] == "utter_transcript_no_email"
    assert copies(mail) == []


async def test_without_email_set_up_the_visitor_is_told(store: DatabaseUrlTrackerStore, engine: Engine) -> None:
    await fill_two_conversations(store, engine)
    dispatcher, _ = await run_action_in_turn(store, DELETED, ActionSendTranscript(), "send me a copy", "send_transcript")
    assert dispatcher.messages[0]["response"] == "utter_transcript_email_off"


async def test_a_mail_server_that_refuses_is_told_to_the_visitor(
    store: DatabaseUrlTrackerStore, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fill_two_conversations(store, engine)
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(free_port()))
    monkeypatch.setenv("THERAPIST_EMAIL", THERAPIST)
    dispatcher, _ = await run_action_in_turn(store, DELETED, ActionSendTranscript(), "send me a copy", "send_transcript")
    assert dispatcher.messages[0]["response"] == "utter_transcript_failed"


async def test_copies_stop_after_a_few_in_one_session(store: DatabaseUrlTrackerStore, engine: Engine, mail: Any) -> None:
    await fill_two_conversations(store, engine)
    responses = []
    for _ in range(MAX_COPIES_A_SESSION + 1):
        dispatcher, _ = await run_action_in_turn(store, DELETED, ActionSendTranscript(), "send me a copy", "send_transcript")
        responses.append(dispatcher.messages[0]["response"])
    assert responses == ["utter_transcript_sent"] * MAX_COPIES_A_SESSION + ["utter_transcript_limit"]
    assert len(copies(mail)) == MAX_COPIES_A_SESSION


def test_the_copy_shows_pressed_buttons_by_title_and_leaves_out_widget_payloads() -> None:
    from review.queries import StoredEvent

    now = time.time()
    events = [
        StoredEvent(1, "user", now, {"text": "/greet"}),
        StoredEvent(2, "bot", now, {"text": "Shall I send it?", "data": {"buttons": [{"title": "Yes, send it", "payload": "/affirm"}]}}),
        StoredEvent(3, "user", now, {"text": "/affirm"}),
        StoredEvent(4, "slot", now, {"name": "contact", "value": "x"}),
    ]
    lines = copy_lines(build_transcript(events))
    assert [line.split("  ", 1)[1] for line in lines] == ["Assistant: Shall I send it?", "You: Yes, send it"]



@pytest.fixture
def calendar(tmp_path: Path, practice_file: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningCalendar]:
    """A real Radicale calendar the practice books calls into, open every day."""
    server = start_radicale(tmp_path / "radicale")
    for name, value in server.environment().items():
        monkeypatch.setenv(name, value)
    practice_file(consultation=CONSULTATION)
    yield server
    server.stop()


async def book_a_call(make_tracker: Any) -> None:
    """The visitor "visitor-1" books the first free time, as the booking form ends."""
    _, events = await offered_times(make_tracker)
    await book(make_tracker, offered(events)[0])


async def test_a_call_booked_in_the_conversation_is_cancelled_in_the_calendar(
    store: DatabaseUrlTrackerStore, engine: Engine, calendar: RunningCalendar, make_tracker: Any
) -> None:
    await hold_conversation(store, "visitor-1", "socketio", [("book a call", "book_consultation", "x", "Sure.")])
    await book_a_call(make_tracker)
    assert len(calendar.calendar().events()) == 1
    dispatcher, _ = await run_action_in_turn(store, "visitor-1", ActionDeleteConversation(), "yes", "affirm")
    assert dispatcher.messages[0]["response"] == "utter_conversation_deleted"
    assert calendar.calendar().events() == []
    assert set(rows_of(engine, "visitor-1").values()) == {0}


async def test_with_the_calendar_down_nothing_is_deleted_and_the_visitor_is_told(
    store: DatabaseUrlTrackerStore, engine: Engine, calendar: RunningCalendar, make_tracker: Any
) -> None:
    await hold_conversation(store, "visitor-1", "socketio", [("book a call", "book_consultation", "x", "Sure.")])
    await book_a_call(make_tracker)
    calendar.stop()
    dispatcher, returned = await run_action_in_turn(store, "visitor-1", ActionDeleteConversation(), "yes", "affirm")
    assert [m["response"] for m in dispatcher.messages] == ["utter_conversation_not_deleted"] and returned == []
    (booking,) = booking_requests_for(engine, "visitor-1")
    assert booking["calendar_status"] == "booked"
    assert rows_of(engine, "visitor-1")["events"] > 0
