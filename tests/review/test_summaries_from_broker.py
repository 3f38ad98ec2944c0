"""Where the event broker's consumer keeps the summaries, the review app follows no `events` ids.

With several Rasa replicas, PostgreSQL ids commit out of order, so the review app
of `make cluster` (`REVIEW_SUMMARIES_FROM_BROKER`) must show what the consumer
folded and never fold by following ids itself; `make run`'s app, without the
flag, still does. Rasa's own `SQLTrackerStore` writes the conversations, through
Rasa's `PikaEventBroker` to the machine's RabbitMQ for those the consumer sees,
and straight into `events` for the one it does not (as an event whose id committed
behind the high-water mark would look to id-following).
"""

import asyncio
import uuid
from typing import Dict, Iterator, List

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActionExecuted, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import Engine

from assistant.database import engine_for
from assistant.settings import EventBrokerSettings, review_summaries_from_broker
from review.config import ReviewConfig
from review.privacy import count_expired, purge_expired
from review.summaries import ensure_tables, high_water_mark
from review.tables import conversation_summaries, events, visitor_messages
from tests.review.servers import signed_in_client, start_review_app, stop_review_app
from tests.review.test_event_consumer import DOMAIN, consume_until_idle, hold_conversations, visitor_turn
from tests.servers import postgres_reachable, temporary_postgres_database

PASSWORD = "a long test password 4 the review"
SECONDS_A_DAY = 86400


@pytest.fixture
def database() -> Iterator[Engine]:
    """An empty PostgreSQL database with Rasa's and the review's tables, as the cluster's."""
    if not postgres_reachable():
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    with temporary_postgres_database("from_broker_test") as url:
        SQLTrackerStore(DOMAIN, host=url).engine.dispose()  # Rasa creates its `events` table.
        engine = engine_for(url)
        ensure_tables(engine)
        yield engine


def written_straight_into_events(engine: Engine, text: str = "how much does it cost?") -> str:
    """One visitor turn stored by Rasa's tracker store with no broker: only id-following can find it."""
    sender = f"unpublished-{uuid.uuid4().hex[:8]}"
    tracker = DialogueStateTracker.from_events(
        sender, [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")],
        DOMAIN.slots,
    )
    for event in visitor_turn(text, "ask_fees", False):
        tracker.update(event)
    store = SQLTrackerStore(DOMAIN, host=engine.url.render_as_string(hide_password=False))
    asyncio.run(store.save(tracker))
    store.engine.dispose()
    return sender


def summarised(engine: Engine) -> List[str]:
    with engine.connect() as connection:
        return sorted(connection.execute(sa.select(conversation_summaries.c.conversation_id)).scalars())


def list_page(engine: Engine, extra_env: Dict[str, str]) -> str:
    """The conversation list as the therapist opens it in a review app started with `extra_env`."""
    app = start_review_app(engine.url.render_as_string(hide_password=False), PASSWORD, extra_env)
    try:
        page = signed_in_client(app).get("/conversations?view=all")
        assert page.status_code == 200, page.text
        return page.text
    finally:
        stop_review_app(app)


def test_the_flag_is_off_unless_the_environment_sets_it() -> None:
    assert not review_summaries_from_broker({}) and not review_summaries_from_broker({"REVIEW_SUMMARIES_FROM_BROKER": "0"})
    assert review_summaries_from_broker({"REVIEW_SUMMARIES_FROM_BROKER": "1"})
    assert ReviewConfig("sqlite://", "key", lambda: None).summaries_from_broker is False


def test_with_summaries_from_the_broker_the_list_page_shows_the_consumer_s_summaries_and_follows_no_ids(
    database: Engine, broker: EventBrokerSettings
) -> None:
    consume_until_idle(database, broker)  # the queue is bound before Rasa publishes
    published = hold_conversations(database, broker)
    consume_until_idle(database, broker)
    unpublished = written_straight_into_events(database)

    page = list_page(database, {"REVIEW_SUMMARIES_FROM_BROKER": "1"})

    assert all(sender in page for sender in published.values())
    assert unpublished not in page
    assert summarised(database) == sorted(published.values())
    with database.connect() as connection:
        assert high_water_mark(connection) == 0


def test_without_the_flag_opening_the_list_page_summarises_events_by_following_their_ids(
    database: Engine, broker: EventBrokerSettings
) -> None:
    consume_until_idle(database, broker)
    published = hold_conversations(database, broker)
    consume_until_idle(database, broker)
    unpublished = written_straight_into_events(database)

    page = list_page(database, {})

    assert unpublished in page and all(sender in page for sender in published.values())
    assert summarised(database) == sorted([*published.values(), unpublished])
    with database.connect() as connection:
        assert high_water_mark(connection) == connection.execute(sa.select(sa.func.max(events.c.id))).scalar()


def age(engine: Engine, senders: List[str], days: float) -> None:
    """Moves conversations' stored events back in time (their summaries keep what the consumer wrote)."""
    with engine.begin() as connection:
        connection.execute(
            sa.update(events).where(events.c.sender_id.in_(senders)).values(timestamp=events.c.timestamp - days * SECONDS_A_DAY)
        )


def test_in_broker_mode_a_purge_reads_the_tracker_store_and_leaves_nothing_of_an_expired_conversation(
    database: Engine, broker: EventBrokerSettings
) -> None:
    consume_until_idle(database, broker)
    published = hold_conversations(database, broker)
    consume_until_idle(database, broker)
    unpublished = written_straight_into_events(database)
    expired = [published["greeting#0"], published["crisis#0"], unpublished]
    age(database, expired, days=400)

    assert count_expired(database, 365, summaries_from_broker=True) == 3
    report = purge_expired(database, 365, summaries_from_broker=True)

    assert report.conversations == 2  # the unpublished one never had a summary
    kept = sorted(set(published.values()) - set(expired))
    with database.connect() as connection:
        assert sorted(connection.execute(sa.select(events.c.sender_id).distinct()).scalars()) == kept
        assert sorted(connection.execute(sa.select(visitor_messages.c.conversation_id).distinct()).scalars()) == kept
        assert high_water_mark(connection) == 0
    assert summarised(database) == kept
