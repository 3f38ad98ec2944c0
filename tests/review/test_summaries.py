"""The conversation summaries follow the tracker store's events, incrementally and exactly."""

import threading
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assistant.database import dispose_engine, engine_for
from review.privacy import delete_conversation
from review.review_state import review_of, set_state
from review.summaries import ensure_tables, high_water_mark, refresh_summaries
from review.tables import conversation_summaries, events, unanswered_messages
from review.tables import metadata as review_metadata
from tests.review.conftest import Conversations
from tests.review.servers import copy_sqlite_database
from tests.servers import RunningAssistant

COMPARED = ("started_at", "last_at", "channel", "first_message", "turns", "crisis", "booking", "unanswered", "medical",
            "unsure", "visitor_text")


def summaries_of(engine: Engine, ids: List[str]) -> Dict[str, Dict]:
    table = conversation_summaries
    with engine.connect() as connection:
        rows = connection.execute(sa.select(table).where(table.c.conversation_id.in_(ids)))
        return {row.conversation_id: {key: row._mapping[key] for key in COMPARED} for row in rows}


@pytest.fixture
def summaries_to_rebuild(database: Engine, tmp_path: Path, running_assistant: RunningAssistant) -> Iterator[Engine]:
    """A copy of the filled database, its summaries up to date, with the review tables emptied."""
    refresh_summaries(database)
    url = copy_sqlite_database(running_assistant.database_url, tmp_path / "copy.db")
    engine = sa.create_engine(url, future=True)
    review_metadata.drop_all(engine)
    engine.dispose()
    copy = engine_for(url)
    try:
        ensure_tables(copy)
        yield copy
    finally:
        dispose_engine(url)


def test_each_conversation_is_summarised_with_its_flags(database: Engine, conversations: Conversations) -> None:
    refresh_summaries(database)
    summaries = summaries_of(database, conversations.all())

    assert set(summaries) == set(conversations.all())
    assert summaries[conversations.crisis]["crisis"] is True
    assert summaries[conversations.booking]["booking"] is True
    assert summaries[conversations.fallback]["unanswered"] is True
    assert summaries[conversations.medical]["medical"] is True
    plain = summaries[conversations.faq]
    assert not any(plain[flag] for flag in ("crisis", "booking", "unanswered", "medical"))


def test_a_summary_holds_the_channel_first_message_and_turns(database: Engine, conversations: Conversations) -> None:
    refresh_summaries(database)
    booking = summaries_of(database, [conversations.booking])[conversations.booking]

    assert booking["channel"] == "rest"
    assert booking["first_message"] == "I'd like to book the free call"
    assert booking["turns"] == 6
    assert booking["started_at"] <= booking["last_at"]
    assert "jordan@example.com" in booking["visitor_text"]


def test_a_conversation_that_goes_on_is_updated_not_duplicated(
    database: Engine, running_assistant: RunningAssistant, new_conversation
) -> None:
    conversation_id = new_conversation("hello")
    refresh_summaries(database)
    before = summaries_of(database, [conversation_id])[conversation_id]

    running_assistant.say(conversation_id, "can I take it with my sertraline?")
    refresh_summaries(database)
    after = summaries_of(database, [conversation_id])[conversation_id]

    assert after["turns"] == before["turns"] + 1
    assert after["first_message"] == "hello"
    assert after["medical"] is True and before["medical"] is False
    assert after["last_at"] > before["last_at"]


def test_a_refresh_with_no_new_events_reads_nothing(database: Engine) -> None:
    refresh_summaries(database)

    assert refresh_summaries(database) == 0
    with database.connect() as connection:
        newest = connection.execute(sa.select(sa.func.max(events.c.id))).scalar()
        assert high_water_mark(connection) == newest


def test_summaries_built_in_small_batches_equal_those_built_as_events_came(
    database: Engine, conversations: Conversations, summaries_to_rebuild: Engine
) -> None:
    # Batches of 7 events split most conversations across several batches.
    refresh_summaries(summaries_to_rebuild, batch_size=7)
    assert summaries_of(summaries_to_rebuild, conversations.all()) == summaries_of(database, conversations.all())


def test_two_refreshes_at_once_never_count_an_event_twice(
    database: Engine, conversations: Conversations, summaries_to_rebuild: Engine
) -> None:
    workers = [threading.Thread(target=refresh_summaries, args=(summaries_to_rebuild, 5)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert summaries_of(summaries_to_rebuild, conversations.all()) == summaries_of(database, conversations.all())


def test_events_stored_after_the_newest_conversation_was_deleted_are_still_summarised(
    database: Engine, running_assistant: RunningAssistant, new_conversation
) -> None:
    # SQLite hands out the largest id plus one, so deleting the newest events makes
    # it reuse ids at or below the high-water mark.
    deleted = new_conversation("hello", "is ketamine safe?")
    refresh_summaries(database)
    delete_conversation(database, deleted)

    later = new_conversation("can I take it with my sertraline?")
    refresh_summaries(database)

    summary = summaries_of(database, [later])[later]
    assert summary["turns"] == 1 and summary["medical"] is True


def test_summaries_of_an_older_version_are_rebuilt_keeping_the_therapists_own_rows(
    database: Engine, conversations: Conversations, running_assistant: RunningAssistant, tmp_path: Path
) -> None:
    refresh_summaries(database)
    url = copy_sqlite_database(running_assistant.database_url, tmp_path / "older.db")
    older = engine_for(url)
    try:
        set_state(older, conversations.fallback, "follow_up")
        with older.begin() as connection:
            # What a version before the "unsure" flag left behind.
            connection.exec_driver_sql("ALTER TABLE conversation_summaries DROP COLUMN unsure")
            connection.execute(
                sa.update(unanswered_messages)
                .where(unanswered_messages.c.conversation_id == conversations.fallback)
                .values(assigned_intent="faq/cost")
            )
            waiting = connection.execute(sa.select(sa.func.count()).select_from(unanswered_messages)).scalar()

        ensure_tables(older)
        refresh_summaries(older)

        assert summaries_of(older, conversations.all()) == summaries_of(database, conversations.all())
        with older.connect() as connection:
            assert connection.execute(sa.select(sa.func.count()).select_from(unanswered_messages)).scalar() == waiting
            assigned = connection.execute(
                sa.select(unanswered_messages.c.assigned_intent)
                .where(unanswered_messages.c.conversation_id == conversations.fallback)
            ).scalars().all()
            assert assigned and set(assigned) == {"faq/cost"}
            assert review_of(connection, conversations.fallback).state == "follow_up"
    finally:
        dispose_engine(url)
