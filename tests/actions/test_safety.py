"""A crisis flags the conversation and emails the therapist a link, never the content."""

import asyncio
import threading
from typing import List

import pytest
from aiosmtpd.controller import Controller
from rasa_sdk.executor import CollectingDispatcher

from actions.safety import ActionDeferMedicalQuestion, ActionFlagCrisis
from tests.servers import free_port


class _Inbox:
    def __init__(self) -> None:
        self.messages: List[str] = []
        self.received = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(envelope.content.decode())
        self.received.set()
        return "250 OK"


@pytest.fixture
def smtp_inbox(monkeypatch: pytest.MonkeyPatch):
    """A real SMTP server on loopback that keeps what it receives."""
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(port))
    monkeypatch.setenv("SMTP_STARTTLS", "false")
    monkeypatch.setenv("THERAPIST_EMAIL", "barbara@example.com")
    monkeypatch.setenv("REVIEW_BASE_URL", "http://review.test")
    yield inbox
    controller.stop()


async def test_a_crisis_sets_the_flag_and_clears_booking_details(make_tracker) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(slots={"visitor_name": "Sam"}, active_loop="booking_form")
    events = await ActionFlagCrisis().run(dispatcher, tracker, {})
    assert events[0]["name"] == "crisis_flag" and events[0]["value"] is True
    assert {"event": "slot", "timestamp": None, "name": "visitor_name", "value": None} in events
    assert dispatcher.messages[0]["response"] == "utter_crisis_follow_up"


async def test_a_crisis_emails_the_therapist_a_link_without_the_message_or_the_conversation_id(
    make_tracker, smtp_inbox
) -> None:
    tracker = make_tracker(latest_message={"text": "I want to end my life", "intent": {"name": "crisis"}})
    await ActionFlagCrisis().run(CollectingDispatcher(), tracker, {})
    await asyncio.get_running_loop().run_in_executor(None, smtp_inbox.received.wait, 10)
    assert len(smtp_inbox.messages) == 1
    email = smtp_inbox.messages[0]
    assert "http://review.test/alerts/" in email
    assert "end my life" not in email
    assert "visitor-1" not in email


async def test_a_medical_question_is_deferred_to_the_prescriber_without_the_crisis_script(make_tracker) -> None:
    dispatcher = CollectingDispatcher()
    message = {"text": "can I drink wine after a session?", "intent": {"name": "medical_question"}, "entities": []}
    await ActionDeferMedicalQuestion().run(dispatcher, make_tracker(latest_message=message), {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_medical_question"]


async def test_a_medical_question_that_mentions_overdose_ends_with_the_gentle_line(make_tracker) -> None:
    dispatcher = CollectingDispatcher()
    message = {
        "text": "what happens if you overdose on ketamine with benzos?",
        "intent": {"name": "medical_question"},
        "entities": [],
        "sensitive_mention": {"phrase": "overdose"},
    }
    await ActionDeferMedicalQuestion().run(dispatcher, make_tracker(latest_message=message), {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_medical_question", "utter_gentle_crisis_line"]
