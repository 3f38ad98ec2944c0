"""The booking inbox shows the call in the calendar: its time, status, event link, and why it fell back."""

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
import requests

from assistant.database import engine_for, save_booking_request, update_booking_request
from tests.review.conftest import PASSWORD
from tests.review.servers import RunningReviewApp, signed_in_client, start_review_app, stop_review_app

EVENT_URL = "https://calendar.example-practice.com/barbara/consultations/consultation-20261201T1700Z.ics"


@pytest.fixture(scope="module")
def calendar_inbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """A review app on a database with one booked call and one request that fell back."""
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('calendar_inbox')) / 'review.db'}"
    engine = engine_for(url)
    base = {"name": "Jordan Lee", "contact": "jordan@example.com", "contact_kind": "email", "consent": True,
            "channel": "rest"}
    booked = save_booking_request(engine, {**base, "conversation_id": "c-booked",
                                           "preferred_times": "Tuesday 1 December at 5:00 PM (London time)"})
    update_booking_request(engine, booked, {
        "slot_start": datetime(2026, 12, 1, 17, 0, tzinfo=timezone.utc), "visitor_time_zone": "Europe/London",
        "calendar_status": "moved", "calendar_event_url": EVENT_URL, "confirmation_email": "moved: sent",
    })
    fallen_back = save_booking_request(engine, {
        **base, "conversation_id": "c-request", "preferred_times": "weekday mornings",
        "calendar_fallback": "could not read the calendar: ConnectionError",
    })
    app = start_review_app(url, PASSWORD)
    yield app, booked, fallen_back
    stop_review_app(app)


def _row(page: str, booking_id: int) -> str:
    return re.search(rf'<tr data-booking="{booking_id}".*?</tr>', page, re.S).group(0)


def test_the_inbox_shows_the_booked_slot_its_status_and_the_event_link(calendar_inbox: tuple) -> None:
    app, booked, _ = calendar_inbox
    row = _row(signed_in_client(app).get("/bookings").text, booked)
    assert "moved" in row and f'href="{EVENT_URL}"' in row
    assert "Europe/London" in row and "moved: sent" in row


def test_the_inbox_says_why_a_booking_became_a_request(calendar_inbox: tuple) -> None:
    app, _, fallen_back = calendar_inbox
    row = _row(signed_in_client(app).get("/bookings").text, fallen_back)
    assert "Not booked in the calendar: could not read the calendar: ConnectionError" in row


def test_the_events_link_opens_that_one_booking(calendar_inbox: tuple) -> None:
    app, booked, fallen_back = calendar_inbox
    page = signed_in_client(app).get(f"/bookings/{booked}").text
    assert f'data-booking="{booked}"' in page and f'data-booking="{fallen_back}"' not in page
    assert signed_in_client(app).get("/bookings/999999").status_code == 404


def test_the_booking_link_needs_sign_in(calendar_inbox: tuple) -> None:
    app: RunningReviewApp = calendar_inbox[0]
    response = requests.get(f"{app.url}/bookings/{calendar_inbox[1]}", allow_redirects=False, timeout=10)
    assert response.status_code == 303 and "/sign-in" in response.headers["location"]
