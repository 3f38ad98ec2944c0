"""Review states and notes: the list opens on what waits, filters and counts agree with the database.

Every conversation here is held with the running assistant; states and notes are
set through the review app's own forms, as the therapist sets them.
"""

import json
import re
import uuid
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from review import queries
from review.privacy import delete_conversation
from review.queries import ConversationFilter
from review.review_state import NOTE_LIMIT, review_counts, review_of, set_note, set_state
from review.summaries import refresh_summaries
from review.tables import conversation_reviews
from tests.review.servers import ReviewClient
from tests.review.test_views import row_for

CRISIS = "I want to kill myself"
UNANSWERED = "blorf zzz"
GREETING = "hello"
NAV_COUNT = re.compile(r'id="to-review-count">(\d+) to review<')
FLAG_COUNT = re.compile(r'data-count="(\w+)">[^<:]+: (\d+) new<')


def page_of(client: ReviewClient, query: str = "") -> str:
    response = client.get(f"/conversations{'?' + query if query else ''}")
    assert response.status_code == 200, response.text
    return response.text


def state_of(database: Engine, conversation_id: str) -> str:
    with database.connect() as connection:
        return review_of(connection, conversation_id).state


def move(client: ReviewClient, conversation_id: str, state: str) -> None:
    response = client.submit(f"/conversations/{quote(conversation_id, safe='')}/state", {"state": state})
    assert response.status_code == 303, response.text


def save_note(client: ReviewClient, conversation_id: str, note: str):
    return client.submit(f"/conversations/{quote(conversation_id, safe='')}/note", {"note": note})


def test_the_list_opens_on_new_conversations_with_a_review_flag(therapist: ReviewClient, new_conversation) -> None:
    crisis, unanswered, greeting = new_conversation(CRISIS), new_conversation(UNANSWERED), new_conversation(GREETING)

    page = page_of(therapist)

    assert row_for(page, crisis) and row_for(page, unanswered)
    assert row_for(page, greeting) is None
    assert row_for(page_of(therapist, "view=all"), greeting) is not None


def test_opening_a_transcript_moves_it_from_new_to_read(
    therapist: ReviewClient, new_conversation, database: Engine
) -> None:
    crisis = new_conversation(CRISIS)
    assert row_for(page_of(therapist), crisis) and state_of(database, crisis) == "new"

    assert therapist.get(f"/conversations/{crisis}").status_code == 200

    assert state_of(database, crisis) == "read"
    assert row_for(page_of(therapist), crisis) is None
    assert row_for(page_of(therapist, "state=read"), crisis) is not None
    assert row_for(page_of(therapist, "state=new"), crisis) is None


def test_opening_a_transcript_again_keeps_the_state_the_therapist_chose(
    therapist: ReviewClient, new_conversation, database: Engine
) -> None:
    conversation = new_conversation(UNANSWERED)
    move(therapist, conversation, "follow_up")

    therapist.get(f"/conversations/{conversation}")

    assert state_of(database, conversation) == "follow_up"


def test_the_navigation_counts_what_the_database_holds(
    therapist: ReviewClient, new_conversation, database: Engine
) -> None:
    unanswered = new_conversation(UNANSWERED)
    before = page_of(therapist, "view=all")
    with database.connect() as connection:
        counts = review_counts(connection)

    assert int(NAV_COUNT.search(before).group(1)) == counts.to_review
    assert {flag: int(count) for flag, count in FLAG_COUNT.findall(before)} == counts.new_by_flag
    assert f"All ({counts.total})" in before

    therapist.get(f"/conversations/{unanswered}")

    after = page_of(therapist, "view=all")
    assert int(NAV_COUNT.search(after).group(1)) == counts.to_review - 1
    assert dict(FLAG_COUNT.findall(after))["unanswered"] == str(counts.new_by_flag["unanswered"] - 1)


def test_the_to_review_count_is_the_number_of_conversations_listed(
    therapist: ReviewClient, new_conversation, database: Engine
) -> None:
    new_conversation(CRISIS)
    refresh_summaries(database)
    with database.connect() as connection:
        waiting = queries.count_conversations(connection, ConversationFilter(to_review=True))
        assert review_counts(connection).to_review == waiting

    assert f"<p class=\"count\">{waiting} conversation" in page_of(therapist)


def test_state_and_flag_filters_narrow_the_list(therapist: ReviewClient, new_conversation, database: Engine) -> None:
    follow_up, done = new_conversation(UNANSWERED), new_conversation(UNANSWERED)
    page_of(therapist)
    move(therapist, follow_up, "follow_up")
    move(therapist, done, "done")

    assert row_for(page_of(therapist, "state=follow_up"), follow_up)
    assert row_for(page_of(therapist, "state=follow_up"), done) is None
    assert row_for(page_of(therapist, "state=done"), done)
    assert row_for(page_of(therapist, "state=follow_up&flag=unanswered"), follow_up)
    assert row_for(page_of(therapist, "state=follow_up&flag=crisis"), follow_up) is None
    with database.connect() as connection:
        shown = queries.count_conversations(connection, ConversationFilter(state="follow_up"))
        assert review_counts(connection).by_state["follow_up"] == shown
    assert f"Needs follow-up ({shown})" in page_of(therapist)


def test_an_unknown_state_is_refused_and_changes_nothing(
    therapist: ReviewClient, new_conversation, database: Engine
) -> None:
    conversation = new_conversation(UNANSWERED)
    page_of(therapist)

    response = therapist.submit(f"/conversations/{conversation}/state", {"state": "archived"})

    assert response.status_code == 400 and state_of(database, conversation) == "new"
    assert therapist.get("/conversations?state=archived").status_code == 400


def test_a_note_is_kept_shown_in_the_transcript_and_exported_with_the_conversation(
    therapist: ReviewClient, new_conversation
) -> None:
    conversation = new_conversation(CRISIS)
    note = f"Rang back on Tuesday, safe for now {uuid.uuid4().hex[:6]}"
    page_of(therapist)

    assert save_note(therapist, conversation, note).status_code == 303

    assert note in therapist.get(f"/conversations/{conversation}").text
    exported = json.loads(therapist.get(f"/data/export?conversation={conversation}&format=json").text)
    assert exported["review"] == {"state": "read", "note": note}
    assert note not in page_of(therapist, "view=all")


def test_a_note_too_long_is_refused_and_given_back_to_finish(
    therapist: ReviewClient, new_conversation, database: Engine
) -> None:
    conversation = new_conversation(UNANSWERED)
    page_of(therapist)
    draft = "x" * (NOTE_LIMIT + 1)

    response = save_note(therapist, conversation, draft)

    assert response.status_code == 400 and draft in response.text
    with database.connect() as connection:
        assert review_of(connection, conversation).note == ""


def test_a_note_never_reaches_anyone_not_signed_in(
    therapist: ReviewClient, stranger: ReviewClient, new_conversation, database: Engine
) -> None:
    conversation = new_conversation(CRISIS)
    note = f"private {uuid.uuid4().hex}"
    page_of(therapist)
    save_note(therapist, conversation, note)

    for path in (f"/conversations/{conversation}", f"/data/export?conversation={conversation}&format=json",
                 "/conversations", "/audit", "/audit.csv"):
        response = stranger.get(path)
        assert response.status_code == 303 and note not in response.text
    stranger.post(f"/conversations/{conversation}/note", {"csrf_token": stranger.csrf_token(), "note": "overwritten"})
    with database.connect() as connection:
        assert review_of(connection, conversation).note == note


def test_deleting_a_conversation_deletes_its_state_and_note(database: Engine, new_conversation) -> None:
    conversation = new_conversation(UNANSWERED)
    refresh_summaries(database)
    set_state(database, conversation, "follow_up")
    set_note(database, conversation, "call back")

    delete_conversation(database, conversation)

    with database.connect() as connection:
        left = connection.execute(
            sa.select(sa.func.count()).where(conversation_reviews.c.conversation_id == conversation)
        ).scalar()
    assert left == 0
