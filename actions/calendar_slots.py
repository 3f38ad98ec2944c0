"""Free times for the consultation call: the practice's booking hours minus the busy calendar.

Pure functions over `practice.yml`'s `consultation:` section and a list of busy
periods; no network, no Rasa. Times are compared as aware datetimes, so the
practice's clock (booking hours), the visitor's clock (button labels) and the
calendar's UTC never get mixed up, including across a daylight-saving change.

Calls start on the quarter hour and are spaced by the call length plus the
buffer, rounded up to a quarter hour; two offered times therefore never collide
with each other, which is what lets the calendar client lock a time by its start.
"""

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Dict, Iterator, List, Mapping, Sequence, Tuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from assistant.settings import ProfileError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
GRID_MINUTES = 15
WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
MAX_LABEL_LENGTH = 20  # a Messenger button title

Busy = Tuple[datetime, datetime]


@dataclass(frozen=True)
class TimeZoneChoice:
    """A time zone offered as a button, with the words visitors may type for it."""

    title: str
    zone: str
    aliases: Tuple[str, ...] = ()


@dataclass(frozen=True)
class ConsultationHours:
    """When a consultation call may be booked, from `practice.yml`."""

    call_minutes: int
    time_zone: ZoneInfo
    weekly_hours: Mapping[int, Tuple[Tuple[time, time], ...]]
    minimum_notice: timedelta
    horizon: timedelta
    buffer: timedelta
    slots_offered: int
    time_zone_choices: Tuple[TimeZoneChoice, ...]

    @property
    def call_length(self) -> timedelta:
        """How long one call is."""
        return timedelta(minutes=self.call_minutes)

    @property
    def step(self) -> timedelta:
        """The distance between two offered starts: call plus buffer, on the quarter hour."""
        minutes = self.call_minutes + self.buffer.total_seconds() / 60
        return timedelta(minutes=math.ceil(minutes / GRID_MINUTES) * GRID_MINUTES)


def consultation_hours(raw: Mapping[str, Any], source: str = "practice.yml") -> ConsultationHours:
    """Checks the `consultation:` section and turns it into ConsultationHours.

    Raises:
        ProfileError: a field is missing or malformed; the message names it.
    """
    where = f"{source}: consultation"
    zone = _zone(raw.get("time_zone"), f"{where}.time_zone")
    hours = raw.get("booking_hours")
    if not isinstance(hours, dict) or not hours:
        raise ProfileError(f"{where}.booking_hours must map weekdays to time windows")
    weekly: Dict[int, Tuple[Tuple[time, time], ...]] = {}
    for day, windows in hours.items():
        if str(day).lower() not in WEEKDAYS:
            raise ProfileError(f"{where}.booking_hours: {day!r} is not a weekday")
        if not isinstance(windows, list):
            raise ProfileError(f"{where}.booking_hours.{day} must list windows like \"09:00-12:00\"")
        weekly[WEEKDAYS.index(str(day).lower())] = tuple(
            _window(w, f"{where}.booking_hours.{day}") for w in windows
        )
    return ConsultationHours(
        call_minutes=_whole(raw, "call_minutes", 15, where, minimum=5),
        time_zone=zone,
        weekly_hours=weekly,
        minimum_notice=timedelta(hours=_whole(raw, "minimum_notice_hours", 24, where)),
        horizon=timedelta(days=_whole(raw, "horizon_days", 21, where, minimum=1)),
        buffer=timedelta(minutes=_whole(raw, "buffer_minutes", 0, where)),
        slots_offered=min(_whole(raw, "slots_offered", 4, where, minimum=1), 10),
        time_zone_choices=_choices(raw.get("time_zone_choices") or [], where),
    )


def _zone(name: Any, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(str(name or "").strip())
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ProfileError(f"{where} must be a time zone name such as \"America/Los_Angeles\"") from error


def _window(text: Any, where: str) -> Tuple[time, time]:
    found = WINDOW.match(str(text))
    if not found:
        raise ProfileError(f"{where}: {text!r} is not a window like \"09:00-12:00\"")
    try:
        opens = time(int(found[1]), int(found[2]))
        closes = time(int(found[3]), int(found[4]))
    except ValueError as error:
        raise ProfileError(f"{where}: {text!r} holds an impossible time") from error
    if closes <= opens:
        raise ProfileError(f"{where}: {text!r} closes before it opens")
    return opens, closes


def _whole(raw: Mapping[str, Any], name: str, default: int, where: str, minimum: int = 0) -> int:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ProfileError(f"{where}.{name} must be a whole number of at least {minimum}")
    return value


def _choices(raw: Any, where: str) -> Tuple[TimeZoneChoice, ...]:
    if not isinstance(raw, list):
        raise ProfileError(f"{where}.time_zone_choices must be a list")
    choices = []
    for entry in raw:
        if not isinstance(entry, dict) or not entry.get("title"):
            raise ProfileError(f"{where}.time_zone_choices: each needs a title and a zone")
        title = str(entry["title"]).strip()
        if len(title) > MAX_LABEL_LENGTH:
            raise ProfileError(f"{where}.time_zone_choices: {title!r} is longer than {MAX_LABEL_LENGTH}")
        zone = _zone(entry.get("zone"), f"{where}.time_zone_choices.{title}")
        aliases = tuple(str(alias).strip().lower() for alias in entry.get("also") or [])
        choices.append(TimeZoneChoice(title, zone.key, aliases))
    return tuple(choices)


def free_slots(
    hours: ConsultationHours,
    busy: Sequence[Busy],
    now: datetime,
    after: datetime | None = None,
    limit: int | None = None,
) -> List[datetime]:
    """The starts of free calls, earliest first, as aware UTC datetimes.

    Free means inside the booking hours, at least the minimum notice from `now`,
    within the horizon, strictly after `after` (for "other times"), and at least
    the buffer away from every busy period.
    """
    earliest = now + hours.minimum_notice
    latest = now + hours.horizon
    found: List[datetime] = []
    for start in _candidate_starts(hours, earliest, latest):
        if after is not None and start <= after:
            continue
        if is_free(start, start + hours.call_length, busy, hours.buffer):
            found.append(start)
            if limit is not None and len(found) >= limit:
                break
    return found


def is_bookable(hours: ConsultationHours, busy: Sequence[Busy], start: datetime, now: datetime) -> bool:
    """Whether `start` is still one of the free times (re-checked just before booking)."""
    start = start.astimezone(timezone.utc)
    return free_slots(hours, busy, now, after=start - timedelta(seconds=1), limit=1) == [start]


def is_free(start: datetime, end: datetime, busy: Sequence[Busy], buffer: timedelta) -> bool:
    """True when [start, end) stays `buffer` away from every busy period."""
    return all(not (start - buffer < busy_end and busy_start < end + buffer) for busy_start, busy_end in busy)


def _candidate_starts(hours: ConsultationHours, earliest: datetime, latest: datetime) -> Iterator[datetime]:
    zone = hours.time_zone
    day = earliest.astimezone(zone).date()
    last_day = latest.astimezone(zone).date()
    while day <= last_day:
        for opens, closes in hours.weekly_hours.get(day.weekday(), ()):
            for start in _starts_in_window(day, opens, closes, hours):
                if earliest <= start and start + hours.call_length <= latest:
                    yield start
        day += timedelta(days=1)


def _starts_in_window(day: date, opens: time, closes: time, hours: ConsultationHours) -> Iterator[datetime]:
    """Wall-clock starts in the practice's zone; a time skipped by a DST change is left out."""
    wall = datetime.combine(day, opens)
    end_of_window = datetime.combine(day, closes)
    while wall + hours.call_length <= end_of_window:
        local = wall.replace(tzinfo=hours.time_zone)
        utc = local.astimezone(timezone.utc)
        if utc.astimezone(hours.time_zone).replace(tzinfo=None) == wall:
            yield utc
        wall += hours.step


def slot_label(start: datetime, zone: str) -> str:
    """A button title in the visitor's clock: "Tue 3 Mar, 9:00 AM" (at most 20 characters)."""
    local = start.astimezone(ZoneInfo(zone))
    return f"{local:%a} {local.day} {local:%b}, {_clock(local)}"


def slot_description(start: datetime, zone: str) -> str:
    """The time in a sentence: "Tuesday 3 March at 9:00 AM (New York time)"."""
    local = start.astimezone(ZoneInfo(zone))
    place = zone.rsplit("/", 1)[-1].replace("_", " ")
    return f"{local:%A} {local.day} {local:%B} at {_clock(local)} ({place} time)"


def _clock(local: datetime) -> str:
    return f"{local.hour % 12 or 12}:{local:%M} {local:%p}"


def parse_slot_start(value: Any) -> datetime | None:
    """The aware start time carried by a slot button, or None for anything else."""
    try:
        start = datetime.fromisoformat(str(value or "").strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if start.tzinfo is None:
        return None
    return start.astimezone(timezone.utc)


def slot_value(start: datetime) -> str:
    """How a start time travels in a button payload and a slot: UTC, to the minute."""
    return start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def parse_time_zone(text: str, choices: Sequence[TimeZoneChoice] = ()) -> str | None:
    """The IANA zone a visitor means by "Eastern", "Europe/London", "london" or "ET".

    Returns None when nothing matches, so the form can ask again.
    """
    wanted = " ".join(str(text or "").strip().lower().replace("_", " ").split())
    if not wanted or len(wanted) > 60:
        return None
    for choice in choices:
        if wanted in (choice.title.lower(), choice.zone.lower().replace("_", " "), *choice.aliases):
            return choice.zone
    for choice in choices:
        if wanted == choice.title.lower().split()[0]:
            return choice.zone
    by_name = _zones_by_name()
    return by_name.get(wanted) or by_name.get(wanted.rsplit("/", 1)[-1])


def known_time_zone(value: Any) -> str | None:
    """`value` when it is an IANA zone name (as a browser reports it), else None."""
    name = str(value or "").strip()
    return name if name in _zone_names() else None


_ZONE_NAMES: frozenset = frozenset()
_BY_NAME: Dict[str, str] = {}


def _zone_names() -> frozenset:
    global _ZONE_NAMES
    if not _ZONE_NAMES:
        _ZONE_NAMES = frozenset(available_timezones())
    return _ZONE_NAMES


def _zones_by_name() -> Dict[str, str]:
    """Zone names and their cities, lower case and with spaces: "new york" -> America/New_York."""
    if not _BY_NAME:
        for name in sorted(_zone_names()):
            if "/" not in name or name.startswith(("Etc/", "SystemV/")):
                continue
            _BY_NAME.setdefault(name.lower().replace("_", " "), name)
            _BY_NAME.setdefault(name.rsplit("/", 1)[-1].lower().replace("_", " "), name)
    return _BY_NAME
