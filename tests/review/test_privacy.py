"""Deleting a conversation removes everything stored about it; a purge keeps only recent ones."""

import time
from pathlib import Path
from typing import Dict

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assistant.database import booking_requests, dispose_engine, engine_for
from review.privacy import count_expired, delete_conversation, purge_expired
from review.summaries import ensure_tables, refresh_summaries
from review.tables import conversation_summaries, events, unanswered_messages
from tests.review.conftest import BOOKING_SCRIPT
from tests.review.servers import copy_sqlite_database
from tests.servers import RunningAssistant

DAY = 86400


def rows_about(database: Engine, conversation_id: str) -> Dict[str, int]:
    """How many rows each table holds about a conversation."""
    tables = {
        "events": events.c.sender_id,
        "booking_requests": booking_requests.c.conversation_id,
        "summaries": conversation_summaries.c.conversation_id,
        "unanswered": unanswered_messages.c.conversation_id,
    }
    with database.connect() as connection:
        return {
            name: int(connection.execute(sa.select(sa.func.count()).where(column == conversation_id)).scalar())
            for name, column in tables.items()
        }


def test_deleting_a_conversation_removes_its_events_booking_request_and_review_notes(
    database: Engine, new_conversation
) -> None:
    conversation_id = new_conversation("blorf zzz", *BOOKING_SCRIPT)
    refresh_summaries(database)
    assert all(count > 0 for count in rows_about(database, conversation_id).values())

    report = delete_conversation(database, conversation_id)

    assert rows_about(database, conversation_id) == {"events": 0, "booking_requests": 0, "summaries": 0, "unanswered": 0}
    assert report.conversations == 1 and report.events > 0 and report.booking_requests == 1


def test_deleting_leaves_other_conversations_alone(database: Engine, new_conversation) -> None:
    kept, deleted = new_conversation("hello"), new_conversation("hello")
    refresh_summaries(database)
    before = rows_about(database, kept)

    delete_conversation(database, deleted)

    assert rows_about(database, kept) == before


def test_deleting_an_unknown_conversation_deletes_nothing(database: Engine) -> None:
    report = delete_conversation(database, "no-such-conversation")
    assert (report.conversations, report.events, report.booking_requests) == (0, 0, 0)


def test_a_purge_deletes_conversations_idle_for_longer_than_the_retention_period_only(
    running_assistant: RunningAssistant, new_conversation, tmp_path: Path
) -> None:
    old = new_conversation(*BOOKING_SCRIPT)
    time.sleep(1.0)
    boundary = time.time()
    time.sleep(1.0)
    recent = new_conversation("is ketamine safe?")
    # A copy, so the purge cannot touch what other tests read; "now" is 30 days after
    # the boundary, so with a 30-day period `old` has expired and `recent` has not.
    url = copy_sqlite_database(running_assistant.database_url, tmp_path / "copy.db")
    copy = engine_for(url)
    try:
        ensure_tables(copy)
        now = boundary + 30 * DAY
        assert count_expired(copy, 30, now=now) >= 1

        report = purge_expired(copy, 30, now=now)

        assert rows_about(copy, old) == {"events": 0, "booking_requests": 0, "summaries": 0, "unanswered": 0}
        assert rows_about(copy, recent)["events"] > 0 and rows_about(copy, recent)["summaries"] == 1
        assert report.conversations >= 1 and report.booking_requests >= 1
        assert count_expired(copy, 30, now=now) == 0
    finally:
        dispose_engine(url)
