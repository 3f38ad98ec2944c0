"""The booking form validates answers, handles corrections and stores consented requests."""

from pathlib import Path

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.booking import ActionCancelBooking, ActionSubmitBooking, ValidateBookingForm
from assistant.database import booking_requests_for, dispose_engine, engine_for

DOMAIN: dict = {}


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh SQLite database the actions write to."""
    url = f"sqlite:///{tmp_path / 'bookings.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    yield url
    dispose_engine(url)


def test_an_invalid_email_is_asked_again_with_the_reason(make_tracker) -> None:
    dispatcher = CollectingDispatcher()
    result = ValidateBookingForm().validate_contact("jo@example", dispatcher, make_tracker(), DOMAIN)
    assert result == {"contact": None}
    assert dispatcher.messages[0]["response"] == "utter_invalid_contact"
    assert "incomplete" in dispatcher.messages[0]["reason"]


def test_a_valid_phone_number_is_kept(make_tracker) -> None:
    result = ValidateBookingForm().validate_contact("(415) 555-0199", CollectingDispatcher(), make_tracker(), DOMAIN)
    assert result == {"contact": "(415) 555-0199"}


def test_a_name_is_cleaned(make_tracker) -> None:
    result = ValidateBookingForm().validate_visitor_name("my name is Ana", CollectingDispatcher(), make_tracker(), DOMAIN)
    assert result == {"visitor_name": "Ana"}


def test_refusing_consent_ends_the_form_without_a_confirmation(make_tracker) -> None:
    result = ValidateBookingForm().validate_contact_consent(False, CollectingDispatcher(), make_tracker(), DOMAIN)
    assert result == {"contact_consent": False, "booking_confirmed": False}


def test_changing_a_detail_clears_it_so_the_form_asks_again(make_tracker) -> None:
    result = ValidateBookingForm().validate_booking_field("contact", CollectingDispatcher(), make_tracker(), DOMAIN)
    assert result == {"contact": None, "booking_confirmed": None, "booking_field": None}


def test_a_no_at_the_confirmation_asks_what_to_change(make_tracker) -> None:
    dispatcher = CollectingDispatcher()
    result = ValidateBookingForm().validate_booking_confirmed(False, dispatcher, make_tracker(), DOMAIN)
    assert result == {"booking_confirmed": None}
    assert dispatcher.messages[0]["response"] == "utter_which_field_to_change"


async def test_a_pending_correction_is_validated_before_the_other_slots(make_tracker) -> None:
    tracker = make_tracker(slots={"booking_field": "contact"})
    slots = await ValidateBookingForm().required_slots(["visitor_name"], CollectingDispatcher(), tracker, DOMAIN)
    assert slots == ["booking_field", "visitor_name"]


FILLED = {
    "visitor_name": "Jordan Lee",
    "contact": "jordan@example.com",
    "preferred_times": "weekday mornings",
    "contact_consent": True,
    "booking_confirmed": True,
}


async def test_a_consented_request_is_stored_and_the_form_cleared(make_tracker, database_url) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionSubmitBooking().run(dispatcher, make_tracker(slots=FILLED), DOMAIN)
    rows = booking_requests_for(engine_for(database_url), "visitor-1")
    assert [(r["name"], r["contact"], r["contact_kind"], r["status"]) for r in rows] == [
        ("Jordan Lee", "jordan@example.com", "email", "new")
    ]
    assert dispatcher.messages[0]["response"] == "utter_booking_saved_with_copy"
    assert {"event": "slot", "timestamp": None, "name": "visitor_name", "value": None} in events


async def test_without_consent_nothing_is_stored(make_tracker, database_url) -> None:
    dispatcher = CollectingDispatcher()
    await ActionSubmitBooking().run(dispatcher, make_tracker(slots={**FILLED, "contact_consent": False}), DOMAIN)
    assert booking_requests_for(engine_for(database_url), "visitor-1") == []
    assert dispatcher.messages[0]["response"] == "utter_booking_needs_consent"


async def test_a_database_failure_is_told_to_the_visitor(make_tracker, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")
    dispatcher = CollectingDispatcher()
    events = await ActionSubmitBooking().run(dispatcher, make_tracker(slots=FILLED), DOMAIN)
    assert dispatcher.messages[0]["response"] == "utter_booking_failed"
    assert all(e.get("name") != "booking_request_id" for e in events)


async def test_cancelling_closes_the_form_and_forgets_the_details(make_tracker) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionCancelBooking().run(dispatcher, make_tracker(slots=FILLED, active_loop="booking_form"), DOMAIN)
    assert events[0] == {"event": "active_loop", "timestamp": None, "name": None}
    assert dispatcher.messages[0]["response"] == "utter_booking_cancelled"


def test_a_question_typed_instead_of_a_name_is_answered_and_the_name_asked_again(make_tracker) -> None:
    from tests.actions.conftest import faq_message

    message = {**faq_message("insurance"), "text": "wait, do you take insurance?"}
    dispatcher = CollectingDispatcher()
    result = ValidateBookingForm().validate_visitor_name(
        "wait, do you take insurance?", dispatcher, make_tracker(latest_message=message), DOMAIN
    )
    assert result == {"visitor_name": None}
    assert dispatcher.messages[0]["response"] == "utter_unpublished_insurance"


def test_a_name_the_classifier_took_for_a_question_is_still_a_name(make_tracker) -> None:
    from tests.actions.conftest import faq_message

    message = {**faq_message("cost"), "text": "Jordan Lee"}
    result = ValidateBookingForm().validate_visitor_name(
        "Jordan Lee", CollectingDispatcher(), make_tracker(latest_message=message), DOMAIN
    )
    assert result == {"visitor_name": "Jordan Lee"}


def test_a_medical_question_in_the_form_gets_no_advice_and_the_form_goes_on(make_tracker) -> None:
    message = {"text": "can I keep taking my lexapro?", "intent": {"name": "medical_question"}, "entities": []}
    dispatcher = CollectingDispatcher()
    result = ValidateBookingForm().validate_preferred_times(
        "can I keep taking my lexapro?", dispatcher, make_tracker(latest_message=message), DOMAIN
    )
    assert result == {"preferred_times": None}
    assert dispatcher.messages[0]["response"] == "utter_medical_question"
