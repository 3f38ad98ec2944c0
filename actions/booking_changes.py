"""Moving or cancelling a booked call from the chat ("I need to change my time", "cancel my call").

The call is found in the same conversation, or else by the contact and the name it
was booked with (both must match, so that an email address alone does not reveal
or cancel someone's call); the visitor then confirms. A move books the new time
first (with the same "just taken" check as a booking) and only then deletes the old
event. When the calendar can't be reached nothing changes in it, the therapist is
alerted, and the visitor's wish is stored on the booking for the review app.
"""

import logging
import re
from datetime import datetime, timezone
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.alerts import alert_therapist_in_background
from actions.booking_calendar import (
    CalendarNotUsed,
    calendar_unused_reason,
    check_chosen_time,
    check_time_zone,
    create_call,
    delete_call,
    in_thread,
    parse_slot_start,
    record,
)
from actions.booking_details import InvalidDetail, clean_name
from actions.booking_emails import send_call_email_in_background, wants_email
from actions.calendar_client import CalendarUnavailable, SlotTaken
from actions.calendar_slots import known_time_zone, slot_description
from actions.practice_text import response_values
from actions.visitor_forms import VisitorDetailsForm, contact_answer
from assistant import settings
from assistant.database import booking_request, engine_for, upcoming_booked_calls

logger = logging.getLogger(__name__)

FORM_NAME = "manage_booking_form"
RESCHEDULE, CANCEL = "reschedule", "cancel"
INTENT_ACTIONS = {"reschedule_booking": RESCHEDULE, "cancel_booking": CANCEL}
MANAGE_SLOTS = ("manage_action", "manage_booking_id", "manage_contact", "manage_name", "manage_confirmed",
                "booking_slot", "booking_slot_text", "offered_slots", "slot_offer_after", "calendar_fallback")
EMAIL_NOTE = " I've emailed you the update too."


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text or "")


def same_contact(stored: str, kind: str, given: str) -> bool:
    """Emails compare without case; phone numbers by their digits, however written."""
    if kind == "email":
        return stored.lower() == given.lower()
    return bool(_digits(stored)) and _digits(stored) == _digits(given)


def call_of_conversation(conversation_id: str) -> Dict[str, Any] | None:
    """The newest upcoming booked call of this conversation."""
    engine = engine_for(settings.database_url())
    calls = upcoming_booked_calls(engine, datetime.now(timezone.utc))
    return next((call for call in calls if call["conversation_id"] == conversation_id), None)


def call_by_contact(contact: str, name: str) -> Dict[str, Any] | None:
    """The newest upcoming booked call with this contact and first name."""
    engine = engine_for(settings.database_url())
    wanted_name = (name.split() or [""])[0].lower()
    for call in upcoming_booked_calls(engine, datetime.now(timezone.utc)):
        booked_name = (call["name"].split() or [""])[0].lower()
        if booked_name == wanted_name and same_contact(call["contact"], call["contact_kind"], contact):
            return call
    return None


def call_time(call: Dict[str, Any]) -> str:
    """When the call is, in the visitor's time zone."""
    zone = known_time_zone(call.get("visitor_time_zone")) or "UTC"
    return slot_description(_aware(call["slot_start"]), zone)


class ActionFindBooking(Action):
    """Starts a move or a cancellation: finds the call of this conversation, if it has one."""

    def name(self) -> str:
        """The name Rasa calls this action by."""
        return "action_find_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Sets what to do and, when this conversation booked a call, which one."""
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        reset = [SlotSet(slot, None) for slot in MANAGE_SLOTS]
        if calendar_unused_reason() is not None:
            dispatcher.utter_message(response="utter_call_changes_by_contact",
                                     **response_values(settings.practice_profile()))
            return [*reset, SlotSet("manage_confirmed", False)]
        try:
            call = await in_thread(call_of_conversation, tracker.sender_id)
        except Exception:  # noqa: BLE001 - a database failure is told, not raised
            logger.exception("Could not look up the booked call")
            call = None
        events = [*reset, SlotSet("manage_action", INTENT_ACTIONS.get(intent, RESCHEDULE))]
        if call is not None:
            events.append(SlotSet("manage_booking_id", float(call["id"])))
            if not tracker.get_slot("visitor_time_zone") and call.get("visitor_time_zone"):
                events.append(SlotSet("visitor_time_zone", call["visitor_time_zone"]))
        return events


class ValidateManageBookingForm(VisitorDetailsForm):
    """Checks the answers of the form that moves or cancels a call."""

    def name(self) -> str:
        """The name Rasa calls this action by."""
        return "validate_manage_booking_form"

    def slots_to_ask(self, domain_slots: List[str], tracker: Tracker) -> List[str]:
        """Skips the contact when the call is known, and the new time when cancelling or declined."""
        if tracker.get_slot("manage_confirmed") is False or tracker.get_slot("manage_action") is None:
            return ["manage_confirmed"]
        slots = list(domain_slots)
        if tracker.get_slot("manage_booking_id") is not None:
            slots = [s for s in slots if s not in ("manage_contact", "manage_name")]
        if tracker.get_slot("manage_action") == CANCEL:
            slots = [s for s in slots if s not in ("visitor_time_zone", "booking_slot")]
        return slots

    def validate_manage_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        """Keeps an email address or phone number, refused as the booking form refuses it."""
        return contact_answer(dispatcher, "manage_contact", value)

    async def validate_manage_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        """Finds the call booked with this contact and name; without one, nothing changes."""
        try:
            name = clean_name(str(value or ""))
        except InvalidDetail:
            dispatcher.utter_message(response="utter_invalid_visitor_name",
                                     **response_values(settings.practice_profile()))
            return {"manage_name": None}
        call = await in_thread(call_by_contact, tracker.get_slot("manage_contact") or "", name)
        if call is None:
            return {"manage_name": name, "manage_confirmed": False}
        found = {"manage_name": name, "manage_booking_id": float(call["id"])}
        if not tracker.get_slot("visitor_time_zone") and call.get("visitor_time_zone"):
            found["visitor_time_zone"] = call["visitor_time_zone"]
        return found

    def validate_visitor_time_zone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        """Keeps a time zone given by a button, the browser, a zone name or a city."""
        return check_time_zone(dispatcher, tracker, value)

    async def validate_booking_slot(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[str, Any]:
        """Keeps a new time that is still free; "Keep my call" leaves everything as it is."""
        return await check_chosen_time(dispatcher, tracker, in_booking_form=False)


class ActionAskManageConfirmed(Action):
    """Names the call found and asks whether to move or cancel it."""

    def name(self) -> str:
        """The name Rasa calls this action by."""
        return "action_ask_manage_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Asks with the call's time in the visitor's clock."""
        call = await in_thread(booking_request, engine_for(settings.database_url()),
                               int(tracker.get_slot("manage_booking_id")))
        dispatcher.utter_message(response="utter_ask_manage_confirmed", call_time=call_time(call))
        return []


class ActionManageBooking(Action):
    """Moves or cancels the confirmed call, or says why nothing changed."""

    def name(self) -> str:
        """The name Rasa calls this action by."""
        return "action_manage_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Acts on the calendar, records it on the booking, tells the visitor and the therapist."""
        values = response_values(settings.practice_profile())
        reset = [SlotSet(slot, None) for slot in MANAGE_SLOTS]
        action = tracker.get_slot("manage_action")
        booking_id = tracker.get_slot("manage_booking_id")
        if action is None:
            return reset
        if booking_id is None:
            dispatcher.utter_message(response="utter_no_booked_call", **values)
            return reset
        call = await in_thread(booking_request, engine_for(settings.database_url()), int(booking_id))
        if tracker.get_slot("manage_confirmed") is not True or call is None:
            if tracker.get_slot("calendar_fallback") is None:
                dispatcher.utter_message(response="utter_call_left_as_is", **values)
            return reset
        if action == CANCEL:
            response = await self._cancel(call, tracker)
            dispatcher.utter_message(response=response, call_time=call_time(call),
                                     email_note=EMAIL_NOTE if wants_email(call) else "", **values)
        else:
            response = await self._move(call, tracker)
            dispatcher.utter_message(response=response, booking_slot_text=tracker.get_slot("booking_slot_text"),
                                     email_note=EMAIL_NOTE if wants_email(call) else "", **values)
        return reset

    @staticmethod
    async def _cancel(call: Dict[str, Any], tracker: Tracker) -> str:
        try:
            await delete_call(call["calendar_event_url"])
        except (CalendarUnavailable, CalendarNotUsed) as failure:
            await in_thread(record, call["id"], {"calendar_fallback": f"the visitor asked to cancel; {failure}"})
            alert_therapist_in_background("A visitor asked to cancel their call (calendar unreachable)",
                                          tracker.sender_id)
            return "utter_call_change_failed"
        await in_thread(record, call["id"], {"calendar_status": "cancelled", "calendar_fallback": None})
        alert_therapist_in_background("A consultation call was cancelled", tracker.sender_id)
        send_call_email_in_background(call["id"], "cancelled")
        return "utter_call_cancelled"

    @staticmethod
    async def _move(call: Dict[str, Any], tracker: Tracker) -> str:
        start = parse_slot_start(tracker.get_slot("booking_slot"))
        wish = tracker.get_slot("booking_slot_text")
        try:
            booking = await create_call(call["id"], call["name"], call["contact"], start)
        except SlotTaken:
            return "utter_slot_taken_try_again"
        except (CalendarUnavailable, CalendarNotUsed) as failure:
            wanted = {"calendar_fallback": f"the visitor asked to move to {wish}; {failure}"}
            await in_thread(record, call["id"], wanted)
            alert_therapist_in_background(
                "A visitor asked to move their call (calendar unreachable)", tracker.sender_id
            )
            return "utter_call_change_failed"
        try:
            await delete_call(call["calendar_event_url"])
        except (CalendarUnavailable, CalendarNotUsed) as failure:
            logger.warning("The old event of booking %s was not deleted: %s", call["id"], failure)
            stale = {"calendar_fallback": f"the old event is still in the calendar; {failure}"}
            await in_thread(record, call["id"], stale)
        await in_thread(record, call["id"], {
            "slot_start": booking.start,
            "slot_end": booking.end,
            "visitor_time_zone": tracker.get_slot("visitor_time_zone") or call.get("visitor_time_zone"),
            "calendar_status": "moved",
            "calendar_event_url": booking.event_url,
            "calendar_event_uid": booking.event_uid,
            "preferred_times": wish or call["preferred_times"],
        })
        alert_therapist_in_background("A consultation call was moved", tracker.sender_id)
        send_call_email_in_background(call["id"], "moved")
        return "utter_call_moved"


class ActionStopManagingBooking(Action):
    """Stops the move/cancel form when the visitor says "never mind"."""

    def name(self) -> str:
        """The name Rasa calls this action by."""
        return "action_stop_managing_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Closes the form; the call stays as it is."""
        dispatcher.utter_message(response="utter_call_left_as_is")
        return [ActiveLoop(None), SlotSet("requested_slot", None), *[SlotSet(s, None) for s in MANAGE_SLOTS]]
