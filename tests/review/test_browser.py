"""The therapist's review in headless Chromium: sign in, read, act, export, delete.

Debian's Chromium is driven by playwright-core (`tests/browser/`, which `make test`
installs); screenshots of every step go to `tests/artifacts/review/`.
"""

import json
import os
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from assistant import settings
from tests.review.browser_flow import needs_chromium, run_flow
from tests.review.conftest import BOOKING_SCRIPT, PASSWORD, Conversations, booking_request_of
from tests.review.servers import RunningReviewApp
from tests.review.test_privacy import rows_about

FLOW = Path(__file__).with_name("review_flow.mjs")
ARTIFACTS = settings.PROJECT_ROOT / "tests" / "artifacts" / "review"

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def flow(review_app: RunningReviewApp, conversations: Conversations, running_assistant, database: Engine) -> dict:
    """Runs the browser flow once and returns what it saw."""
    booked = f"review-browser-{os.getpid()}-booking"
    for message in BOOKING_SCRIPT:
        running_assistant.say(booked, message)
    doomed = f"review-browser-{os.getpid()}-delete"
    running_assistant.say(doomed, "hello")
    options = {
        "baseUrl": review_app.url,
        "password": PASSWORD,
        "crisisId": conversations.crisis,
        "bookingId": booking_request_of(database, booked)["id"],
        "bookingConversationId": booked,
        "deleteId": doomed,
        "markupId": conversations.markup,
        "artifacts": str(ARTIFACTS),
    }
    return {**run_flow(FLOW, options), "options": options}


def test_the_therapist_signs_in_in_the_browser(flow: dict) -> None:
    assert flow["askedToSignIn"] is True
    assert flow["signedIn"] is True


def test_the_crisis_conversation_is_opened_from_the_list_and_stands_out(flow: dict) -> None:
    assert flow["crisisRowFlagged"] is True
    assert flow["crisisMessage"] == "I want to kill myself"
    assert flow["crisisLabel"].lower() == "possible crisis"
    assert flow["crisisBorder"] == "3px"


def test_a_booking_request_is_marked_contacted(flow: dict, database: Engine) -> None:
    assert flow["bookingStatus"] == "contacted"
    assert "was updated" in flow["bookingNotice"]
    assert booking_request_of(database, flow["options"]["bookingConversationId"])["status"] == "contacted"


def test_a_conversation_is_exported_from_the_browser(flow: dict) -> None:
    document = json.loads(Path(flow["exportFile"]).read_text())
    assert document["conversation_id"] == flow["options"]["bookingConversationId"]
    assert [event["text"] for event in document["events"] if event["event"] == "user"] == list(BOOKING_SCRIPT)


def test_a_deleted_conversation_is_gone(flow: dict, database: Engine) -> None:
    assert "deleted" in flow["deleteNotice"]
    assert flow["deletedRowsInList"] == 0
    assert flow["deletedStatus"] == 404
    assert rows_about(database, flow["options"]["deleteId"])["events"] == 0


def test_markup_from_a_visitor_never_runs_in_the_browser(flow: dict) -> None:
    assert flow["dialogs"] == [] and flow["errors"] == []
    assert flow["markupText"] == "<script>alert(1)</script> <img src=x onerror=alert(2)>"


def test_each_step_leaves_a_screenshot(flow: dict) -> None:
    shots = [Path(shot) for shot in flow["screenshots"]]
    assert len(shots) == 8
    assert all(shot.stat().st_size > 1000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for shot in shots)
