"""The review's queries: filters, search, keyset pages, booking requests, unanswered messages."""

from datetime import date, timedelta
from typing import List

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from review import queries
from review.queries import ConversationFilter, Cursor, InvalidQuery
from review.summaries import refresh_summaries
from review.tables import conversation_summaries, events, unanswered_messages
from tests.review.conftest import Conversations, booking_request_of

# "unsure" depends on the trained model's confidences; tests/review/test_unsure.py checks it.
EXPECTED_FLAGS = {"crisis": "crisis", "booking": "booking", "unanswered": "fallback", "medical": "medical"}


def ids_matching(database: Engine, selection: ConversationFilter) -> List[str]:
    refresh_summaries(database)
    with database.connect() as connection:
        return [row["conversation_id"] for row in queries.list_conversations(connection, selection, limit=10_000).rows]


def all_pages(database: Engine, selection: ConversationFilter, limit: int) -> List[List[str]]:
    pages, before = [], None
    with database.connect() as connection:
        while True:
            page = queries.list_conversations(connection, selection, before=before, limit=limit)
            pages.append([row["conversation_id"] for row in page.rows])
            if page.older is None:
                return pages
            before = page.older


def test_the_list_is_newest_first(database: Engine, conversations: Conversations) -> None:
    refresh_summaries(database)
    with database.connect() as connection:
        rows = queries.list_conversations(connection, ConversationFilter(), limit=10_000).rows
    keys = [(row["started_at"], row["conversation_id"]) for row in rows]
    assert keys == sorted(keys, reverse=True)
    ours = [row["conversation_id"] for row in rows if row["conversation_id"] in conversations.all()]
    assert ours == list(reversed(conversations.all()))


def test_keyset_pages_cover_every_conversation_once_in_order(database: Engine) -> None:
    everything = ids_matching(database, ConversationFilter())
    pages = all_pages(database, ConversationFilter(), limit=3)

    assert [conversation for page in pages for conversation in page] == everything
    assert all(len(page) == 3 for page in pages[:-1])


def test_going_back_to_newer_pages_gives_the_same_pages(database: Engine) -> None:
    everything = ConversationFilter()
    with database.connect() as connection:
        first = queries.list_conversations(connection, everything, limit=3)
        second = queries.list_conversations(connection, everything, before=first.older, limit=3)
        third = queries.list_conversations(connection, everything, before=second.older, limit=3)
        back = queries.list_conversations(connection, everything, after=third.newer, limit=3)
        front = queries.list_conversations(connection, everything, after=second.newer, limit=3)

    assert back == second
    assert front.rows == first.rows and front.newer is None


@pytest.mark.parametrize("flag", EXPECTED_FLAGS)
def test_a_flag_filter_keeps_only_conversations_with_that_flag(
    database: Engine, conversations: Conversations, flag: str
) -> None:
    found = ids_matching(database, ConversationFilter(flag=flag))

    assert getattr(conversations, EXPECTED_FLAGS[flag]) in found
    assert conversations.faq not in found and conversations.greeting not in found


def test_the_channel_filter_keeps_only_that_channel(database: Engine, conversations: Conversations) -> None:
    assert conversations.faq in ids_matching(database, ConversationFilter(channel="rest"))
    assert conversations.faq not in ids_matching(database, ConversationFilter(channel="facebook"))
    with database.connect() as connection:
        assert "rest" in queries.channels(connection)


def test_the_date_filter_keeps_the_conversations_of_those_days(database: Engine, conversations: Conversations) -> None:
    today = date.today()
    assert conversations.faq in ids_matching(database, ConversationFilter(date_from=today, date_to=today))
    assert conversations.faq not in ids_matching(database, ConversationFilter(date_from=today + timedelta(days=1)))
    assert conversations.faq not in ids_matching(database, ConversationFilter(date_to=today - timedelta(days=1)))


def test_the_search_finds_words_the_visitor_wrote_in_any_case(database: Engine, conversations: Conversations) -> None:
    found = ids_matching(database, ConversationFilter(search="SERTRALINE"))

    assert conversations.medical in found
    assert conversations.faq not in found


def test_the_search_finds_an_answer_given_inside_the_booking_form(database: Engine, conversations: Conversations) -> None:
    assert conversations.booking in ids_matching(database, ConversationFilter(search="jordan@example.com"))


def conversations_containing(database: Engine, needle: str) -> List[str]:
    """The conversations whose visitor text holds `needle` literally, checked in Python."""
    with database.connect() as connection:
        rows = connection.execute(sa.select(conversation_summaries.c.conversation_id, conversation_summaries.c.visitor_text))
        return sorted(row.conversation_id for row in rows if needle.lower() in row.visitor_text)


@pytest.mark.parametrize("crafted", ["' OR 1=1 --", "%", "_", "%' OR '1'='1", "\"; DROP TABLE events; --", "\\"])
def test_a_crafted_search_is_searched_for_as_text(database: Engine, crafted: str) -> None:
    found = ids_matching(database, ConversationFilter(search=crafted))

    assert sorted(found) == conversations_containing(database, crafted)
    assert len(found) < len(ids_matching(database, ConversationFilter()))
    with database.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(events)).scalar() > 0


def test_a_crafted_channel_matches_nothing(database: Engine) -> None:
    assert ids_matching(database, ConversationFilter(channel="rest' OR '1'='1")) == []


@pytest.mark.parametrize("flag", ["crisis OR 1=1", "visitor_text", "conversation_id", "CRISIS"])
def test_a_flag_outside_the_fixed_set_is_refused(flag: str) -> None:
    with pytest.raises(InvalidQuery):
        ConversationFilter(flag=flag)


@pytest.mark.parametrize("cursor", ["", "abc", "1.5", "nan:x", "1.5:", "') OR 1=1 --:x"])
def test_a_malformed_page_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidQuery):
        Cursor.decode(cursor)


def test_a_page_cursor_survives_its_round_trip() -> None:
    cursor = Cursor(1795428793.1018136, "review:abc:1")
    assert Cursor.decode(cursor.encode()) == cursor


def test_the_count_agrees_with_the_list(database: Engine) -> None:
    for selection in (ConversationFilter(), ConversationFilter(flag="crisis"), ConversationFilter(search="blorf")):
        with database.connect() as connection:
            count = queries.count_conversations(connection, selection)
        assert count == len(ids_matching(database, selection))


def test_booking_requests_are_listed_newest_first_and_change_status(
    database: Engine, conversations: Conversations
) -> None:
    booking = booking_request_of(database, conversations.booking)
    with database.begin() as connection:
        listed = queries.list_booking_requests(connection)
        assert [row["id"] for row in listed] == sorted((row["id"] for row in listed), reverse=True)
        assert queries.set_booking_status(connection, booking["id"], "contacted") is True
        assert booking["id"] in [row["id"] for row in queries.list_booking_requests(connection, status="contacted")]
        assert booking["id"] not in [row["id"] for row in queries.list_booking_requests(connection, status="new")]
        assert queries.set_booking_status(connection, booking["id"], "new") is True
        assert queries.set_booking_status(connection, 10**9, "closed") is False
        with pytest.raises(InvalidQuery):
            queries.set_booking_status(connection, booking["id"], "deleted")


def test_unanswered_messages_are_kept_with_what_the_assistant_understood(
    database: Engine, conversations: Conversations
) -> None:
    refresh_summaries(database)
    with database.connect() as connection:
        rows = connection.execute(
            sa.select(unanswered_messages).where(unanswered_messages.c.conversation_id == conversations.fallback)
        ).all()

    assert [row.text for row in rows] == ["blorf zzz"]
    assert rows[0].intent in ("nlu_fallback", "out_of_scope") and rows[0].assigned_intent is None


def test_identical_unanswered_texts_are_counted_once(database: Engine, conversations: Conversations) -> None:
    refresh_summaries(database)
    with database.connect() as connection:
        texts = {row["text"]: row for row in queries.unanswered_texts(connection, assigned=False)}
        sent = connection.execute(
            sa.select(sa.func.count()).where(unanswered_messages.c.text == "blorf zzz",
                                             unanswered_messages.c.assigned_intent.is_(None))
        ).scalar()

    assert texts["blorf zzz"]["count"] == sent >= 1
    assert texts["blorf zzzz"]["count"] >= 1


def test_an_assignment_covers_every_time_the_text_was_sent_and_can_be_taken_back(
    database: Engine, conversations: Conversations
) -> None:
    refresh_summaries(database)
    with database.begin() as connection:
        changed = queries.assign_intent(connection, ["blorf zzzz"], "greet")
        assigned = queries.assignments(connection)
        taken_back = queries.assign_intent(connection, ["blorf zzzz"], None)

    assert changed >= 1 and taken_back == changed
    assert ("blorf zzzz", "greet") in assigned
