"""Booking, crisis and cancelling a call with the real servers, the trained model and a real Radicale.

Uses `models/assistant.tar.gz`: it must have been trained with the calendar intents
(`data/nlu/booking_calendar.yml`) and the calendar parts of `domain.yml`. The practice
profile books every day of the week, so the offered times do not depend on when the
suite runs; the widget's reported time zone travels as REST message metadata.
"""

from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import requests
import yaml

from assistant import settings
from assistant.database import booking_requests_for, engine_for
from tests.calendar_server import RunningCalendar, start_radicale
from tests.servers import RunningAssistant, start_assistant, stop_assistant

EVERY_DAY = {day: ["00:00-23:45"] for day in ("monday", "tuesday", "wednesday", "thursday", "friday",
                                               "saturday", "sunday")}
BROWSER_ZONE = {"time_zone": "Europe/London"}


@pytest.fixture(scope="module")
def calendar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCalendar]:
    """Radicale on loopback with an empty calendar."""
    server = start_radicale(Path(tmp_path_factory.mktemp("radicale")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def booking_assistant(tmp_path_factory: pytest.TempPathFactory, calendar: RunningCalendar) -> Iterator[RunningAssistant]:
    """Both servers, with the calendar connected and every-day booking hours."""
    workdir = Path(tmp_path_factory.mktemp("calendar_e2e"))
    profile = yaml.safe_load(settings.DEFAULT_PROFILE_PATH.read_text())
    profile["consultation"] = {**profile["consultation"], "time_zone": "UTC", "booking_hours": EVERY_DAY,
                               "minimum_notice_hours": 2, "horizon_days": 3}
    (workdir / "practice.yml").write_text(yaml.safe_dump(profile))
    assistant = start_assistant(workdir, f"sqlite:///{workdir / 'assistant.db'}", extra_env={
        **calendar.environment(), "PRACTICE_PROFILE": str(workdir / "practice.yml"),
    })
    yield assistant
    stop_assistant(assistant)


def say(assistant: RunningAssistant, sender: str, message: str) -> List[Dict[str, Any]]:
    """One message over REST, with the time zone a browser reports."""
    response = requests.post(f"{assistant.rasa_url}/webhooks/rest/webhook",
                             json={"sender": sender, "message": message, "metadata": BROWSER_ZONE}, timeout=60)
    response.raise_for_status()
    return response.json()


def text(replies: List[Dict[str, Any]]) -> str:
    return "\n".join(reply.get("text", "") for reply in replies)


def slot_payloads(replies: List[Dict[str, Any]]) -> List[str]:
    return [b["payload"] for r in replies for b in r.get("buttons") or [] if '"booking_slot": "20' in b["payload"]]


def start_booking(assistant: RunningAssistant, sender: str) -> List[Dict[str, Any]]:
    say(assistant, sender, "hello")
    say(assistant, sender, "I'd like to book the free call")
    say(assistant, sender, "Jordan")
    return say(assistant, sender, "jordan@example.com")


def test_a_visitor_books_a_free_time_and_it_is_in_the_calendar(
    booking_assistant: RunningAssistant, calendar: RunningCalendar
) -> None:
    sender = booking_assistant.new_sender()
    offered = start_booking(booking_assistant, sender)
    assert "London time" in text(offered)
    payloads = slot_payloads(offered)
    assert payloads
    say(booking_assistant, sender, payloads[0])
    say(booking_assistant, sender, "/affirm")
    booked = text(say(booking_assistant, sender, "/affirm"))
    assert "You're booked" in booked
    [event] = calendar.calendar().events()
    assert str(event.icalendar_component.get("summary")) == "Consultation call: Jordan"
    [row] = booking_requests_for(engine_for(booking_assistant.database_url), sender)
    assert row["calendar_status"] == "booked"

    cancelled = say(booking_assistant, sender, "cancel my call")
    assert "Shall I cancel it?" in text(cancelled)
    assert "is cancelled" in text(say(booking_assistant, sender, "/affirm"))
    assert calendar.calendar().events() == []


def test_a_crisis_while_times_are_offered_gets_the_crisis_resources_first(
    booking_assistant: RunningAssistant,
) -> None:
    sender = booking_assistant.new_sender()
    assert slot_payloads(start_booking(booking_assistant, sender))
    replies = say(booking_assistant, sender, "I want to kill myself")
    assert "988" in replies[0]["text"]
