"""A visitor books the free call in the website chat, in Chromium, and the call is in a real Radicale.

The browser runs in Berlin (`timezoneId`) while the practice's clock is Los Angeles,
so the test proves that the widget's reported time zone reaches the booking form
(no time-zone question, times shown in Berlin time) and that the time the visitor
tapped is the one booked, in UTC. Uses `models/assistant.tar.gz`, trained with the
calendar intents, as tests/test_calendar_booking_end_to_end.py does; the practice
books every day, so the offered times do not depend on when the suite runs.
"""

import json
import shutil
import subprocess
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest
import yaml

from actions.calendar_slots import slot_description, slot_label
from assistant import settings
from assistant.database import booking_requests_for, engine_for
from tests.calendar_server import RunningCalendar, start_radicale
from tests.channels.test_web_widget_browser import BROWSER_TOOLS, VISITOR_SCRIPT, WIDGET_BUNDLE
from tests.servers import RunningAssistant, free_port, start_assistant, stop_assistant
from web.demo_server import create_server

BROWSER_ZONE = "Europe/Berlin"  # the scenario's `timezoneId`
PRACTICE_ZONE = "America/Los_Angeles"
EVERY_DAY = {day: ["00:00-23:45"] for day in ("monday", "tuesday", "wednesday", "thursday", "friday",
                                               "saturday", "sunday")}
# Words of the visitor's question and of what people tell a therapist: none may reach the calendar.
HEALTH_WORDS = ("ketamine", "safe", "depress", "anxi", "trauma", "medication", "diagnos", "suicid", "treatment")


@pytest.fixture(scope="module")
def calendar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCalendar]:
    """Radicale on loopback with an empty calendar."""
    server = start_radicale(Path(tmp_path_factory.mktemp("widget_radicale")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def page_port() -> int:
    """The demo page's port, known before the assistant starts (its allowed origin)."""
    return free_port()


@pytest.fixture(scope="module")
def calendar_assistant(
    tmp_path_factory: pytest.TempPathFactory, calendar: RunningCalendar, page_port: int
) -> Iterator[RunningAssistant]:
    """Both servers, the calendar connected, every-day booking hours in Los Angeles time."""
    workdir = Path(tmp_path_factory.mktemp("widget_calendar"))
    profile = yaml.safe_load(settings.DEFAULT_PROFILE_PATH.read_text(encoding="utf-8"))
    profile["consultation"] = {**profile["consultation"], "time_zone": PRACTICE_ZONE, "booking_hours": EVERY_DAY,
                               "minimum_notice_hours": 2, "horizon_days": 3}
    (workdir / "practice.yml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    assistant = start_assistant(workdir, f"sqlite:///{workdir / 'assistant.db'}", extra_env={
        **calendar.environment(),
        "PRACTICE_PROFILE": str(workdir / "practice.yml"),
        "ALLOWED_ORIGINS": f"http://127.0.0.1:{page_port}",
    })
    yield assistant
    stop_assistant(assistant)


@pytest.fixture(scope="module")
def booking_page_url(calendar_assistant: RunningAssistant, page_port: int) -> Iterator[str]:
    """The demo page with the chat bubble, talking to the calendar-connected assistant."""
    server = create_server(page_port, calendar_assistant.rasa_url, settings.practice_profile().practice_name)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{page_port}/"
    server.shutdown()
    server.server_close()


def visit(scenario: str, url: str, artifacts: Path) -> Dict[str, Any]:
    """Plays one scenario of `widget_visitor.mjs` and returns what the visitor saw."""
    if not (Path("/usr/bin/chromium").exists() and BROWSER_TOOLS.exists() and WIDGET_BUNDLE.exists()
            and shutil.which("node")):
        pytest.fail("the browser tests need Chromium, playwright-core, node and the widget bundle; "
                    "`make test` installs them")
    finished = subprocess.run(["node", str(VISITOR_SCRIPT), scenario, url, str(artifacts)],
                              capture_output=True, text=True, timeout=300, cwd=settings.PROJECT_ROOT)
    if finished.returncode != 0:
        pytest.fail(f"the visitor's {scenario} scenario failed:\n{finished.stderr[-5000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def test_a_visitor_in_berlin_books_a_time_in_the_widget_and_it_is_in_the_calendar_at_that_time(
    booking_page_url: str, calendar_assistant: RunningAssistant, calendar: RunningCalendar, artifacts_dir: Path
) -> None:
    seen = visit("book_calendar_time", booking_page_url, artifacts_dir)

    assert seen["browserTimeZone"] == BROWSER_ZONE
    assert "Berlin time" in seen["offer"]
    assert not any("Which time zone" in line for line in seen["transcript"]), "the widget had sent the zone"
    assert seen["offeredButtons"][-2:] == ["Other times", "None of these"]
    assert "You're booked, Jordan Lee" in seen["booked"]

    [event] = calendar.calendar().events()
    component = event.icalendar_component
    start = component.decoded("dtstart")
    assert start.tzinfo is not None and start.utcoffset().total_seconds() == 0
    assert f"DTSTART:{start:%Y%m%dT%H%M%S}Z" in event.data
    assert start > datetime.now(timezone.utc)
    assert slot_label(start, BROWSER_ZONE) == seen["chosen"], "the event is not at the time the visitor tapped"
    assert slot_description(start, BROWSER_ZONE) in seen["confirmation"]
    assert slot_description(start, BROWSER_ZONE) in seen["booked"]

    summary, description = str(component.get("summary")), str(component.get("description"))
    assert summary == "Consultation call: Jordan"
    assert "jordan@example.com" in description
    event_text = f"{summary}\n{description}".lower()
    assert "lee" not in event_text.split(), "only the first name goes into the calendar"
    assert [word for word in HEALTH_WORDS if word in event_text] == []

    [request] = booking_requests_for(engine_for(calendar_assistant.database_url), seen["session"])
    assert request["calendar_status"] == "booked"
    assert request["visitor_time_zone"] == BROWSER_ZONE
