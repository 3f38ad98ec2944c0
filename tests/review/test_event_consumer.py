"""The review's summaries kept from Rasa's event broker: exactly once, equal to a rebuild.

Everything is real: Rasa's own `SQLTrackerStore` stores the conversations (in
PostgreSQL when it runs on loopback, else SQLite) and publishes them through
Rasa's own `PikaEventBroker` to the machine's RabbitMQ, on an exchange and queue
made for each test and deleted after it.
"""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any, Dict, Iterator, List, Sequence

import pika
import pika.exceptions
import pytest
import sqlalchemy as sa
from rasa.core.brokers.pika import PikaEventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy.engine import Engine

from assistant.database import dispose_engine, engine_for
from assistant.settings import PROJECT_ROOT, EventBrokerSettings, event_broker_settings
from review.event_consumer import EventConsumer, fold_events, parse_event
from review.privacy import delete_conversation
from review.summaries import ensure_tables, rebuild_summaries, refresh_summaries
from review.tables import conversation_summaries, events, unanswered_messages, visitor_messages
from tests.servers import postgres_reachable, temporary_postgres_database

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [greet, crisis, medical_question, nlu_fallback, ask_fees]
slots:
  crisis_flag:
    type: bool
    influence_conversation: false
    mappings: [{type: custom}]
responses:
  utter_greet: [{text: "Hello"}]
"""
)

# Visitor turns: (text, intent, crisis slot set by the turn's action).
TURNS = {
    "greeting": [("hello", "greet", False), ("what are your fees?", "ask_fees", False)],
    "crisis": [("hi", "greet", False), ("I want to end it all", "crisis", True)],
    "medical": [("can I take it with my sertraline?", "medical_question", False)],
    "unanswered": [("blorp zzz", "nlu_fallback", False), ("hello again", "greet", False)],
}


@pytest.fixture
def database() -> Iterator[Engine]:
    """An empty database with the review's tables: PostgreSQL when it runs here, as in the cluster."""
    if postgres_reachable():
        with temporary_postgres_database("consumer_test") as url:
            yield _prepared(url)
    else:
        path = PROJECT_ROOT / "var" / f"consumer_test_{uuid.uuid4().hex[:8]}.db"
        url = f"sqlite:///{path}"
        try:
            yield _prepared(url)
        finally:
            dispose_engine(url)
            path.unlink(missing_ok=True)


def _prepared(url: str) -> Engine:
    SQLTrackerStore(DOMAIN, host=url).engine.dispose()  # Rasa creates its `events` table.
    engine = engine_for(url)
    ensure_tables(engine)
    return engine


def visitor_turn(text: str, intent: str, crisis: bool) -> List[Event]:
    """The events Rasa stores for one visitor message and the assistant's answer."""
    parse_data = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.93},
        "intent_ranking": [{"name": intent, "confidence": 0.93}, {"name": "greet", "confidence": 0.02}],
        "entities": [],
    }
    turn: List[Event] = [UserUttered(text, parse_data["intent"], [], parse_data, input_channel="rest")]
    if crisis:
        turn.append(SlotSet("crisis_flag", True))
    turn += [ActionExecuted("utter_greet"), BotUttered("Hello"), ActionExecuted("action_listen")]
    return turn


async def _publish_conversations(url: str, broker: EventBrokerSettings, senders: Dict[str, str]) -> None:
    """Holds the conversations turn by turn through Rasa's store and broker, as `rasa run` does."""
    pika_broker = await _rasa_broker(broker)
    store = SQLTrackerStore(DOMAIN, host=url, event_broker=pika_broker)
    trackers = {
        name: DialogueStateTracker.from_events(
            sender, [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")],
            DOMAIN.slots,
        )
        for name, sender in senders.items()
    }
    for turn_index in range(max(len(turns) for turns in TURNS.values())):
        for name, tracker in trackers.items():  # conversations interleave, as they do live
            turns = TURNS[name.split("#")[0]]
            if turn_index < len(turns):
                for event in visitor_turn(*turns[turn_index]):
                    tracker.update(event)
                await store.save(tracker)
    await _drain(pika_broker)
    store.engine.dispose()


async def _rasa_broker(broker: EventBrokerSettings) -> PikaEventBroker:
    config = EndpointConfig(
        url=broker.host, type="pika", port=broker.port, username=broker.username,
        password=broker.password, queues=[broker.queue], exchange_name=broker.exchange,
    )
    return await PikaEventBroker.from_endpoint_config(config)


async def _drain(pika_broker: PikaEventBroker) -> None:
    """Waits for the broker's background publishing (Rasa keeps the tasks in this set) and closes it."""
    while pika_broker._background_tasks:
        await asyncio.sleep(0.05)
    await pika_broker.close()


async def _republish(broker: EventBrokerSettings, bodies: Sequence[Dict[str, Any]]) -> None:
    pika_broker = await _rasa_broker(broker)
    for body in bodies:
        pika_broker.publish(body)
    await _drain(pika_broker)


def hold_conversations(engine: Engine, broker: EventBrokerSettings, copies: int = 1) -> Dict[str, str]:
    """Stores and publishes every conversation of `TURNS` (`copies` times); returns name -> sender id."""
    senders = {f"{name}#{copy}": f"{name}-{copy}-{uuid.uuid4().hex[:6]}" for name in TURNS for copy in range(copies)}
    asyncio.run(_publish_conversations(engine.url.render_as_string(hide_password=False), broker, senders))
    return senders


def published_bodies(engine: Engine) -> List[Dict[str, Any]]:
    """What Rasa's broker published for the stored events: the sender id and the event's dict."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(events).order_by(events.c.id)).all()
    return [{"sender_id": row.sender_id, **json.loads(row.data)} for row in rows]


def review_state(engine: Engine) -> Dict[str, List[Dict[str, Any]]]:
    """Everything the review derives from the events, in a comparable form."""
    tables = {
        "summaries": (conversation_summaries, conversation_summaries.c.conversation_id),
        "visitor_messages": (visitor_messages, visitor_messages.c.event_id),
        "unanswered": (unanswered_messages, unanswered_messages.c.event_id),
    }
    with engine.connect() as connection:
        return {
            name: [dict(row._mapping) for row in connection.execute(sa.select(table).order_by(key))]
            for name, (table, key) in tables.items()
        }


def rebuilt_from_tracker_store(engine: Engine) -> Dict[str, List[Dict[str, Any]]]:
    """The recovery path: summaries dropped and folded again from `events`."""
    rebuild_summaries(engine)
    refresh_summaries(engine)
    return review_state(engine)


def consume_until_idle(engine: Engine, broker: EventBrokerSettings) -> int:
    return EventConsumer(engine, broker, batch_size=7, store_wait=0.5).run(stop_when_idle=True)


def test_events_published_by_rasa_are_summarised_as_a_rebuild_from_the_tracker_store_would(
    database: Engine, broker: EventBrokerSettings
) -> None:
    consume_until_idle(database, broker)  # declares the queue before Rasa publishes
    senders = hold_conversations(database, broker)

    counted = consume_until_idle(database, broker)

    consumed = review_state(database)
    assert counted == sum(len(turns) for turns in TURNS.values())
    flags = {row["conversation_id"]: row for row in consumed["summaries"]}
    assert flags[senders["crisis#0"]]["crisis"] and not flags[senders["greeting#0"]]["crisis"]
    assert flags[senders["medical#0"]]["medical"] and flags[senders["unanswered#0"]]["unanswered"]
    assert flags[senders["greeting#0"]]["turns"] == 2
    assert consumed == rebuilt_from_tracker_store(database)


def test_every_event_published_again_is_counted_once(database: Engine, broker: EventBrokerSettings) -> None:
    consume_until_idle(database, broker)
    hold_conversations(database, broker)
    consume_until_idle(database, broker)
    before = review_state(database)

    asyncio.run(_republish(broker, published_bodies(database)))
    assert consume_until_idle(database, broker) == 0

    assert review_state(database) == before == rebuilt_from_tracker_store(database)


def test_a_batch_written_but_not_acknowledged_before_a_crash_is_counted_once_after_restart(
    database: Engine, broker: EventBrokerSettings
) -> None:
    consume_until_idle(database, broker)
    hold_conversations(database, broker)
    crashed = pika.BlockingConnection(pika.ConnectionParameters(broker.host, broker.port))
    channel = crashed.channel()
    taken = [channel.basic_get(broker.queue, auto_ack=False) for _ in range(15)]
    fold_events(database, [parse_event(body) for _method, _properties, body in taken])
    crashed.close()  # the consumer dies before acknowledging: RabbitMQ delivers the batch again

    consume_until_idle(database, broker)

    assert review_state(database) == rebuilt_from_tracker_store(database)


def test_a_consumer_killed_mid_stream_and_restarted_counts_every_message_once(
    database: Engine, broker: EventBrokerSettings
) -> None:
    consume_until_idle(database, broker)
    hold_conversations(database, broker, copies=15)
    environment = {
        **os.environ,
        "DATABASE_URL": database.url.render_as_string(hide_password=False),
        "RABBITMQ_QUEUE": broker.queue,
        "RABBITMQ_EXCHANGE": broker.exchange,
    }
    command = [sys.executable, "-m", "review.event_consumer"]
    first = subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment, stderr=subprocess.DEVNULL)
    _wait_until_some_are_summarised(database, first)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)

    subprocess.run([*command, "--until-idle"], cwd=PROJECT_ROOT, env=environment, check=True, timeout=120)

    consumed = review_state(database)
    assert len(consumed["visitor_messages"]) == 15 * sum(len(turns) for turns in TURNS.values())
    assert consumed == rebuilt_from_tracker_store(database)


def _wait_until_some_are_summarised(engine: Engine, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the consumer exited"
        with engine.connect() as connection:
            if connection.execute(sa.select(sa.func.count()).select_from(conversation_summaries)).scalar():
                return
        time.sleep(0.05)
    raise TimeoutError("the consumer summarised nothing")


def close_connection_named(name: str) -> None:
    """Closes one RabbitMQ connection by its client name, as a broker restart would (others are untouched)."""
    def rabbitmqctl(*arguments: str) -> str:
        return subprocess.run(["rabbitmqctl", *arguments], capture_output=True, text=True, check=True, timeout=30).stdout

    # The JSON listing has the names, the plain one the process ids `close_connection` takes.
    named = [
        connection["pid"].rsplit(".", 2)[-2:] for connection in json.loads(
            rabbitmqctl("list_connections", "pid", "client_properties", "--formatter", "json")
        )
        if ["connection_name", "longstr", name] in connection["client_properties"]
    ]
    pids = [
        pid for pid in rabbitmqctl("list_connections", "-q", "--no-table-headers", "pid").split()
        if pid.rsplit(".", 2)[-2:] in named
    ]
    assert pids, f"no RabbitMQ connection named {name!r}"
    for pid in pids:
        rabbitmqctl("close_connection", pid, "test: broker gone")


def _wait_for_messages(engine: Engine, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.execute(sa.select(sa.func.count()).select_from(visitor_messages)).scalar() >= count:
                return
        time.sleep(0.1)
    raise TimeoutError(f"fewer than {count} visitor messages summarised")


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl to drop the connection")
def test_after_losing_rabbitmq_the_consumer_reconnects_and_catches_up_exactly_once(
    database: Engine, broker: EventBrokerSettings
) -> None:
    consumer = EventConsumer(database, broker, batch_size=7, store_wait=0.5)
    running = threading.Thread(target=consumer.run, daemon=True)
    running.start()
    per_round = sum(len(turns) for turns in TURNS.values())
    try:
        _wait_for_queue(broker)
        hold_conversations(database, broker)
        _wait_for_messages(database, per_round)

        close_connection_named(f"review consumer ({broker.queue})")
        hold_conversations(database, broker)  # stored and published while the consumer is cut off
        _wait_for_messages(database, 2 * per_round)
    finally:  # stopped before the fixture deletes its queue, or it would declare it again
        consumer.stop()
        running.join(timeout=30)

    assert not running.is_alive()
    assert review_state(database) == rebuilt_from_tracker_store(database)


def _wait_for_queue(broker: EventBrokerSettings, timeout: float = 30) -> None:
    """Until the consumer has declared its queue (so nothing published is dropped by the exchange)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connection = pika.BlockingConnection(pika.ConnectionParameters(broker.host, broker.port))
        try:
            connection.channel().queue_declare(broker.queue, passive=True)
            return
        except pika.exceptions.ChannelClosedByBroker:
            time.sleep(0.1)
        finally:
            if connection.is_open:
                connection.close()
    raise TimeoutError("the consumer did not declare its queue")


def test_a_message_that_is_not_a_rasa_event_is_refused_and_the_others_are_summarised(
    database: Engine, broker: EventBrokerSettings
) -> None:
    consume_until_idle(database, broker)
    connection = pika.BlockingConnection(pika.ConnectionParameters(broker.host, broker.port))
    for junk in (b"not json", b"[1, 2]", b'{"event": "user", "timestamp": 1.0}', b'{"sender_id": "x", "event": "user"}'):
        connection.channel().basic_publish(broker.exchange, "", junk)
    connection.close()
    hold_conversations(database, broker)

    consume_until_idle(database, broker)

    assert review_state(database) == rebuilt_from_tracker_store(database)
    check = pika.BlockingConnection(pika.ConnectionParameters(broker.host, broker.port))
    assert check.channel().queue_declare(broker.queue, durable=True).method.message_count == 0
    check.close()


def test_events_of_a_conversation_deleted_before_they_were_consumed_are_not_written_back(
    database: Engine, broker: EventBrokerSettings
) -> None:
    consume_until_idle(database, broker)
    senders = hold_conversations(database, broker)
    delete_conversation(database, senders["crisis#0"])

    consume_until_idle(database, broker)

    summarised = {row["conversation_id"] for row in review_state(database)["summaries"]}
    assert senders["crisis#0"] not in summarised
    assert summarised == set(senders.values()) - {senders["crisis#0"]}


def test_the_consumer_reads_the_broker_from_the_project_settings() -> None:
    chosen = event_broker_settings({"RABBITMQ_HOST": "mq", "RABBITMQ_PASSWORD": "s3cret", "RABBITMQ_QUEUE": "q"})

    assert (chosen.host, chosen.port, chosen.queue, chosen.exchange) == ("mq", 5672, "q", "rasa-exchange")
    assert chosen.password == "s3cret" and "s3cret" not in repr(chosen)


async def _hold_with_first_turn_unpublished(url: str, broker: EventBrokerSettings, sender: str) -> None:
    """Turn one stored but never published (its replica died), turn two stored and published."""
    first, second = TURNS["greeting"][:2]
    quiet, publishing = SQLTrackerStore(DOMAIN, host=url), SQLTrackerStore(DOMAIN, host=url, event_broker=None)
    pika_broker = await _rasa_broker(broker)
    publishing.event_broker = pika_broker
    tracker = DialogueStateTracker.from_events(
        sender, [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")], DOMAIN.slots
    )
    for event in visitor_turn(*first):
        tracker.update(event)
    await quiet.save(tracker)
    for event in visitor_turn(*second):
        tracker.update(event)
    await publishing.save(tracker)
    await _drain(pika_broker)
    quiet.engine.dispose()
    publishing.engine.dispose()


def test_a_turn_whose_publication_was_lost_is_summarised_with_the_conversation_s_next_event(
    database: Engine, broker: EventBrokerSettings
) -> None:
    consume_until_idle(database, broker)
    sender = f"lost-{uuid.uuid4().hex[:6]}"
    asyncio.run(_hold_with_first_turn_unpublished(database.url.render_as_string(hide_password=False), broker, sender))

    assert consume_until_idle(database, broker) == 2

    (summary,) = review_state(database)["summaries"]
    assert summary["conversation_id"] == sender and summary["turns"] == 2
    assert review_state(database) == rebuilt_from_tracker_store(database)
