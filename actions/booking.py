"""The booking form for the free consultation call: validation, submission, cancelling."""

import asyncio
import logging
from typing import Any, Dict, List

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.alerts import alert_therapist_in_background
from actions.booking_details import (
    InvalidDetail,
    clean_name,
    clean_times,
    looks_like_question,
    parse_contact,
)
from actions.faq import send_faq_answer
from actions.practice_text import response_values
from assistant import settings
from assistant.database import engine_for, save_booking_request

logger = logging.getLogger(__name__)

FORM_NAME = "booking_form"
CORRECTABLE_SLOTS = ("visitor_name", "contact", "preferred_times")
# Questions the form answers in passing, before asking its question again.
PASSING_QUESTION_RESPONSES = {
    "medical_question": "utter_medical_question",
    "bot_challenge": "utter_bot_challenge",
    "human_handoff": "utter_human_handoff",
}
FORM_SLOTS = (*CORRECTABLE_SLOTS, "contact_consent", "booking_confirmed", "booking_field")


def _refuse(
    dispatcher: CollectingDispatcher, slot: str, error: InvalidDetail, tracker: Tracker
) -> Dict[str, Any]:
    """Says why an answer was refused; the form then asks for it again."""
    dispatcher.utter_message(
        response=f"utter_invalid_{slot}",
        reason=str(error),
        **response_values(settings.practice_profile()),
    )
    return {slot: None}


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


class ValidateBookingForm(FormValidationAction):
    """Checks each answer of the booking form and handles corrections."""

    def name(self) -> str:
        """The name Rasa calls this action by."""
        return "validate_booking_form"

    async def required_slots(
        self,
        domain_slots: List[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> List[str]:
        """Adds `booking_field` while a correction is pending, so it gets validated."""
        if tracker.get_slot("booking_field"):
            return ["booking_field", *domain_slots]
        return domain_slots

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
            return _refuse(dispatcher, "visitor_name", error, tracker)

    def validate_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        """Keeps an email address or phone number found in the answer."""
        answered = answer_question_in_passing(dispatcher, tracker, "contact")
        if answered is not None:
            return answered
        try:
            contact = parse_contact(str(value or ""))
        except InvalidDetail as error:
            return _refuse(dispatcher, "contact", error, tracker)
        return {"contact": contact.value}

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
            return _refuse(dispatcher, "preferred_times", error, tracker)

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
    return {
        "conversation_id": tracker.sender_id,
        "name": tracker.get_slot("visitor_name"),
        "contact": contact.value,
        "contact_kind": contact.kind,
        "preferred_times": tracker.get_slot("preferred_times"),
        "consent": True,
        "channel": tracker.get_latest_input_channel(),
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
        request_id = await self._save(booking_request_from(tracker))
        if request_id is None:
            dispatcher.utter_message(response="utter_booking_failed", **values)
            return reset
        alert_therapist_in_background("New request for a consultation call", tracker.sender_id)
        dispatcher.utter_message(response="utter_booking_saved", **values)
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
