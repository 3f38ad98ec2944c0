"""Nobody sees a conversation without signing in; sign-in is guarded, forms carry tokens."""

import re
import threading
import time
from typing import Iterator, List, Tuple

import pytest

from review.app import PUBLIC_PATHS, STATIC_PREFIX, create_app
from review.config import ReviewConfig
from tests.review.conftest import PASSWORD, Conversations, booking_request_of
from tests.review.servers import ReviewClient, RunningReviewApp, start_review_app, stop_review_app

SAMPLE_PARAMETERS = {"<conversation_id:str>": "{conversation}", "<booking_id:int>": "{booking}"}


def app_routes() -> List[Tuple[str, str]]:
    """Every (method, path) the app serves, read from the app itself, so a new page is checked too."""
    app = create_app(ReviewConfig("sqlite://", "key", lambda: None), name="review-route-listing")
    routes = []
    for route in app.router.routes:
        path = "/" + route.path
        for placeholder, sample in SAMPLE_PARAMETERS.items():
            path = path.replace(placeholder, sample)
        for method in route.methods - {"HEAD", "OPTIONS"}:
            routes.append((method, path))
    return sorted(routes)


PROTECTED = [
    (method, path)
    for method, path in app_routes()
    if path not in PUBLIC_PATHS and not path.startswith(STATIC_PREFIX)
]
EXPORTS = ["/data/export?format=json", "/data/export?format=csv", "/unanswered/export.yml"]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_no_page_or_action_is_open_to_anyone_not_signed_in(
    stranger: ReviewClient, conversations: Conversations, database, method: str, path: str
) -> None:
    booking = booking_request_of(database, conversations.booking)
    url = path.format(conversation=conversations.crisis, booking=booking["id"])
    if method == "GET":
        response = stranger.get(url)
    else:
        response = stranger.post(url, {"csrf_token": stranger.csrf_token(), "status": "closed"})

    assert response.status_code == 303
    assert response.headers["Location"].startswith("/sign-in?next=")
    assert "kill" not in response.text and "Jordan" not in response.text
    assert booking_request_of(database, conversations.booking)["status"] == booking["status"]


@pytest.mark.parametrize("path", EXPORTS)
def test_no_export_is_given_to_anyone_not_signed_in(stranger: ReviewClient, conversations: Conversations, path: str) -> None:
    response = stranger.get(path + ("&" if "?" in path else "?") + f"conversation={conversations.crisis}")

    assert response.status_code == 303 and response.content == b""


def test_the_sign_in_page_is_open_and_asks_only_for_the_password(stranger: ReviewClient) -> None:
    response = stranger.get("/sign-in")

    assert response.status_code == 200
    assert 'type="password"' in response.text and 'name="csrf_token"' in response.text


def test_a_wrong_password_is_refused(stranger: ReviewClient) -> None:
    response = stranger.sign_in("not the password at all")

    assert response.status_code == 401
    assert "not right" in response.text
    assert stranger.get("/conversations").status_code == 303


def test_the_right_password_opens_the_page_that_was_asked_for(
    stranger: ReviewClient, conversations: Conversations
) -> None:
    asked = stranger.get(f"/conversations/{conversations.crisis}")
    next_path = re.search(r"next=([^&]+)", asked.headers["Location"]).group(1)

    response = stranger.sign_in(PASSWORD, next_path=f"/conversations/{conversations.crisis}")

    assert "conversations" in next_path
    assert response.status_code == 303 and response.headers["Location"] == f"/conversations/{conversations.crisis}"
    assert stranger.get(f"/conversations/{conversations.crisis}").status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"])
def test_sign_in_never_sends_the_therapist_to_another_site(stranger: ReviewClient, target: str) -> None:
    response = stranger.sign_in(PASSWORD, next_path=target)
    assert response.headers["Location"] == "/conversations"


def test_the_session_cookie_is_signed_httponly_and_samesite(stranger: ReviewClient) -> None:
    stranger.csrf_token("/sign-in")
    token = stranger.csrf_token("/sign-in")
    response = stranger.post("/sign-in", {"csrf_token": token, "password": PASSWORD, "next": "/conversations"})

    [cookie] = [c for c in response.raw.headers.getlist("Set-Cookie") if c.startswith("review_session=")]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie


def test_a_forged_session_cookie_is_not_signed_in(review_app: RunningReviewApp) -> None:
    client = ReviewClient(review_app.url)
    client.http.cookies.set("review_session", "eyJzaWQiOiJ4IiwiY3NyZiI6InkifQ.forged.signature")

    assert client.get("/conversations").status_code == 303


def test_signing_out_ends_the_session_even_for_a_kept_cookie(therapist: ReviewClient, review_app: RunningReviewApp) -> None:
    kept_cookie = therapist.http.cookies.get("review_session")

    response = therapist.submit("/sign-out", {})

    assert response.status_code == 303 and response.headers["Location"] == "/sign-in"
    replay = ReviewClient(review_app.url)
    replay.http.cookies.set("review_session", kept_cookie)
    assert replay.get("/conversations").status_code == 303


def test_sign_in_without_its_csrf_token_is_refused(stranger: ReviewClient) -> None:
    stranger.get("/sign-in")
    response = stranger.post("/sign-in", {"password": PASSWORD})

    assert response.status_code == 403
    assert stranger.get("/conversations").status_code == 303


def test_a_form_without_its_csrf_token_is_refused(
    therapist: ReviewClient, conversations: Conversations, database
) -> None:
    booking = booking_request_of(database, conversations.booking)
    target = "closed" if booking["status"] != "closed" else "new"

    missing = therapist.post(f"/bookings/{booking['id']}/status", {"status": target})
    forged = therapist.post(f"/bookings/{booking['id']}/status", {"status": target, "csrf_token": "x" * 43})
    deleted = therapist.post(f"/conversations/{conversations.greeting}/delete", {})

    assert (missing.status_code, forged.status_code, deleted.status_code) == (403, 403, 403)
    assert booking_request_of(database, conversations.booking)["status"] == booking["status"]
    assert therapist.get(f"/conversations/{conversations.greeting}").status_code == 200


def test_another_sessions_csrf_token_is_refused(review_app: RunningReviewApp, therapist: ReviewClient, conversations) -> None:
    other = ReviewClient(review_app.url)
    other.sign_in(PASSWORD)
    token_of_other = other.csrf_token("/conversations")

    response = therapist.post(f"/conversations/{conversations.greeting}/delete", {"csrf_token": token_of_other})

    assert response.status_code == 403


def test_pages_forbid_scripts_framing_caching_and_referrers(therapist: ReviewClient) -> None:
    headers = therapist.get("/conversations").headers

    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "script-src" not in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"


@pytest.fixture
def throttled_app(tmp_path) -> Iterator[RunningReviewApp]:
    """A review app on a database of its own, where the throttle records these tests' lockouts."""
    app = start_review_app(f"sqlite:///{tmp_path / 'throttled.db'}", PASSWORD)
    yield app
    stop_review_app(app)


def timed_sign_in(client: ReviewClient, password: str) -> Tuple[int, float]:
    token = client.csrf_token("/sign-in")
    started = time.monotonic()
    response = client.post("/sign-in", {"csrf_token": token, "password": password})
    return response.status_code, time.monotonic() - started


def test_repeated_wrong_passwords_are_answered_ever_more_slowly_then_refused(throttled_app: RunningReviewApp) -> None:
    client = ReviewClient(throttled_app.url)

    attempts = [timed_sign_in(client, f"guess number {n}") for n in range(4)]
    statuses, durations = zip(*attempts)

    assert statuses == (401, 401, 401, 401)
    assert durations[0] >= 0.25 and durations[3] >= 2.0
    assert durations[3] > durations[2] > durations[1] > durations[0]
    assert timed_sign_in(client, "guess number 5")[0] == 429  # the fifth failure locks out
    status, duration = timed_sign_in(client, PASSWORD)
    assert status == 429 and duration < 1.0  # even the right password waits, unchecked


def test_an_attempt_made_while_waiting_is_refused_without_checking(throttled_app: RunningReviewApp) -> None:
    slow, fast = ReviewClient(throttled_app.url), ReviewClient(throttled_app.url)
    for _ in range(3):
        timed_sign_in(slow, "wrong password here")
    slow_token, fast_token = slow.csrf_token("/sign-in"), fast.csrf_token("/sign-in")
    worker = threading.Thread(target=slow.post, args=("/sign-in", {"csrf_token": slow_token, "password": "wrong again"}))
    worker.start()
    time.sleep(1.0)  # the fourth failure is being answered, in 2 seconds
    response = fast.post("/sign-in", {"csrf_token": fast_token, "password": PASSWORD})
    worker.join()

    assert response.status_code == 429
    assert "Retry-After" in response.headers
