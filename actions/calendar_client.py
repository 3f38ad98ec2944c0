"""The therapist's CalDAV calendar: its busy times, and the consultation calls booked into it.

Everything that speaks CalDAV or iCalendar is here, through the maintained `caldav`
(WebDAV, CalDAV queries) and `icalendar` (the event documents) libraries. Busy
times come from a CalDAV time-range query with recurring events expanded, so a
weekly session blocks every week; transparent ("free") and cancelled events do not
block anything.

A call is created with a conditional PUT (`If-None-Match: *`) at a resource named
after its start time: two visitors choosing the same time at the same moment both
send it, the server accepts the first and refuses the second, and the second
visitor hears "just taken". Every failure to reach or understand the server is a
`CalendarUnavailable`, whose message never holds the password, so that the booking
falls back to a request and the review app can say why.
"""

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, List
from zoneinfo import ZoneInfo

import caldav
import icalendar
import requests
from caldav.lib import error as caldav_error
from lxml.etree import LxmlError

from actions.calendar_slots import Busy
from assistant.settings import CalendarSettings

logger = logging.getLogger(__name__)

CALENDAR_TIMEOUT_SECONDS = 10
PRODID = "-//Practice enquiry assistant//Consultation calls//EN"
ICALENDAR_CONTENT_TYPE = 'text/calendar; charset="utf-8"'
CREATED, NO_CONTENT, OK, NOT_FOUND, GONE, PRECONDITION_FAILED = 201, 204, 200, 404, 410, 412
CONNECTION_ERRORS = (
    caldav_error.DAVError, requests.RequestException, OSError, LxmlError, ValueError, KeyError, AttributeError,
)


class CalendarUnavailable(Exception):
    """The calendar could not be reached, refused the account, or answered unexpectedly."""


class SlotTaken(Exception):
    """Someone else booked this time between the offer and the choice."""


@dataclass(frozen=True)
class CallEvent:
    """A consultation call as an iCalendar event: what it says and when it is."""

    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str
    sequence: int = 0


def new_call_uid(start: datetime) -> str:
    """A unique id for one booked call, readable in the calendar's raw data."""
    return f"consultation-{start.astimezone(timezone.utc):%Y%m%dT%H%MZ}-{secrets.token_hex(6)}@practice-assistant"


def call_document(call: CallEvent, method: str | None = None, cancelled: bool = False) -> bytes:
    """The event as an iCalendar document (for the calendar, or as an email's `.ics`)."""
    document = icalendar.Calendar()
    document.add("prodid", PRODID)
    document.add("version", "2.0")
    if method:
        document.add("method", method)
    event = icalendar.Event()
    event.add("uid", call.uid)
    event.add("dtstamp", datetime.now(timezone.utc))
    event.add("dtstart", call.start.astimezone(timezone.utc))
    event.add("dtend", call.end.astimezone(timezone.utc))
    event.add("summary", call.summary)
    event.add("description", call.description)
    event.add("sequence", call.sequence)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    document.add_component(event)
    return document.to_ical()


class PracticeCalendar:
    """One calendar collection, reached with the practice's account."""

    def __init__(self, settings: CalendarSettings, timeout: float = CALENDAR_TIMEOUT_SECONDS) -> None:
        """Prepares the client; nothing is sent until a method is called."""
        self._settings = settings
        self._client = caldav.DAVClient(
            url=settings.url, username=settings.username, password=settings.password, timeout=timeout
        )
        self._calendar = self._client.calendar(url=settings.url)

    def busy_periods(self, start: datetime, end: datetime, practice_zone: ZoneInfo) -> List[Busy]:
        """Every busy period overlapping [start, end), as aware UTC pairs.

        All-day events and floating times are read in the practice's zone.

        Raises:
            CalendarUnavailable: the query failed.
        """
        try:
            found = self._calendar.search(event=True, start=start, end=end, expand=True)
            periods = []
            for item in found:
                for component in item.icalendar_instance.walk("VEVENT"):
                    period = _busy_period(component, practice_zone)
                    if period is not None:
                        periods.append(period)
        except CONNECTION_ERRORS as failure:
            raise CalendarUnavailable(_reason("could not read the calendar", failure)) from failure
        return sorted(periods)

    def create_call(self, call: CallEvent) -> str:
        """Puts the call into the calendar, unless its time was taken first; returns its URL.

        Raises:
            SlotTaken: a call already holds this start time.
            CalendarUnavailable: the server could not be reached or refused the event.
        """
        url = str(self._calendar.url.join(f"consultation-{call.start.astimezone(timezone.utc):%Y%m%dT%H%MZ}.ics"))
        headers = {"Content-Type": ICALENDAR_CONTENT_TYPE, "If-None-Match": "*"}
        try:
            response = self._client.put(url, call_document(call).decode("utf-8"), headers)
        except CONNECTION_ERRORS as failure:
            raise CalendarUnavailable(_reason("could not create the event", failure)) from failure
        if response.status == PRECONDITION_FAILED:
            raise SlotTaken(call.start.isoformat())
        if response.status not in (CREATED, NO_CONTENT, OK):
            raise CalendarUnavailable(f"the calendar refused the event (HTTP {response.status})")
        return url

    def delete_call(self, event_url: str) -> None:
        """Removes a booked call; one already gone counts as removed.

        Raises:
            CalendarUnavailable: the server could not be reached or refused.
        """
        try:
            response = self._client.delete(event_url)
        except caldav_error.NotFoundError:
            return
        except CONNECTION_ERRORS as failure:
            raise CalendarUnavailable(_reason("could not delete the event", failure)) from failure
        if response.status not in (OK, NO_CONTENT, NOT_FOUND, GONE):
            raise CalendarUnavailable(f"the calendar refused to delete the event (HTTP {response.status})")


def _busy_period(component: Any, practice_zone: ZoneInfo) -> Busy | None:
    """The time an event blocks, or None for a free, cancelled or timeless one."""
    if str(component.get("transp", "OPAQUE")).upper() == "TRANSPARENT":
        return None
    if str(component.get("status", "")).upper() == "CANCELLED":
        return None
    if component.get("dtstart") is None:
        return None
    start = _moment(component.decoded("dtstart"), practice_zone)
    if component.get("dtend") is not None:
        end = _moment(component.decoded("dtend"), practice_zone)
    elif component.get("duration") is not None:
        end = start + component.decoded("duration")
    elif isinstance(component.decoded("dtstart"), datetime):
        end = start
    else:
        end = start + timedelta(days=1)
    return start, max(start, end)


def _moment(value: date | datetime, practice_zone: ZoneInfo) -> datetime:
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=practice_zone)
    return value.astimezone(timezone.utc)


URL_CREDENTIALS = re.compile(r"//[^/@\s]+@")


def _reason(what: str, failure: BaseException) -> str:
    """Why the calendar failed, for the log and the review app; never a credential."""
    detail = URL_CREDENTIALS.sub("//", str(failure).split("\n", 1)[0])[:160]
    return f"{what}: {type(failure).__name__}" + (f" ({detail})" if detail else "")
