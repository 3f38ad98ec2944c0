"""A crisis flags the conversation and emails the therapist a link, never the content."""

import asyncio
import threading
from typing import List

import pytest
from aiosmtpd.controller import Controller
from rasa_sdk.executor import CollectingDispatcher

from actions.safety import ActionFlagCrisis
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


async def test_a_crisis_emails_the_therapist_a_link_without_the_message(make_tracker, smtp_inbox) -> None:
    tracker = make_tracker(latest_message={"text": "I want to end my life", "intent": {"name": "crisis"}})
    await ActionFlagCrisis().run(CollectingDispatcher(), tracker, {})
    await asyncio.get_running_loop().run_in_executor(None, smtp_inbox.received.wait, 10)
    assert len(smtp_inbox.messages) == 1
    email = smtp_inbox.messages[0]
    assert "http://review.test/conversations/visitor-1" in email
    assert "end my life" not in email
