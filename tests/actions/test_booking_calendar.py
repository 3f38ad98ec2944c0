"""Booking, moving and cancelling a call in a real Radicale calendar, driving the actions directly.

Each test gets its own Radicale (loopback, temporary folder), its own SQLite
database and a practice profile whose booking hours cover every day, so that the
free times do not depend on when the suite runs.
"""

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import icalendar
import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.booking import ActionSubmitBooking, ValidateBookingForm
from actions.booking_calendar import ActionAskBookingSlot
from actions.booking_changes import ActionFindBooking, ActionManageBooking, ValidateManageBookingForm
from actions.calendar_slots import parse_slot_start
from assistant.database import booking_requests_for, dispose_engine, engine_for
from tests.calendar_server import RunningCalendar, start_radicale
from tests.review.mail import start_mail_server
from tests.servers import free_port

DOMAIN: Dict[str, Any] = {}
EVERY_DAY = {day: ["00:00-23:45"] for day in ("monday", "tuesday", "wednesday", "thursday", "friday",
                                               "saturday", "sunday")}
CONSULTATION = {
    "call_minutes": 15, "time_zone": "UTC", "booking_hours": EVERY_DAY, "minimum_notice_hours": 2,
    "horizon_days": 3, "buffer_minutes": 15, "slots_offered": 3,
    "time_zone_choices": [{"title": "Eastern (US)", "zone": "America/New_York"}],
    "emails": {
        "booked_subject": "Your call with {therapist_name}", "booked": "Hello {first_name}, {call_time}.",
        "moved_subject": "Moved", "moved": "Now {call_time}.",
        "cancelled_subject": "Cancelled", "cancelled": "{call_time} is cancelled.",
    },
}
# Words of a conversation that must never reach the calendar.
HEALTH_WORDS = ("ketamine", "depression", "ptsd", "suicid", "medication", "therapy", "trauma", "anxiety")
CONVERSATION = [
    {"event": "user", "text": "I have PTSD and depression, is ketamine therapy right for me?", "input_channel": "rest"},
]


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[RunningCalendar]:
    """A fresh Radicale with an empty calendar."""
    server = start_radicale(tmp_path / "radicale")
    yield server
    server.stop()


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh SQLite database the actions write to, and the keys alert links need."""
    url = f"sqlite:///{tmp_path / 'bookings.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("CONVERSATION_REFERENCE_KEY", "test-reference-key-for-calendar-tests")
    monkeypatch.setenv("REVIEW_BASE_URL", "https://review.example-practice.com")
    for name in ("SMTP_HOST", "THERAPIST_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    yield url
    dispose_engine(url)


@pytest.fixture
def booking_setup(
    radicale: RunningCalendar, database_url: str, practice_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> RunningCalendar:
    """The calendar connected through the environment, with every-day booking hours."""
    for name, value in radicale.environment().items():
        monkeypatch.setenv(name, value)
    practice_file(consultation=CONSULTATION)
    return radicale


def choose(value: str) -> Dict[str, Any]:
    """The latest message after a time button is pressed."""
    return {"intent": {"name": "choose_slot"}, "entities": [{"entity": "booking_slot", "value": value}],
            "text": f'/choose_slot{{"booking_slot": "{value}"}}'}


async def offered_times(make_tracker: Callable[..., Any], **slots: Any) -> tuple:
    dispatcher = CollectingDispatcher()
    events = await ActionAskBookingSlot().run(
        dispatcher, make_tracker(slots={"visitor_time_zone": "Europe/London", **slots}), DOMAIN
    )
    return dispatcher, events


def offered(events: List[Dict[str, Any]]) -> List[str]:
    return next(e["value"] for e in events if e.get("name") == "offered_slots")


def add_busy(server: RunningCalendar, start: datetime, minutes: int = 30) -> None:
    document = icalendar.Calendar()
    document.add("prodid", "-//tests//")
    document.add("version", "2.0")
    event = icalendar.Event()
    event.add("uid", f"busy-{start.timestamp()}")
    event.add("dtstamp", datetime.now(timezone.utc))
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(minutes=minutes))
    event.add("summary", "Session")
    document.add_component(event)
    server.calendar().save_event(document.to_ical().decode())


def filled(chosen: str, text: str = "Monday 1 December at 5:00 PM (London time)") -> Dict[str, Any]:
    return {
        "visitor_name": "Jordan Lee", "contact": "jordan@example.com", "contact_consent": True,
        "booking_confirmed": True, "visitor_time_zone": "Europe/London",
        "booking_slot": chosen, "booking_slot_text": text,
    }


async def book(make_tracker: Callable[..., Any], chosen: str) -> CollectingDispatcher:
    dispatcher = CollectingDispatcher()
    await ActionSubmitBooking().run(dispatcher, make_tracker(slots=filled(chosen), events=CONVERSATION), DOMAIN)
    return dispatcher


async def test_offered_times_are_buttons_in_the_visitors_zone_and_avoid_busy_events(
    booking_setup: RunningCalendar, make_tracker: Callable[..., Any]
) -> None:
    _, first_events = await offered_times(make_tracker)
    first = parse_slot_start(offered(first_events)[0])
    add_busy(booking_setup, first)
    dispatcher, events = await offered_times(make_tracker)
    message = dispatcher.messages[0]
    assert message["response"] == "utter_ask_booking_slot" and message["zone_name"] == "London"
    times = [parse_slot_start(value) for value in offered(events)]
    assert all(abs(t - first) >= timedelta(minutes=45) for t in times)
    titles = [button["title"] for button in message["buttons"]]
    assert titles[-2:] == ["Other times", "None of these"]
    assert len(message["buttons"]) <= 13 and all(len(title) <= 20 for title in titles)


async def test_other_times_show_the_next_free_ones(
    booking_setup: RunningCalendar, make_tracker: Callable[..., Any]
) -> None:
    _, events = await offered_times(make_tracker)
    first = offered(events)
    more = ValidateBookingForm()
    result = await more.validate_booking_slot(
        "more", CollectingDispatcher(), make_tracker(slots={"offered_slots": first}, latest_message=choose("more")),
        DOMAIN,
    )
    assert result == {"booking_slot": None, "slot_offer_after": first[-1]}
    _, next_events = await offered_times(make_tracker, slot_offer_after=first[-1])
    assert min(parse_slot_start(v) for v in offered(next_events)) > parse_slot_start(first[-1])


async def test_a_time_taken_between_offer_and_choice_is_said_and_the_next_ones_offered(
    booking_setup: RunningCalendar, make_tracker: Callable[..., Any]
) -> None:
    _, events = await offered_times(make_tracker)
    chosen = offered(events)[0]
    add_busy(booking_setup, parse_slot_start(chosen), minutes=15)  # the therapist fills it meanwhile
    dispatcher = CollectingDispatcher()
    result = await ValidateBookingForm().validate_booking_slot(
        chosen, dispatcher, make_tracker(slots={"offered_slots": offered(events)}, latest_message=choose(chosen)),
        DOMAIN,
    )
    assert result == {"booking_slot": None, "slot_offer_after": None}
    assert dispatcher.messages[0]["response"] == "utter_slot_just_taken"
    _, again = await offered_times(make_tracker)
    assert chosen not in offered(again)


async def test_a_chosen_time_is_booked_and_the_event_holds_no_health_words(
    booking_setup: RunningCalendar, make_tracker: Callable[..., Any], database_url: str
) -> None:
    _, events = await offered_times(make_tracker)
    chosen = offered(events)[1]
    checked = await ValidateBookingForm().validate_booking_slot(
        chosen, CollectingDispatcher(), make_tracker(latest_message=choose(chosen)), DOMAIN
    )
    assert checked["booking_slot"] == chosen
    dispatcher = await book(make_tracker, chosen)
    assert dispatcher.messages[0]["response"] == "utter_call_booked"
    row = booking_requests_for(engine_for(database_url), "visitor-1")[0]
    assert row["calendar_status"] == "booked" and row["calendar_event_url"].startswith(booking_setup.calendar_url)
    [event] = booking_setup.calendar().events()
    component = event.icalendar_component
    assert component.decoded("dtstart") == parse_slot_start(chosen)
    text = f"{component.get('summary')} {component.get('description')}"
    assert str(component.get("summary")) == "Consultation call: Jordan"
    assert "jordan@example.com" in text and f"/bookings/{row['id']}" in text
    assert "Lee" not in text
    assert not [word for word in HEALTH_WORDS if word in text.lower()]


async def test_two_visitors_choosing_the_same_time_get_one_booking_and_one_saved_request(
    booking_setup: RunningCalendar, make_tracker: Callable[..., Any], database_url: str
) -> None:
    _, events = await offered_times(make_tracker)
    chosen = offered(events)[0]
    first, second = await book(make_tracker, chosen), await book(make_tracker, chosen)
    assert first.messages[0]["response"] == "utter_call_booked"
    assert second.messages[0]["response"] == "utter_call_taken_request_saved"
    rows = booking_requests_for(engine_for(database_url), "visitor-1")
    assert [r["calendar_status"] for r in rows] == ["booked", None]
    assert "taken" in rows[1]["calendar_fallback"] and rows[1]["preferred_times"]
    assert len(booking_setup.calendar().events()) == 1


async def test_the_calendar_going_down_mid_booking_keeps_the_request_and_the_reason(
    booking_setup: RunningCalendar, make_tracker: Callable[..., Any], database_url: str
) -> None:
    _, events = await offered_times(make_tracker)
    chosen = offered(events)[0]
    booking_setup.stop()
    dispatcher = await book(make_tracker, chosen)
    assert dispatcher.messages[0]["response"] == "utter_call_not_booked_request_saved"
    [row] = booking_requests_for(engine_for(database_url), "visitor-1")
    assert row["preferred_times"] == filled(chosen)["booking_slot_text"]
    assert row["name"] == "Jordan Lee" and row["contact"] == "jordan@example.com"
    assert row["calendar_status"] is None and "booking failed" in row["calendar_fallback"]


async def test_a_calendar_that_is_down_when_times_are_offered_turns_the_form_into_a_request(
    booking_setup: RunningCalendar, make_tracker: Callable[..., Any]
) -> None:
    booking_setup.stop()
    dispatcher, events = await offered_times(make_tracker)
    assert [m["response"] for m in dispatcher.messages] == ["utter_calendar_unreachable", "utter_ask_preferred_times"]
    assert {"event": "slot", "timestamp": None, "name": "requested_slot", "value": "preferred_times"} in events
    fallback = next(e["value"] for e in events if e.get("name") == "calendar_fallback")
    tracker = make_tracker(slots={"calendar_fallback": fallback})
    slots = await ValidateBookingForm().required_slots(
        ["visitor_name", "contact", "visitor_time_zone", "booking_slot", "preferred_times"],
        CollectingDispatcher(), tracker, DOMAIN,
    )
    assert slots == ["visitor_name", "contact", "preferred_times"]


async def test_without_a_calendar_the_form_is_unchanged_and_the_request_says_why(
    database_url: str, make_tracker: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CALDAV_URL", raising=False)
    slots = await ValidateBookingForm().required_slots(
        ["visitor_name", "contact", "visitor_time_zone", "booking_slot", "preferred_times", "contact_consent"],
        CollectingDispatcher(), make_tracker(), DOMAIN,
    )
    assert slots == ["visitor_name", "contact", "preferred_times", "contact_consent"]
    request = {"visitor_name": "Ana", "contact": "555-123-4567", "preferred_times": "mornings",
               "contact_consent": True, "booking_confirmed": True}
    dispatcher = CollectingDispatcher()
    await ActionSubmitBooking().run(dispatcher, make_tracker(slots=request), DOMAIN)
    [row] = booking_requests_for(engine_for(database_url), "visitor-1")
    assert row["preferred_times"] == "mornings" and "CALDAV_URL" in row["calendar_fallback"]


async def test_the_widget_reported_time_zone_is_used_without_asking(
    booking_setup: RunningCalendar, make_tracker: Callable[..., Any]
) -> None:
    message = {"intent": {"name": "inform"}, "entities": [], "text": "jo@example.com",
               "metadata": {"time_zone": "Asia/Tokyo"}}
    found = await ValidateBookingForm().extract_visitor_time_zone(
        CollectingDispatcher(), make_tracker(latest_message=message), DOMAIN
    )
    assert found == {"visitor_time_zone": "Asia/Tokyo"}


async def test_a_booked_call_is_moved_to_a_new_time_in_the_same_conversation(
    booking_setup: RunningCalendar, make_tracker: Callable[..., Any], database_url: str
) -> None:
    _, events = await offered_times(make_tracker)
    old, new = offered(events)[0], offered(events)[2]
    await book(make_tracker, old)
    found = await ActionFindBooking().run(
        CollectingDispatcher(), make_tracker(latest_message={"intent": {"name": "reschedule_booking"}, "entities": []}),
        DOMAIN,
    )
    slots = {e["name"]: e["value"] for e in found if e.get("event") == "slot"}
    assert slots["manage_action"] == "reschedule" and slots["manage_booking_id"] is not None
    form_slots = await ValidateManageBookingForm().required_slots(
        ["manage_contact", "manage_name", "manage_confirmed", "visitor_time_zone", "booking_slot"],
        CollectingDispatcher(), make_tracker(slots=slots), DOMAIN,
    )
    assert form_slots == ["manage_confirmed", "visitor_time_zone", "booking_slot"]
    dispatcher = CollectingDispatcher()
    await ActionManageBooking().run(dispatcher, make_tracker(slots={
        **slots, "manage_confirmed": True, "visitor_time_zone": "Europe/London",
        "booking_slot": new, "booking_slot_text": "the new time",
    }), DOMAIN)
    assert dispatcher.messages[0]["response"] == "utter_call_moved"
    [event] = booking_setup.calendar().events()
    assert event.icalendar_component.decoded("dtstart") == parse_slot_start(new)
    [row] = booking_requests_for(engine_for(database_url), "visitor-1")
    assert row["calendar_status"] == "moved" and row["preferred_times"] == "the new time"


async def test_a_call_is_found_by_contact_and_name_and_cancelled(
    booking_setup: RunningCalendar, make_tracker: Callable[..., Any], database_url: str
) -> None:
    _, events = await offered_times(make_tracker)
    await book(make_tracker, offered(events)[0])
    form = ValidateManageBookingForm()
    wrong = await form.validate_manage_name("Someone", CollectingDispatcher(), make_tracker(
        slots={"manage_contact": "JORDAN@example.com"}), DOMAIN)
    assert wrong == {"manage_name": "Someone", "manage_confirmed": False}
    right = await form.validate_manage_name("Jordan", CollectingDispatcher(), make_tracker(
        slots={"manage_contact": "JORDAN@example.com"}), DOMAIN)
    assert right["manage_booking_id"] is not None
    dispatcher = CollectingDispatcher()
    await ActionManageBooking().run(dispatcher, make_tracker(slots={
        "manage_action": "cancel", "manage_booking_id": right["manage_booking_id"], "manage_confirmed": True,
    }), DOMAIN)
    assert dispatcher.messages[0]["response"] == "utter_call_cancelled"
    assert booking_setup.calendar().events() == []
    [row] = booking_requests_for(engine_for(database_url), "visitor-1")
    assert row["calendar_status"] == "cancelled"


async def test_a_cancel_while_the_calendar_is_down_is_kept_for_the_therapist(
    booking_setup: RunningCalendar, make_tracker: Callable[..., Any], database_url: str
) -> None:
    _, events = await offered_times(make_tracker)
    await book(make_tracker, offered(events)[0])
    [row] = booking_requests_for(engine_for(database_url), "visitor-1")
    booking_setup.stop()
    dispatcher = CollectingDispatcher()
    await ActionManageBooking().run(dispatcher, make_tracker(slots={
        "manage_action": "cancel", "manage_booking_id": float(row["id"]), "manage_confirmed": True,
    }), DOMAIN)
    assert dispatcher.messages[0]["response"] == "utter_call_change_failed"
    [row] = booking_requests_for(engine_for(database_url), "visitor-1")
    assert row["calendar_status"] == "booked" and "asked to cancel" in row["calendar_fallback"]


async def test_the_visitor_gets_an_email_with_the_call_as_an_ics_file(
    booking_setup: RunningCalendar, make_tracker: Callable[..., Any], database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    controller, recorder, port = start_mail_server(free_port())
    try:
        monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("SMTP_PORT", str(port))
        monkeypatch.setenv("SMTP_STARTTLS", "false")
        monkeypatch.setenv("THERAPIST_EMAIL", "barbara@example-practice.com")
        _, events = await offered_times(make_tracker)
        chosen = offered(events)[0]
        dispatcher = await book(make_tracker, chosen)
        assert "emailed" in dispatcher.messages[0]["email_note"]
        deadline = time.monotonic() + 30
        mails: list = []
        while time.monotonic() < deadline:
            mails = [m for m in recorder.received() if m["To"] == "jordan@example.com"]
            if mails:
                break
            time.sleep(0.2)
        [mail] = mails
        [attachment] = list(mail.iter_attachments())
        assert attachment.get_content_type() == "text/calendar"
        invite = icalendar.Calendar.from_ical(attachment.get_content())
        [event] = invite.walk("VEVENT")
        assert event.decoded("dtstart") == parse_slot_start(chosen)
        assert str(invite.get("method")) == "PUBLISH"
        body = mail.get_body(("plain",)).get_content()
        assert "Hello Jordan" in body
    finally:
        controller.stop()
