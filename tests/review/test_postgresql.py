"""The review works the same on PostgreSQL, with conversations Rasa stored there."""

import time
from typing import Callable, List

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assistant.database import engine_for
from review import queries
from review.privacy import delete_conversation, purge_expired
from review.queries import ConversationFilter
from review.summaries import ensure_tables, refresh_summaries
from review.tables import conversation_summaries
from review.transcript import VISITOR, build_transcript
from tests.review.conftest import BOOKING_SCRIPT
from tests.review.servers import RunningReviewApp, signed_in_client
from tests.review.test_privacy import rows_about
from tests.servers import RunningAssistant

DAY = 86400


@pytest.fixture
def postgres(second_database: str, alerting_assistant: RunningAssistant) -> Engine:
    if not second_database.startswith("postgresql"):
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    engine = engine_for(second_database)
    ensure_tables(engine)
    return engine


@pytest.fixture
def converse(alerting_assistant: RunningAssistant) -> Callable[..., str]:
    def hold(*messages: str) -> str:
        sender = alerting_assistant.new_sender()
        for message in messages:
            alerting_assistant.say(sender, message)
        return sender

    return hold


def matching(engine: Engine, selection: ConversationFilter) -> List[str]:
    refresh_summaries(engine)
    with engine.connect() as connection:
        return [row["conversation_id"] for row in queries.list_conversations(connection, selection, limit=10_000).rows]


def test_conversations_stored_in_postgresql_are_summarised_filtered_and_searched(postgres: Engine, converse) -> None:
    crisis, booking, medical = converse("I want to kill myself"), converse(*BOOKING_SCRIPT), converse("can I take it with my sertraline?")

    assert crisis in matching(postgres, ConversationFilter(flag="crisis"))
    assert booking in matching(postgres, ConversationFilter(flag="booking"))
    assert medical in matching(postgres, ConversationFilter(search="SERTRALINE"))
    assert medical not in matching(postgres, ConversationFilter(search="%"))
    assert matching(postgres, ConversationFilter(channel="rest' OR '1'='1")) == []


def test_keyset_pages_work_on_postgresql(postgres: Engine, converse) -> None:
    for _ in range(3):
        converse("hello")
    everything = matching(postgres, ConversationFilter())
    pages, before = [], None
    with postgres.connect() as connection:
        while True:
            page = queries.list_conversations(connection, ConversationFilter(), before=before, limit=2)
            pages.extend(row["conversation_id"] for row in page.rows)
            if page.older is None:
                break
            before = page.older
    assert pages == everything


def test_a_transcript_is_read_from_postgresql(postgres: Engine, converse) -> None:
    booking = converse(*BOOKING_SCRIPT)
    with postgres.connect() as connection:
        entries = build_transcript(queries.conversation_events(connection, booking))
    assert [entry.text for entry in entries if entry.kind == VISITOR] == list(BOOKING_SCRIPT)


def test_delete_and_purge_work_on_postgresql(postgres: Engine, converse) -> None:
    deleted = converse(*BOOKING_SCRIPT)
    refresh_summaries(postgres)
    delete_conversation(postgres, deleted)
    assert rows_about(postgres, deleted) == {"events": 0, "booking_requests": 0, "summaries": 0, "unanswered": 0}

    old = converse("hello")
    time.sleep(1.0)
    boundary = time.time()
    time.sleep(1.0)
    recent = converse("hello")
    purge_expired(postgres, 30, now=boundary + 30 * DAY)

    assert rows_about(postgres, old)["events"] == 0
    assert rows_about(postgres, recent)["events"] > 0


def test_the_review_app_serves_postgresql_conversations(
    postgres: Engine, converse, second_review_app: RunningReviewApp
) -> None:
    crisis = converse("I want to kill myself")
    client = signed_in_client(second_review_app)

    page = client.get("/conversations?flag=crisis").text

    assert f'data-conversation="{crisis}"' in page
    assert "I want to kill myself" in client.get(f"/conversations/{crisis}").text
    with postgres.connect() as connection:
        assert connection.execute(
            sa.select(conversation_summaries.c.crisis).where(conversation_summaries.c.conversation_id == crisis)
        ).scalar() is True
