"""Free times: booking hours minus busy periods, with notice, buffers, time zones and DST."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from actions.calendar_slots import (
    consultation_hours,
    free_slots,
    is_bookable,
    parse_time_zone,
    slot_label,
    slot_value,
)
from assistant import settings
from assistant.settings import ProfileError

PACIFIC = ZoneInfo("America/Los_Angeles")
SECTION = {
    "call_minutes": 15,
    "time_zone": "America/Los_Angeles",
    "booking_hours": {"monday": ["09:00-10:00"], "tuesday": ["09:00-10:00"], "sunday": ["09:00-10:00"]},
    "minimum_notice_hours": 24,
    "horizon_days": 14,
    "buffer_minutes": 15,
    "slots_offered": 4,
}


def pacific(*args: int) -> datetime:
    return datetime(*args, tzinfo=PACIFIC)


def test_the_practice_profile_has_a_usable_consultation_section() -> None:
    hours = consultation_hours(settings.practice_profile(settings.DEFAULT_PROFILE_PATH).consultation)
    assert hours.call_minutes == 15
    assert hours.time_zone_choices


def test_free_times_sit_inside_the_booking_hours_on_a_quarter_hour_grid() -> None:
    hours = consultation_hours(SECTION)
    now = pacific(2026, 11, 27, 8, 0)  # a Friday: Sunday 29 is the first day past the notice
    found = free_slots(hours, [], now, limit=3)
    assert [t.astimezone(PACIFIC).strftime("%a %H:%M") for t in found] == ["Sun 09:00", "Sun 09:30", "Mon 09:00"]


def test_a_busy_event_blocks_its_time_and_the_buffer_around_it() -> None:
    hours = consultation_hours(SECTION)
    now = pacific(2026, 11, 27, 8, 0)
    busy = [(pacific(2026, 11, 29, 9, 20), pacific(2026, 11, 29, 9, 25))]  # Sunday 9:20-9:25
    found = free_slots(hours, busy, now, limit=2)
    # 9:00-9:15 ends 5 minutes before the event (buffer 15), 9:30 starts 5 minutes after it.
    assert [t.astimezone(PACIFIC).strftime("%a %H:%M") for t in found] == ["Mon 09:00", "Mon 09:30"]


def test_nothing_is_offered_sooner_than_the_minimum_notice() -> None:
    hours = consultation_hours(SECTION)
    now = pacific(2026, 11, 29, 9, 10)  # Sunday, during the window
    found = free_slots(hours, [], now, limit=1)
    assert found[0] >= now + timedelta(hours=24)
    assert found[0].astimezone(PACIFIC).strftime("%a %H:%M") == "Mon 09:30"


def test_nothing_is_offered_beyond_the_horizon() -> None:
    hours = consultation_hours(SECTION)
    now = pacific(2026, 11, 27, 8, 0)
    found = free_slots(hours, [], now)
    assert found and max(found) <= now + timedelta(days=14)


def test_booking_hours_follow_the_practice_clock_across_a_dst_change() -> None:
    hours = consultation_hours(SECTION)
    # Clocks in Los Angeles go forward on Sunday 8 March 2026: 9:00 is 17:00 UTC before, 16:00 after.
    found = free_slots(hours, [], pacific(2026, 3, 5, 8, 0))
    utc_hours = {t.astimezone(PACIFIC).strftime("%m-%d"): t.astimezone(timezone.utc).hour for t in found}
    assert utc_hours["03-08"] == 16 and utc_hours["03-09"] == 16 and utc_hours["03-10"] == 16
    assert all(t.astimezone(PACIFIC).hour == 9 for t in found)
    before = free_slots(hours, [], pacific(2026, 2, 26, 8, 0), limit=1)[0]
    assert before.astimezone(timezone.utc).hour == 17


def test_a_time_skipped_by_the_clock_change_is_never_offered() -> None:
    hours = consultation_hours({**SECTION, "booking_hours": {"sunday": ["01:30-03:30"]}, "buffer_minutes": 0})
    found = free_slots(hours, [], pacific(2026, 3, 5, 8, 0), limit=20)
    march_8 = [t.astimezone(PACIFIC) for t in found if t.astimezone(PACIFIC).day == 8 and t.month == 3]
    assert all(not (2 <= t.hour < 3) for t in march_8)
    assert {t.strftime("%H:%M") for t in march_8} >= {"01:30", "03:00"}


def test_other_times_start_after_the_last_offered_one() -> None:
    hours = consultation_hours(SECTION)
    now = pacific(2026, 11, 27, 8, 0)
    first = free_slots(hours, [], now, limit=2)
    more = free_slots(hours, [], now, after=first[-1], limit=2)
    assert min(more) > max(first)


def test_a_time_is_no_longer_bookable_once_something_overlaps_it() -> None:
    hours = consultation_hours(SECTION)
    now = pacific(2026, 11, 27, 8, 0)
    start = free_slots(hours, [], now, limit=1)[0]
    assert is_bookable(hours, [], start, now)
    assert not is_bookable(hours, [(start, start + timedelta(minutes=30))], start, now)
    assert not is_bookable(hours, [], start + timedelta(minutes=5), now)


def test_button_labels_are_in_the_visitors_time_zone_and_fit_messenger() -> None:
    start = datetime(2026, 12, 1, 17, 0, tzinfo=timezone.utc)
    assert slot_label(start, "America/Los_Angeles") == "Tue 1 Dec, 9:00 AM"
    assert slot_label(start, "Europe/London") == "Tue 1 Dec, 5:00 PM"
    longest = datetime(2026, 9, 30, 12, 45, tzinfo=timezone.utc)
    assert len(slot_label(longest, "UTC")) <= 20
    assert slot_value(start) == "2026-12-01T17:00Z"


@pytest.mark.parametrize(
    ("typed", "zone"),
    [("Eastern (US)", "America/New_York"), ("EST", "America/New_York"), ("london", "Europe/London"),
     ("Europe/Berlin", "Europe/Berlin"), ("New York", "America/New_York"), ("somewhere nice", None)],
)
def test_visitors_can_name_their_time_zone_in_their_own_words(typed: str, zone: str | None) -> None:
    choices = consultation_hours(settings.practice_profile(settings.DEFAULT_PROFILE_PATH).consultation).time_zone_choices
    assert parse_time_zone(typed, choices) == zone


@pytest.mark.parametrize(
    ("change", "named"),
    [({"time_zone": "Mars/Olympus"}, "time_zone"), ({"booking_hours": {"funday": ["09:00-10:00"]}}, "funday"),
     ({"booking_hours": {"monday": ["10:00-09:00"]}}, "closes before"), ({"call_minutes": "fifteen"}, "call_minutes")],
)
def test_a_broken_consultation_section_is_refused_with_what_is_wrong(change: dict, named: str) -> None:
    with pytest.raises(ProfileError, match=named):
        consultation_hours({**SECTION, **change})
