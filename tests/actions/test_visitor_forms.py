"""The booking form and the move/cancel form check a contact the same way and take the browser's time zone."""

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.booking import ValidateBookingForm
from actions.booking_changes import ValidateManageBookingForm

DOMAIN: dict = {}


@pytest.mark.parametrize("typed", ["jo@example", "12", "", "no idea", pytest.param("x" * 400, id="too-long")])
def test_both_forms_refuse_a_contact_with_the_same_message(make_tracker, typed: str) -> None:
    booking, managing = CollectingDispatcher(), CollectingDispatcher()
    booked = ValidateBookingForm().validate_contact(typed, booking, make_tracker(), DOMAIN)
    managed = ValidateManageBookingForm().validate_manage_contact(typed, managing, make_tracker(), DOMAIN)
    assert (booked, managed) == ({"contact": None}, {"manage_contact": None})
    assert managing.messages == booking.messages
    assert booking.messages[0]["response"] == "utter_invalid_contact" and booking.messages[0]["reason"]


@pytest.mark.parametrize(
    ("typed", "kept"),
    [("JO@Example.COM", "JO@example.com"), ("call me on (415) 555-0199 please", "(415) 555-0199")],
)
def test_both_forms_keep_the_contact_found_in_the_answer(make_tracker, typed: str, kept: str) -> None:
    booking, managing = CollectingDispatcher(), CollectingDispatcher()
    assert ValidateBookingForm().validate_contact(typed, booking, make_tracker(), DOMAIN) == {"contact": kept}
    managed = ValidateManageBookingForm().validate_manage_contact(typed, managing, make_tracker(), DOMAIN)
    assert managed == {"manage_contact": kept}
    assert booking.messages == managing.messages == []


@pytest.mark.parametrize("form", [ValidateBookingForm, ValidateManageBookingForm])
async def test_both_forms_take_the_time_zone_the_browser_reports(make_tracker, form) -> None:
    tracker = make_tracker(latest_message={"text": "hi", "metadata": {"time_zone": "Europe/Berlin"}})
    found = await form().extract_visitor_time_zone(CollectingDispatcher(), tracker, DOMAIN)
    assert found == {"visitor_time_zone": "Europe/Berlin"}
