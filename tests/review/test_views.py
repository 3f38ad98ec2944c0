"""Every page and action of the review app, through the real server and database."""

import csv
import html
import io
import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterator
from urllib.parse import quote, urlencode

import pytest
import sqlalchemy as sa
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
from sqlalchemy.engine import Engine

from assistant.settings import practice_profile
from review.queries import Cursor, conversation_summary
from review.tables import unanswered_messages
from tests.review.conftest import BOOKING_SCRIPT, PASSWORD, Conversations, booking_request_of
from tests.review.servers import (
    ReviewClient,
    age_conversations,
    copy_sqlite_database,
    signed_in_client,
    start_review_app,
    stop_review_app,
)
from tests.review.test_privacy import rows_about


def row_for(page: str, conversation_id: str) -> str | None:
    """The list's table row of one conversation, as HTML, or None."""
    match = re.search(rf'<tr class="[^"]*" data-conversation="{re.escape(conversation_id)}">(.*?)</tr>', page, re.S)
    return match.group(0) if match else None


def shown(fragment: str) -> str:
    """What a reader sees of an HTML fragment: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def listed(client: ReviewClient, query: str) -> str:
    response = client.get(f"/conversations?{query}")
    assert response.status_code == 200, response.text
    return response.text


# The conversation list


def test_the_home_page_is_the_conversation_list(therapist: ReviewClient) -> None:
    response = therapist.get("/")
    assert response.status_code == 303 and response.headers["Location"] == "/conversations"


def test_the_list_gives_date_channel_first_message_turns_and_flags(therapist: ReviewClient, conversations: Conversations) -> None:
    row = row_for(listed(therapist, "flag=booking"), conversations.booking)

    assert row is not None
    text = shown(row)
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", text)
    assert "rest" in text and "I'd like to book the free call" in text
    assert " 6 " in f" {text} "
    assert "Booking requested" in text


def test_a_crisis_conversation_stands_out_in_the_list(therapist: ReviewClient, conversations: Conversations) -> None:
    page = listed(therapist, "view=all")
    row = row_for(page, conversations.crisis)

    assert row is not None and 'class="crisis"' in row and "Crisis" in shown(row)
    assert 'class="crisis"' not in (row_for(page, conversations.faq) or "")


@pytest.mark.parametrize(
    ("query", "included", "excluded"),
    [
        ("flag=crisis", "crisis", "faq"),
        ("flag=booking", "booking", "crisis"),
        ("flag=unanswered", "fallback", "faq"),
        ("flag=medical", "medical", "booking"),
        ("channel=rest", "faq", None),
        ("channel=facebook", None, "faq"),
        ("q=sertraline", "medical", "faq"),
        ("q=Weekday+Mornings", "booking", "medical"),
    ],
)
def test_filters_and_search_narrow_the_list(
    therapist: ReviewClient, conversations: Conversations, query: str, included: str | None, excluded: str | None
) -> None:
    page = listed(therapist, query)

    if included:
        assert row_for(page, getattr(conversations, included)) is not None
    if excluded:
        assert row_for(page, getattr(conversations, excluded)) is None


def test_the_date_filter_narrows_the_list(therapist: ReviewClient, conversations: Conversations, database: Engine) -> None:
    with database.connect() as connection:
        summary = conversation_summary(connection, conversations.faq)
    day = datetime.fromtimestamp(summary["started_at"]).date()

    assert row_for(listed(therapist, f"from={day}&to={day}"), conversations.faq) is not None
    assert row_for(listed(therapist, f"from={day + timedelta(days=1)}"), conversations.faq) is None
    assert row_for(listed(therapist, f"to={day - timedelta(days=1)}"), conversations.faq) is None


def test_page_links_move_to_older_and_newer_conversations(
    therapist: ReviewClient, conversations: Conversations, database: Engine
) -> None:
    with database.connect() as connection:
        crisis = conversation_summary(connection, conversations.crisis)
    cursor = quote(Cursor(crisis["started_at"], crisis["conversation_id"]).encode())

    older = listed(therapist, f"before={cursor}")
    newer = listed(therapist, f"after={cursor}")

    assert row_for(older, conversations.faq) and not row_for(older, conversations.fallback)
    assert row_for(newer, conversations.fallback) and not row_for(newer, conversations.faq)
    assert not row_for(older, conversations.crisis) and not row_for(newer, conversations.crisis)
    assert 'rel="prev"' in older


@pytest.mark.parametrize(
    "query",
    [
        "flag=crisis%27%20OR%20%271%27%3D%271",
        "flag=visitor_text",
        "before=1%27%20OR%201%3D1%20--",
        "after=abc",
        "from=2024-02-30",
        "to=yesterday%27%3B--",
        "q=" + "x" * 201,
    ],
)
def test_a_crafted_filter_is_refused_not_run(therapist: ReviewClient, query: str) -> None:
    response = therapist.get(f"/conversations?{query}")
    assert response.status_code == 400
    assert "data-conversation" not in response.text


@pytest.mark.parametrize("query", ["channel=rest%27%20OR%20%271%27%3D%271", "q=%25", "q=%27%20OR%201%3D1%20--", "q=_"])
def test_a_crafted_channel_or_search_is_taken_as_text(therapist: ReviewClient, conversations: Conversations, query: str) -> None:
    page = listed(therapist, query)
    assert not any(row_for(page, conversation) for conversation in conversations.all())


# The transcript


def test_the_transcript_shows_every_message_its_time_and_what_was_understood(
    therapist: ReviewClient, conversations: Conversations
) -> None:
    page = therapist.get(f"/conversations/{conversations.booking}").text
    text = shown(page)

    for message in BOOKING_SCRIPT:
        assert message in text
    assert "Your request is with" in text
    assert len(re.findall(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", text)) >= 2 * len(BOOKING_SCRIPT)
    assert "answered with Book the free call" in text
    assert len(re.findall(r"answered with [^(]+ \(\d+%\)", text)) == len(BOOKING_SCRIPT)


def test_the_transcript_shows_buttons_offered_and_pressed_and_the_forms_steps(
    therapist: ReviewClient, conversations: Conversations
) -> None:
    page = therapist.get(f"/conversations/{conversations.booking}").text
    text = shown(page)

    assert '<ul class="buttons" aria-label="Buttons offered">' in page
    assert text.count("Pressed button") == 2
    assert "Form started: booking_form" in text and "Form asks for: contact" in text and "Form ended" in text
    assert "Jordan Lee · jordan@example.com · weekday mornings" in text


def test_a_crisis_message_stands_out_in_the_transcript(therapist: ReviewClient, conversations: Conversations) -> None:
    page = therapist.get(f"/conversations/{conversations.crisis}").text
    message = re.search(r'<li class="message visitor crisis[^"]*">(.*?)</li>', page, re.S)

    assert message is not None
    assert "I want to kill myself" in shown(message.group(1))
    assert "Possible crisis" in shown(message.group(1))
    assert "safety net matched" in shown(message.group(1))


def test_markup_a_visitor_typed_is_shown_as_text(therapist: ReviewClient, conversations: Conversations) -> None:
    for path in (f"/conversations/{conversations.markup}", "/conversations", "/unanswered", "/bookings"):
        page = therapist.get(path).text
        assert "<script" not in page and "<img" not in page
    transcript = therapist.get(f"/conversations/{conversations.markup}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(2)&gt;" in transcript


def test_an_unknown_conversation_is_not_found(therapist: ReviewClient) -> None:
    assert therapist.get("/conversations/no-such-conversation").status_code == 404


# Booking requests


def test_the_inbox_lists_each_request_with_a_link_to_its_conversation(
    therapist: ReviewClient, conversations: Conversations, database: Engine
) -> None:
    booking = booking_request_of(database, conversations.booking)
    page = therapist.get("/bookings").text
    row = re.search(rf'<tr data-booking="{booking["id"]}".*?</tr>', page, re.S).group(0)

    text = shown(row)
    assert "Jordan Lee" in text and "jordan@example.com (email)" in text and "weekday mornings" in text
    assert " yes " in f" {text} "
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", text)
    assert f'href="/conversations/{conversations.booking}"' in row


def test_the_therapist_moves_a_request_to_contacted_and_back(
    therapist: ReviewClient, conversations: Conversations, database: Engine
) -> None:
    booking = booking_request_of(database, conversations.booking)

    response = therapist.submit(f"/bookings/{booking['id']}/status", {"status": "contacted"}, page="/bookings")

    assert response.status_code == 303
    assert booking_request_of(database, conversations.booking)["status"] == "contacted"
    contacted = therapist.get("/bookings?status=contacted").text
    assert f'data-booking="{booking["id"]}"' in contacted
    assert f'data-booking="{booking["id"]}"' not in therapist.get("/bookings?status=new").text
    therapist.submit(f"/bookings/{booking['id']}/status", {"status": "new"}, page="/bookings")
    assert booking_request_of(database, conversations.booking)["status"] == "new"


def test_an_unknown_status_or_request_is_refused(
    therapist: ReviewClient, conversations: Conversations, database: Engine
) -> None:
    booking = booking_request_of(database, conversations.booking)

    assert therapist.submit(f"/bookings/{booking['id']}/status", {"status": "deleted"}).status_code == 400
    assert therapist.submit("/bookings/999999999/status", {"status": "closed"}).status_code == 404
    assert therapist.get("/bookings?status=everything").status_code == 400
    assert booking_request_of(database, conversations.booking)["status"] == booking["status"]


# Unanswered questions


def group_holding(page: str, text: str) -> str:
    for section in page.split('<section class="group">')[1:]:
        if f'<bdi class="text">{text}</bdi>' in section:
            return section
    raise AssertionError(f"{text!r} is in no group")


def exported(client: ReviewClient) -> set:
    export = client.get("/unanswered/export.yml")
    assert export.status_code == 200 and export.headers["Content-Disposition"].startswith("attachment;")
    return {
        (message.get("text"), message.get("intent_response_key") or message.get("intent"))
        for message in RasaYAMLReader().reads(export.text).intent_examples
    }


def test_similar_unanswered_messages_are_shown_together(therapist: ReviewClient, conversations: Conversations) -> None:
    page = therapist.get("/unanswered").text
    group = group_holding(page, "blorf zzz")

    assert '<bdi class="text">blorf zzzz</bdi>' in group
    assert "Assign all" in group
    assert '<option value="faq/safety">Is it safe?</option>' in group


def test_an_assignment_is_exported_as_nlu_yaml_that_rasa_reads(therapist: ReviewClient, conversations: Conversations) -> None:
    response = therapist.submit("/unanswered/assign", {"text": "blorf zzz", "intent": "faq/safety"}, page="/unanswered")
    assert response.status_code == 303
    try:
        assigned = therapist.get("/unanswered").text.split('<section class="assigned">')[1]
        assert "blorf zzz" in assigned and "Is it safe?" in assigned
        assert ("blorf zzz", "faq/safety") in exported(therapist)
    finally:
        therapist.submit("/unanswered/unassign", {"text": "blorf zzz"}, page="/unanswered")
    assert ("blorf zzz", "faq/safety") not in exported(therapist)


def test_a_whole_group_is_assigned_at_once(therapist: ReviewClient, conversations: Conversations, database: Engine) -> None:
    texts = ["blorf zzz", "blorf zzzz"]

    therapist.submit("/unanswered/assign", {"text": texts, "intent": "greet"}, page="/unanswered")
    try:
        with database.connect() as connection:
            intents = connection.execute(
                sa.select(unanswered_messages.c.assigned_intent).where(
                    unanswered_messages.c.conversation_id.in_([conversations.fallback, conversations.fallback_again])
                )
            ).scalars().all()
        assert intents == ["greet", "greet"]
    finally:
        therapist.submit("/unanswered/unassign", {"text": texts}, page="/unanswered")


def test_an_intent_the_assistant_does_not_have_is_refused(therapist: ReviewClient) -> None:
    response = therapist.submit("/unanswered/assign", {"text": "blorf zzz", "intent": "made_up"}, page="/unanswered")

    assert response.status_code == 400
    assert not any(text == "blorf zzz" for text, _ in exported(therapist))


# Exports


def test_one_conversation_exports_as_json_with_everything_stored(therapist: ReviewClient, conversations: Conversations) -> None:
    response = therapist.get(f"/data/export?conversation={conversations.booking}&format=json")

    assert response.status_code == 200
    assert f'filename="conversation_{conversations.booking}.json"' in response.headers["Content-Disposition"]
    document = response.json()
    assert [e["text"] for e in document["events"] if e["event"] == "user"] == list(BOOKING_SCRIPT)
    assert document["booking_requests"][0]["name"] == "Jordan Lee"


def test_one_conversation_exports_as_csv_one_row_a_message(therapist: ReviewClient, conversations: Conversations) -> None:
    response = therapist.get(f"/data/export?conversation={conversations.booking}&format=csv")

    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["text"] for row in rows if row["speaker"] == "visitor"] == list(BOOKING_SCRIPT)


def test_all_conversations_export_as_json_and_csv(therapist: ReviewClient, conversations: Conversations) -> None:
    documents = therapist.get("/data/export?format=json").json()
    rows = list(csv.DictReader(io.StringIO(therapist.get("/data/export?format=csv").text)))

    assert set(conversations.all()) <= {document["conversation_id"] for document in documents}
    assert set(conversations.all()) <= {row["conversation_id"] for row in rows}


def test_an_export_format_other_than_json_or_csv_is_refused(therapist: ReviewClient) -> None:
    assert therapist.get("/data/export?format=xml").status_code == 400


def test_the_data_page_names_the_retention_period_of_the_practice_profile(therapist: ReviewClient) -> None:
    text = shown(therapist.get("/data").text)
    assert f"kept for {practice_profile().retention_days} days" in text


# Deleting


def test_deleting_a_conversation_asks_first_then_removes_everything_and_says_so(
    therapist: ReviewClient, new_conversation, database: Engine
) -> None:
    conversation_id = new_conversation("blorf zzz", *BOOKING_SCRIPT)
    confirm = therapist.get(f"/conversations/{conversation_id}/delete")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text
    assert rows_about(database, conversation_id)["events"] > 0

    response = therapist.submit(f"/conversations/{conversation_id}/delete", {}, page=f"/conversations/{conversation_id}/delete")

    assert response.status_code == 303
    notice = therapist.get(response.headers["Location"]).text
    assert "everything stored about it" in shown(notice)
    assert row_for(notice, conversation_id) is None
    assert therapist.get(f"/conversations/{conversation_id}").status_code == 404
    assert rows_about(database, conversation_id) == {"events": 0, "booking_requests": 0, "summaries": 0, "unanswered": 0}


def test_deleting_a_conversation_that_is_gone_says_not_found(therapist: ReviewClient) -> None:
    assert therapist.submit("/conversations/no-such-conversation/delete", {}).status_code == 404


# Purging


@pytest.fixture
def aged_review_app(running_assistant, new_conversation, tmp_path: Path) -> Iterator[tuple]:
    """A review app on a copy of the database in which one real conversation is 400 days old."""
    old = new_conversation(*BOOKING_SCRIPT)
    url = copy_sqlite_database(running_assistant.database_url, tmp_path / "aged.db")
    age_conversations(url, [old], days=400)
    app = start_review_app(url, PASSWORD)
    yield app, old
    stop_review_app(app)


def test_the_app_purges_conversations_older_than_the_retention_period(
    aged_review_app: tuple, conversations: Conversations
) -> None:
    app, old = aged_review_app
    client = signed_in_client(app)
    assert "1 conversation is older than that" in shown(client.get("/data").text)

    response = client.submit("/data/purge", {}, page="/data")

    assert response.status_code == 303
    assert "1 conversation(s) older than the retention period were deleted" in shown(client.get(response.headers["Location"]).text)
    assert client.get(f"/conversations/{old}").status_code == 404
    assert client.get(f"/conversations/{conversations.booking}").status_code == 200
    assert "0 conversations are older than that" in shown(client.get("/data").text)


def test_a_conversation_whose_id_needs_quoting_opens_exports_and_deletes(
    therapist: ReviewClient, running_assistant, database: Engine
) -> None:
    conversation_id = f"odd id/é?#&{uuid.uuid4().hex[:6]}"
    running_assistant.say(conversation_id, "is ketamine safe?")
    link = f"/conversations/{quote(conversation_id, safe='')}"

    assert f'href="{link}"' in listed(therapist, "q=is+ketamine+safe")
    assert "is ketamine safe?" in therapist.get(link).text
    assert therapist.get(f"/data/export?{urlencode({'conversation': conversation_id})}").json()["conversation_id"] == conversation_id
    response = therapist.submit(f"{link}/delete", {}, page=f"{link}/delete")

    assert response.status_code == 303
    assert rows_about(database, conversation_id)["events"] == 0
