"""Booking the consultation call into the therapist's calendar: offering times, choosing, booking.

Shared by the booking form (`actions.booking`) and the form that moves or cancels
a booked call (`actions.booking_changes`). Every calendar call runs off the event
loop. Whatever goes wrong with the calendar, the booking falls back to a request
that keeps what the visitor typed (or the time they chose), and the reason is
stored for the review app.
"""

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, TypeVar

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.booking_details import InvalidDetail, clean_times
from actions.booking_emails import send_call_email_in_background
from actions.calendar_client import CalendarUnavailable, CallEvent, PracticeCalendar, SlotTaken, new_call_uid
from actions.calendar_slots import (
    ConsultationHours,
    consultation_hours,
    free_slots,
    is_bookable,
    known_time_zone,
    parse_slot_start,
    parse_time_zone,
    slot_description,
    slot_label,
    slot_value,
)
from actions.practice_text import response_values
from assistant import settings
from assistant.database import engine_for, update_booking_request

logger = logging.getLogger(__name__)

T = TypeVar("T")

MORE_TIMES, NONE_SUIT = "more", "none"
NO_CALENDAR = "no calendar is connected (CALDAV_URL is not set)"
NO_FREE_TIME = "the calendar had no free time within the booking horizon"
OTHER_TIMES_DESCRIBED = "none of the offered times suited the visitor"
TAKEN_BEFORE_BOOKING = "the chosen time was taken before it could be booked"
ORDINALS = {"1": 0, "first": 0, "one": 0, "2": 1, "second": 1, "two": 1, "3": 2, "third": 2, "three": 2,
            "4": 3, "fourth": 3, "four": 3, "5": 4, "fifth": 4, "five": 4}


class CalendarNotUsed(Exception):
    """The booking cannot use the calendar; the message says why (for the review app)."""


@dataclass(frozen=True)
class Booking:
    """A call put into the calendar."""

    event_url: str
    event_uid: str
    start: datetime
    end: datetime


def calendar_and_hours() -> tuple:
    """The calendar and the booking hours to use.

    Raises:
        CalendarNotUsed: no calendar is configured, or the consultation section is broken.
    """
    calendar_settings = settings.calendar_settings()
    if calendar_settings is None:
        raise CalendarNotUsed(NO_CALENDAR)
    try:
        hours = consultation_hours(settings.practice_profile().consultation)
    except settings.ProfileError as error:
        logger.error("The consultation section cannot be used: %s", error)
        raise CalendarNotUsed(f"practice.yml: {error}") from error
    return PracticeCalendar(calendar_settings), hours


def calendar_unused_reason() -> str | None:
    """Why the booking is a plain request (no calendar, broken hours), or None when it books."""
    if settings.calendar_settings() is None:
        return NO_CALENDAR
    try:
        consultation_hours(settings.practice_profile().consultation)
    except settings.ProfileError as error:
        return f"practice.yml: {error}"
    return None


def booking_hours() -> ConsultationHours | None:
    """The consultation section, or None when it is broken (the form then asks for times)."""
    try:
        return consultation_hours(settings.practice_profile().consultation)
    except settings.ProfileError:
        return None


async def in_thread(function: Callable[..., T], *args: Any) -> T:
    """Runs blocking calendar or database work off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _free_times(after: datetime | None) -> List[datetime]:
    calendar, hours = calendar_and_hours()
    now = _now()
    busy = calendar.busy_periods(now, now + hours.horizon + timedelta(days=1), hours.time_zone)
    return free_slots(hours, busy, now, after=after, limit=hours.slots_offered)


def _still_free(start: datetime) -> bool:
    calendar, hours = calendar_and_hours()
    around = hours.buffer + hours.call_length + timedelta(hours=1)
    busy = calendar.busy_periods(start - around, start + around, hours.time_zone)
    return is_bookable(hours, busy, start, _now())


def visitor_zone(tracker: Tracker) -> str:
    """The visitor's time zone, or the practice's when they have not given one."""
    hours = booking_hours()
    fallback = hours.time_zone.key if hours else "UTC"
    return known_time_zone(tracker.get_slot("visitor_time_zone")) or fallback


def browser_time_zone(tracker: Tracker) -> str | None:
    """The time zone the chat widget reported with the latest message, if any."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    return known_time_zone(metadata.get("time_zone")) if isinstance(metadata, dict) else None


def time_zone_slot_from_browser(tracker: Tracker) -> Dict[str, Any]:
    """The `visitor_time_zone` slot from the widget's report, unless the zone is already known.

    Both forms that offer times (booking and moving a call) take it this way, so
    the visitor is asked only when the browser said nothing usable.
    """
    if tracker.get_slot("visitor_time_zone"):
        return {}
    zone = browser_time_zone(tracker)
    return {"visitor_time_zone": zone} if zone else {}


def latest_entity(tracker: Tracker, entity: str) -> str | None:
    """The value of an entity in the latest message (a button's payload carries them)."""
    for found in (tracker.latest_message or {}).get("entities") or []:
        if found.get("entity") == entity and found.get("value") is not None:
            return str(found["value"])
    return None


def slot_button(start: datetime, zone: str) -> Dict[str, str]:
    """A button that chooses one start time."""
    payload = "/choose_slot" + json.dumps({"booking_slot": slot_value(start)})
    return {"title": slot_label(start, zone), "payload": payload}


def choice_button(title: str, value: str) -> Dict[str, str]:
    """A button for "Other times" or "None of these"."""
    return {"title": title, "payload": "/choose_slot" + json.dumps({"booking_slot": value})}


async def offer_times(
    dispatcher: CollectingDispatcher, tracker: Tracker, allow_none: bool = True
) -> List[EventType]:
    """Shows the next free times as buttons; on any calendar failure, falls back to a request.

    Returns the events to apply: the times offered, or the fallback reason with the
    form turned to the "which times suit you" question.
    """
    values = response_values(settings.practice_profile())
    after = parse_slot_start(tracker.get_slot("slot_offer_after"))
    zone = visitor_zone(tracker)
    try:
        times = await in_thread(_free_times, after)
        if not times and after is not None:
            times = await in_thread(_free_times, None)
    except (CalendarUnavailable, CalendarNotUsed) as failure:
        logger.warning("Offering times fell back to a request: %s", failure)
        return fall_back_to_request(dispatcher, "utter_calendar_unreachable", str(failure), allow_none)
    if not times:
        return fall_back_to_request(dispatcher, "utter_no_free_times", NO_FREE_TIME, allow_none)
    buttons = [slot_button(start, zone) for start in times]
    buttons.append(choice_button("Other times", MORE_TIMES))
    buttons.append(choice_button("None of these" if allow_none else "Keep my call", NONE_SUIT))
    place = zone.rsplit("/", 1)[-1].replace("_", " ")
    dispatcher.utter_message(response="utter_ask_booking_slot", buttons=buttons, zone_name=place, **values)
    return [SlotSet("offered_slots", [slot_value(start) for start in times])]


def fall_back_to_request(
    dispatcher: CollectingDispatcher, response: str, reason: str, in_booking_form: bool = True
) -> List[EventType]:
    """Says the calendar can't be used and, in the booking form, asks which times suit instead."""
    values = response_values(settings.practice_profile())
    dispatcher.utter_message(response=response, **values)
    if not in_booking_form:
        # Nothing changes; the form ends at the visitor's next message.
        return [SlotSet("calendar_fallback", reason), SlotSet("manage_confirmed", False)]
    dispatcher.utter_message(response="utter_ask_preferred_times", **values)
    return [SlotSet("calendar_fallback", reason), SlotSet("requested_slot", "preferred_times")]


def typed_choice(text: str, offered: List[str]) -> str | None:
    """The offered time a visitor means by "the first one", "2" or "second"."""
    words = re.findall(r"[a-z0-9]+", (text or "").lower())
    picks = [ORDINALS[word] for word in words if word in ORDINALS]
    if len(set(picks)) == 1 and picks[0] < len(offered):
        return offered[picks[0]]
    return None


async def check_chosen_time(
    dispatcher: CollectingDispatcher, tracker: Tracker, in_booking_form: bool
) -> Dict[str, Any]:
    """Validates the `booking_slot` answer: a chosen time (re-checked), more times, or none.

    A time taken since it was offered gets "just taken, here are the next ones"; a
    calendar that stopped answering keeps the chosen time as the request's times.
    """
    message = tracker.latest_message or {}
    value = latest_entity(tracker, "booking_slot")
    offered = list(tracker.get_slot("offered_slots") or [])
    if value is None:
        if (message.get("intent") or {}).get("name") == "other_times":
            value = MORE_TIMES
        else:
            value = typed_choice(message.get("text") or "", offered)
    if value == MORE_TIMES:
        return {"booking_slot": None, "slot_offer_after": offered[-1] if offered else None}
    if value == NONE_SUIT:
        if in_booking_form:
            return {"booking_slot": None, "calendar_fallback": OTHER_TIMES_DESCRIBED}
        return {"booking_slot": None, "manage_confirmed": False}
    start = parse_slot_start(value)
    if start is None:
        if in_booking_form:
            return _typed_times_instead(dispatcher, tracker, message.get("text") or "")
        dispatcher.utter_message(response="utter_pick_offered_time")
        return {"booking_slot": None}
    values = response_values(settings.practice_profile())
    try:
        free = await in_thread(_still_free, start)
    except (CalendarUnavailable, CalendarNotUsed) as failure:
        description = slot_description(start, visitor_zone(tracker))
        if not in_booking_form:
            dispatcher.utter_message(response="utter_calendar_unreachable_change", **values)
            return {"booking_slot": None, "manage_confirmed": False, "calendar_fallback": str(failure)}
        dispatcher.utter_message(
            response="utter_calendar_unreachable_keep_time", booking_slot_text=description, **values
        )
        return {"booking_slot": None, "preferred_times": description, "calendar_fallback": str(failure)}
    if not free:
        dispatcher.utter_message(response="utter_slot_just_taken")
        return {"booking_slot": None, "slot_offer_after": None}
    return {"booking_slot": slot_value(start), "booking_slot_text": slot_description(start, visitor_zone(tracker))}


def _typed_times_instead(dispatcher: CollectingDispatcher, tracker: Tracker, text: str) -> Dict[str, Any]:
    """Typed times instead of a button: kept as the request's times, nothing lost."""
    try:
        times = clean_times(text)
    except InvalidDetail:
        dispatcher.utter_message(response="utter_pick_offered_time")
        return {"booking_slot": None}
    return {"booking_slot": None, "preferred_times": times, "calendar_fallback": OTHER_TIMES_DESCRIBED}


def check_time_zone(dispatcher: CollectingDispatcher, tracker: Tracker, value: Any) -> Dict[str, Any]:
    """Validates `visitor_time_zone`: a button's zone, an IANA name, a city or an alias."""
    hours = booking_hours()
    choices = hours.time_zone_choices if hours else ()
    chosen = latest_entity(tracker, "visitor_time_zone") or str(value or "")
    zone = known_time_zone(chosen) or parse_time_zone(chosen, choices)
    if zone is None:
        dispatcher.utter_message(response="utter_invalid_visitor_time_zone", buttons=time_zone_buttons())
        return {"visitor_time_zone": None}
    return {"visitor_time_zone": zone, "slot_offer_after": None}


def time_zone_buttons() -> List[Dict[str, str]]:
    """The practice's time zone choices as buttons."""
    hours = booking_hours()
    return [
        {"title": choice.title, "payload": "/choose_time_zone" + json.dumps({"visitor_time_zone": choice.zone})}
        for choice in (hours.time_zone_choices if hours else ())
    ]


def first_name(name: str) -> str:
    """The first word of the name the visitor gave: all the event ever says about them."""
    return (name or "").split()[0] if (name or "").split() else "visitor"


def booking_link(request_id: int) -> str:
    """Where the therapist opens this booking in the review app (sign-in required)."""
    return f"{settings.review_base_url()}/bookings/{request_id}"


def call_event_for(request_id: int, name: str, contact: str, start: datetime, end: datetime) -> CallEvent:
    """The therapist's calendar event: first name, contact and a link, never health details."""
    return CallEvent(
        uid=new_call_uid(start),
        start=start,
        end=end,
        summary=f"Consultation call: {first_name(name)}",
        description=f"Contact: {contact}\nBooking: {booking_link(request_id)}",
    )


def _create(request_id: int, name: str, contact: str, start: datetime) -> Booking:
    calendar, hours = calendar_and_hours()
    end = start + hours.call_length
    event = call_event_for(request_id, name, contact, start, end)
    url = calendar.create_call(event)
    return Booking(url, event.uid, start, end)


def _delete(event_url: str) -> None:
    calendar, _hours = calendar_and_hours()
    calendar.delete_call(event_url)


async def create_call(request_id: int, name: str, contact: str, start: datetime) -> Booking:
    """Books the call (conditional create).

    Raises:
        SlotTaken, CalendarUnavailable, CalendarNotUsed: it was not booked.
    """
    return await in_thread(_create, request_id, name, contact, start)


async def delete_call(event_url: str) -> None:
    """Deletes a booked call's event.

    Raises:
        CalendarUnavailable, CalendarNotUsed: it was not deleted.
    """
    await in_thread(_delete, event_url)


def record(request_id: int, values: Dict[str, Any]) -> None:
    """Stores calendar details on the booking request (logged, never raised, on failure)."""
    try:
        update_booking_request(engine_for(settings.database_url()), request_id, values)
    except Exception:  # noqa: BLE001 - the visitor's turn must not fail on bookkeeping
        logger.exception("Could not record the calendar details of booking request %s", request_id)


async def book_chosen_time(tracker: Tracker, request_id: int, request: Dict[str, Any]) -> str:
    """Books the chosen time for a stored request; returns the response that tells the visitor.

    The request row is already stored, so a failure here leaves a request with its
    chosen time and the reason, never nothing.
    """
    start = parse_slot_start(tracker.get_slot("booking_slot"))
    zone = visitor_zone(tracker)
    try:
        booking = await create_call(request_id, request["name"], request["contact"], start)
    except SlotTaken:
        await in_thread(record, request_id, {"calendar_fallback": TAKEN_BEFORE_BOOKING})
        return "utter_call_taken_request_saved"
    except (CalendarUnavailable, CalendarNotUsed) as failure:
        logger.warning("Booking fell back to a request: %s", failure)
        await in_thread(record, request_id, {"calendar_fallback": f"booking failed: {failure}"})
        return "utter_call_not_booked_request_saved"
    await in_thread(record, request_id, {
        "slot_start": booking.start,
        "slot_end": booking.end,
        "visitor_time_zone": zone,
        "calendar_status": "booked",
        "calendar_event_url": booking.event_url,
        "calendar_event_uid": booking.event_uid,
        "calendar_fallback": None,
    })
    send_call_email_in_background(request_id, "booked")
    return "utter_call_booked"


class ActionAskBookingSlot(Action):
    """Offers the next free times in the booking form (or falls back to asking for times)."""

    def name(self) -> str:
        """The name Rasa calls this action by."""
        return "action_ask_booking_slot"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Shows the times, or turns the form to a request when the calendar can't be used."""
        in_booking_form = (tracker.active_loop or {}).get("name") != "manage_booking_form"
        return await offer_times(dispatcher, tracker, allow_none=in_booking_form)


class ActionAskVisitorTimeZone(Action):
    """Asks which time zone to show times in, with the practice's usual choices."""

    def name(self) -> str:
        """The name Rasa calls this action by."""
        return "action_ask_visitor_time_zone"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Asks once; the answer is kept for the rest of the conversation."""
        dispatcher.utter_message(response="utter_ask_visitor_time_zone", buttons=time_zone_buttons())
        return []
