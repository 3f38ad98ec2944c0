"""The booking form for the free consultation call: validation, submission, cancelling.

With a calendar connected (`CALDAV_URL`), the form asks for the visitor's time zone
(unless the chat widget reported it) and offers free times instead of asking which
times suit; `actions.booking_calendar` does the calendar part and falls back to the
plain request whenever the calendar can't be used.
"""

import asyncio
import logging
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.alerts import alert_therapist_in_background
from actions.booking_calendar import (
    book_chosen_time,
    calendar_unused_reason,
    check_chosen_time,
    check_time_zone,
)
from actions.booking_details import (
    InvalidDetail,
    clean_name,
    clean_times,
    looks_like_question,
    parse_contact,
)
from actions.booking_emails import wants_email
from actions.faq import send_faq_answer
from actions.practice_text import response_values
from actions.visitor_forms import VisitorDetailsForm, contact_answer, refuse_answer
from assistant import settings
from assistant.database import engine_for, save_booking_request

logger = logging.getLogger(__name__)

FORM_NAME = "booking_form"
CORRECTABLE_SLOTS = ("visitor_name", "contact", "preferred_times", "booking_slot")
# The calendar steps that replace "which times suit you" while a calendar is in use.
CALENDAR_STEPS = ("visitor_time_zone", "booking_slot")
CALENDAR_FORM_SLOTS = ("booking_slot", "booking_slot_text", "offered_slots", "slot_offer_after", "calendar_fallback")
# Questions the form answers in passing, before asking its question again.
PASSING_QUESTION_RESPONSES = {
    "medical_question": "utter_medical_question",
    "bot_challenge": "utter_bot_challenge",
    "human_handoff": "utter_human_handoff",
}
# The visitor's time zone is not among them: it is asked once a conversation.
FORM_SLOTS = (
    "visitor_name", "contact", "preferred_times", "contact_consent", "booking_confirmed", "booking_field",
    *CALENDAR_FORM_SLOTS,
)


def answer_question_in_passing(
    dispatcher: CollectingDispatcher, tracker: Tracker, slot: str
) -> Dict[str, Any] | None:
    """Answers a question typed where the form expected a name, contact or times.

    Free-text slots take whatever the visitor types, so a question asked in the
    middle of the form arrives here rather than at the rules. A message that reads
    like a question and was understood as one is answered, and the slot stays empty
    so that the form asks again. Anything else (a name like "Will Smith") is None.
    """
    message = tracker.latest_message or {}
    intent = (message.get("intent") or {}).get("name")
    if not looks_like_question(message.get("text") or ""):
        return None
    if intent == "faq" and send_faq_answer(dispatcher, tracker):
        return {slot: None}
    if intent in PASSING_QUESTION_RESPONSES:
        dispatcher.utter_message(
            response=PASSING_QUESTION_RESPONSES[intent],
            **response_values(settings.practice_profile()),
        )
        return {slot: None}
    return None


class ValidateBookingForm(VisitorDetailsForm):
    """Checks each answer of the booking form and handles corrections."""

    def name(self) -> str:
        """The name Rasa calls this action by."""
        return "validate_booking_form"

    def slots_to_ask(self, domain_slots: List[str], tracker: Tracker) -> List[str]:
        """The calendar steps or "which times suit you", and `booking_field` while a correction is pending.

        The calendar steps stand in for the times question while a calendar is
        connected and has not failed in this booking (`calendar_fallback`).
        """
        use_calendar = calendar_unused_reason() is None and not tracker.get_slot("calendar_fallback")
        skipped = ("preferred_times",) if use_calendar else CALENDAR_STEPS
        slots = [slot for slot in domain_slots if slot not in skipped]
        if tracker.get_slot("booking_field"):
            return ["booking_field", *slots]
        return slots

    def validate_visitor_time_zone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        """Keeps a time zone given by a button, the browser, a zone name or a city."""
        answered = answer_question_in_passing(dispatcher, tracker, "visitor_time_zone")
        if answered is not None:
            return answered
        return check_time_zone(dispatcher, tracker, value)

    async def validate_booking_slot(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        """Keeps a chosen time that is still free; pages on "Other times"; typed times become a request."""
        answered = answer_question_in_passing(dispatcher, tracker, "booking_slot")
        if answered is not None:
            return answered
        return await check_chosen_time(dispatcher, tracker, in_booking_form=True)

    def validate_visitor_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        """Keeps a plausible name; refuses empty, very long or contact-like text."""
        answered = answer_question_in_passing(dispatcher, tracker, "visitor_name")
        if answered is not None:
            return answered
        try:
            return {"visitor_name": clean_name(str(value or ""))}
        except InvalidDetail as error:
            return refuse_answer(dispatcher, "visitor_name", error)

    def validate_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        """Keeps an email address or phone number found in the answer."""
        answered = answer_question_in_passing(dispatcher, tracker, "contact")
        if answered is not None:
            return answered
        return contact_answer(dispatcher, "contact", value)

    def validate_preferred_times(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        """Keeps the times as the visitor wrote them, within a sane length."""
        answered = answer_question_in_passing(dispatcher, tracker, "preferred_times")
        if answered is not None:
            return answered
        try:
            return {"preferred_times": clean_times(str(value or ""))}
        except InvalidDetail as error:
            return refuse_answer(dispatcher, "preferred_times", error)

    def validate_contact_consent(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        """Without consent there is nothing to confirm: the form ends and stores nothing."""
        if value is False:
            return {"contact_consent": False, "booking_confirmed": False}
        return {"contact_consent": value}

    def validate_booking_field(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        """Clears the detail the visitor wants to change, so the form asks it again."""
        if value == "booking_slot" or (value == "preferred_times" and tracker.get_slot("booking_slot")):
            return {
                "booking_slot": None, "booking_slot_text": None, "slot_offer_after": None,
                "booking_confirmed": None, "booking_field": None,
            }
        if value in CORRECTABLE_SLOTS:
            return {value: None, "booking_confirmed": None, "booking_field": None}
        return {"booking_field": None}

    def validate_booking_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        """A yes completes the form; a no asks which detail to change."""
        if value is True:
            return {"booking_confirmed": True}
        if tracker.get_slot("booking_field") not in CORRECTABLE_SLOTS:
            dispatcher.utter_message(response="utter_which_field_to_change")
        return {"booking_confirmed": None}


def booking_request_from(tracker: Tracker) -> Dict[str, Any]:
    """The row to store for a completed form."""
    contact = parse_contact(tracker.get_slot("contact") or "")
    chosen_time = tracker.get_slot("booking_slot_text") if tracker.get_slot("booking_slot") else None
    return {
        "conversation_id": tracker.sender_id,
        "name": tracker.get_slot("visitor_name"),
        "contact": contact.value,
        "contact_kind": contact.kind,
        # A chosen time is kept here too, so a booking that falls back loses nothing.
        "preferred_times": chosen_time or tracker.get_slot("preferred_times"),
        "consent": True,
        "channel": tracker.get_latest_input_channel(),
        "visitor_time_zone": tracker.get_slot("visitor_time_zone"),
        "calendar_fallback": None if chosen_time else (
            tracker.get_slot("calendar_fallback") or calendar_unused_reason()
        ),
    }


class ActionSubmitBooking(Action):
    """Stores the completed request and tells the therapist, if the visitor consented."""

    def name(self) -> str:
        """The name Rasa calls this action by."""
        return "action_submit_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """Saves the request (or says why not) and clears the form for next time."""
        values = response_values(settings.practice_profile())
        reset = [SlotSet(slot, None) for slot in FORM_SLOTS]
        if tracker.get_slot("contact_consent") is not True:
            dispatcher.utter_message(response="utter_booking_needs_consent", **values)
            return reset
        request = booking_request_from(tracker)
        request_id = await self._save(request)
        if request_id is None:
            dispatcher.utter_message(response="utter_booking_failed", **values)
            return reset
        # With an email address the visitor can have a copy of the conversation (actions.visitor_rights).
        saved = "utter_booking_saved_with_copy" if request["contact_kind"] == "email" else "utter_booking_saved"
        if tracker.get_slot("booking_slot"):
            # Booked into the calendar, or (on any calendar failure) kept as a request.
            saved = await book_chosen_time(tracker, request_id, request)
        booked = saved == "utter_call_booked"
        subject = "New consultation call booked" if booked else "New request for a consultation call"
        alert_therapist_in_background(subject, tracker.sender_id)
        emailed = booked and wants_email(request)
        email_note = " I've also emailed you the details with a calendar file." if emailed else ""
        dispatcher.utter_message(response=saved, email_note=email_note, **values)
        return [SlotSet("booking_request_id", request_id), *reset]

    @staticmethod
    async def _save(request: Dict[str, Any]) -> int | None:
        """Stores the request off the event loop; None when the database failed."""

        def store() -> int:
            return save_booking_request(engine_for(settings.database_url()), request)

        try:
            return await asyncio.get_running_loop().run_in_executor(None, store)
        except Exception:  # noqa: BLE001 - any database failure must reach the visitor
            logger.exception("Could not store the booking request")
            return None


class ActionCancelBooking(Action):
    """Stops the booking form when the visitor says "never mind"."""

    def name(self) -> str:
        """The name Rasa calls this action by."""
        return "action_cancel_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """Closes the form and forgets what it had collected."""
        dispatcher.utter_message(response="utter_booking_cancelled")
        return [ActiveLoop(None), SlotSet("requested_slot", None)] + [
            SlotSet(slot, None) for slot in FORM_SLOTS
        ]
