"""The CalDAV client against a real Radicale: busy times, conditional create, delete, outages."""

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

import icalendar
import pytest

from actions.calendar_client import CalendarUnavailable, CallEvent, PracticeCalendar, SlotTaken, new_call_uid
from assistant.settings import CalendarSettings
from tests.calendar_server import RADICALE_PASSWORD, RADICALE_USER, RunningCalendar, start_radicale
from tests.servers import free_port

ZONE = ZoneInfo("America/Los_Angeles")
START = datetime(2026, 12, 7, 17, 0, tzinfo=timezone.utc)


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[RunningCalendar]:
    """A fresh Radicale with an empty calendar."""
    server = start_radicale(tmp_path / "radicale")
    yield server
    server.stop()


def client_for(server: RunningCalendar) -> PracticeCalendar:
    return PracticeCalendar(CalendarSettings(server.calendar_url, RADICALE_USER, RADICALE_PASSWORD))


def add_event(server: RunningCalendar, uid: str, start: datetime, end: datetime, **extra: object) -> None:
    document = icalendar.Calendar()
    document.add("prodid", "-//tests//")
    document.add("version", "2.0")
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("dtstamp", datetime.now(timezone.utc))
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", "Client session")
    for key, value in extra.items():
        event.add(key, value)
    document.add_component(event)
    server.calendar().save_event(document.to_ical().decode())


def call(start: datetime = START) -> CallEvent:
    return CallEvent(new_call_uid(start), start, start + timedelta(minutes=15), "Consultation call: Jo", "Contact: x")


def test_busy_times_include_every_repeat_of_a_weekly_session(radicale: RunningCalendar) -> None:
    add_event(radicale, "weekly", datetime(2026, 12, 7, 10, tzinfo=ZONE), datetime(2026, 12, 7, 11, tzinfo=ZONE),
              rrule={"freq": "weekly", "count": 3})
    busy = client_for(radicale).busy_periods(START - timedelta(days=1), START + timedelta(days=30), ZONE)
    assert [b[0] for b in busy] == [datetime(2026, 12, d, 18, tzinfo=timezone.utc) for d in (7, 14, 21)]


def test_free_and_all_day_events_are_read_correctly(radicale: RunningCalendar) -> None:
    add_event(radicale, "free", START, START + timedelta(hours=1), transp="TRANSPARENT")
    add_event(radicale, "holiday", datetime(2026, 12, 8).date(), datetime(2026, 12, 9).date())
    busy = client_for(radicale).busy_periods(START - timedelta(days=1), START + timedelta(days=5), ZONE)
    assert busy == [(datetime(2026, 12, 8, 8, tzinfo=timezone.utc), datetime(2026, 12, 9, 8, tzinfo=timezone.utc))]


def test_a_second_booking_of_the_same_time_is_refused_by_the_server(radicale: RunningCalendar) -> None:
    calendar = client_for(radicale)
    url = calendar.create_call(call())
    with pytest.raises(SlotTaken):
        calendar.create_call(call())
    assert len(radicale.calendar().events()) == 1
    assert url.startswith(radicale.calendar_url)


def test_a_deleted_call_leaves_the_calendar_and_deleting_twice_is_harmless(radicale: RunningCalendar) -> None:
    calendar = client_for(radicale)
    url = calendar.create_call(call())
    calendar.delete_call(url)
    calendar.delete_call(url)
    assert radicale.calendar().events() == []


def test_a_wrong_password_is_a_clear_outage_that_never_shows_the_password(radicale: RunningCalendar) -> None:
    calendar = PracticeCalendar(CalendarSettings(radicale.calendar_url, RADICALE_USER, "wrong-secret"))
    with pytest.raises(CalendarUnavailable) as failure:
        calendar.busy_periods(START, START + timedelta(days=1), ZONE)
    assert "wrong-secret" not in str(failure.value)


def test_a_server_that_is_down_is_an_outage() -> None:
    calendar = PracticeCalendar(CalendarSettings(f"http://127.0.0.1:{free_port()}/cal/", "u", "p"), timeout=2)
    with pytest.raises(CalendarUnavailable):
        calendar.create_call(call())
