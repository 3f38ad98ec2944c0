"""Keeps the conversation summaries current from Rasa's event broker (RabbitMQ).

With several Rasa replicas writing to PostgreSQL, event ids commit out of order,
so following the `events` table by its highest id can skip an event (the crisis
flag among them). Rasa's `pika` event broker publishes every event it stores to
a fanout exchange; this consumer reads them from a durable queue bound to it.

The broker says *what* is new; the tracker store stays the record. Each message
is matched to its row of `events` by conversation, type and timestamp (what
`review.summaries.fold_rows` needs, ids included, for the transcript and the
therapist's corrections), and the rows are folded with the same function the
id-following refresh uses. That fold is idempotent, so a message delivered twice
(a replay, a redelivery after a crash) counts once. A batch is acknowledged only
after its transaction commits; a crash before that redelivers it.

Each batch folds every stored event of its conversations, not only the published
ones, so a turn whose publication was lost (a replica killed between storing and
publishing it) is summarised with the conversation's next event.

An event the store does not hold after a short wait (its conversation was
deleted, or Rasa failed to store the turn) is not folded: a rebuild from the
tracker store would not fold it either.

    python -m review.event_consumer          # until stopped (SIGTERM, Ctrl-C)
"""

import argparse
import json
import logging
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Sequence, Tuple

import pika
import pika.exceptions
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from assistant import settings
from assistant.database import engine_for
from assistant.settings import EventBrokerSettings
from review.summaries import ensure_tables, fold_rows, lock_summaries
from review.tables import events

logger = logging.getLogger(__name__)

BATCH_SIZE = 200
IDLE_SECONDS = 0.5
STORE_WAIT_SECONDS = 5.0
STORE_POLL_SECONDS = 0.2
RECONNECT_SECONDS = 2.0
# Errors after which the connection is opened again; unacknowledged messages come back.
CONNECTION_ERRORS = (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError, ConnectionError)


class MalformedEvent(ValueError):
    """A broker message that is not a Rasa event (no sender, type or timestamp)."""


@dataclass(frozen=True)
class BrokerEvent:
    """The key of one published event: which conversation, what kind, when."""

    sender_id: str
    type_name: str
    timestamp: float


def parse_event(body: bytes) -> BrokerEvent:
    """Reads the key of a message published by Rasa's `PikaEventBroker`.

    Rasa publishes `{"sender_id": ..., **event.as_dict()}` as JSON.

    Raises:
        MalformedEvent: the body is not such an event; the message says what is
            missing, never what the visitor wrote.
    """
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedEvent(f"not JSON ({type(error).__name__})") from error
    if not isinstance(data, dict):
        raise MalformedEvent("not a JSON object")
    sender_id, type_name, timestamp = data.get("sender_id"), data.get("event"), data.get("timestamp")
    if not isinstance(sender_id, str) or not sender_id:
        raise MalformedEvent("no sender_id")
    if not isinstance(type_name, str) or not type_name:
        raise MalformedEvent("no event type")
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
        raise MalformedEvent("no timestamp")
    return BrokerEvent(sender_id, type_name, float(timestamp))


def stored_rows(connection: Connection, published: Sequence[BrokerEvent]) -> Tuple[List[Row], List[BrokerEvent]]:
    """Every stored `events` row of the published events' conversations, by id, and the events not stored (yet).

    All of a conversation's rows, not only the published ones: a replica killed
    after storing a turn but before its broker sent it loses that publication,
    and the conversation's next event then brings the lost turn in (the fold
    counts a row seen before once). Conversations are short, so this stays cheap.
    """
    senders = sorted({event.sender_id for event in published})
    found: Dict[Tuple[str, str, float], List[Row]] = {}
    rows: Dict[int, Row] = {}
    for sender_id in senders:
        for row in connection.execute(sa.select(events).where(events.c.sender_id == sender_id)):
            found.setdefault((row.sender_id, row.type_name, float(row.timestamp)), []).append(row)
            rows[row.id] = row
    missing = [event for event in published if (event.sender_id, event.type_name, event.timestamp) not in found]
    return [rows[key] for key in sorted(rows)], missing


def fold_events(engine: Engine, published: Sequence[BrokerEvent], store_wait: float = STORE_WAIT_SECONDS) -> int:
    """Folds published events into the summaries in one transaction; returns messages newly counted.

    Rasa commits a turn's events before its broker sends them, but a store on
    another host may lag, so events not found are looked for again for up to
    `store_wait` seconds before they are given up as never stored.
    """
    deadline = time.monotonic() + store_wait
    while True:
        with engine.begin() as connection:
            lock_summaries(connection)
            rows, missing = stored_rows(connection, published)
            if not missing or time.monotonic() >= deadline:
                if missing:
                    logger.warning(
                        "%d published event(s) are not in the tracker store (deleted or never stored); not summarised",
                        len(missing),
                    )
                return fold_rows(connection, rows) if rows else 0
        time.sleep(STORE_POLL_SECONDS)


class EventConsumer:
    """Reads Rasa's events from the review's durable queue and folds them in batches."""

    def __init__(
        self,
        engine: Engine,
        broker: EventBrokerSettings,
        batch_size: int = BATCH_SIZE,
        store_wait: float = STORE_WAIT_SECONDS,
    ) -> None:
        """Remembers where to read and write; connects only when run."""
        self.engine = engine
        self.broker = broker
        self.batch_size = batch_size
        self.store_wait = store_wait
        self.stopping = False

    def connect(self) -> Tuple[pika.BlockingConnection, Any]:
        """Opens a channel and declares what Rasa's broker declares: the fanout exchange and the queue.

        Declaring both here means events are kept from the moment either side
        starts first. The queue is durable and Rasa's messages persistent, so
        they survive a RabbitMQ restart.
        """
        parameters = pika.ConnectionParameters(
            host=self.broker.host,
            port=self.broker.port,
            credentials=pika.PlainCredentials(self.broker.username, self.broker.password),
            heartbeat=30,
            connection_attempts=3,
            retry_delay=1,
            # How RabbitMQ's management tools name this connection.
            client_properties={"connection_name": f"review consumer ({self.broker.queue})"},
        )
        connection = pika.BlockingConnection(parameters)
        channel = connection.channel()
        channel.exchange_declare(self.broker.exchange, exchange_type="fanout")
        channel.queue_declare(self.broker.queue, durable=True)
        channel.queue_bind(self.broker.queue, self.broker.exchange, routing_key="")
        channel.basic_qos(prefetch_count=self.batch_size)
        return connection, channel

    def run(self, stop_when_idle: bool = False) -> int:
        """Consumes until stopped (or, with `stop_when_idle`, until the queue is empty).

        A lost connection (RabbitMQ restarted) is opened again after a pause;
        what was not acknowledged is delivered again and counted once.

        Returns:
            How many visitor messages were newly counted.
        """
        counted = 0
        while not self.stopping:
            try:
                connection, channel = self.connect()
            except CONNECTION_ERRORS as error:
                logger.warning("RabbitMQ is not reachable (%s); trying again", type(error).__name__)
                time.sleep(RECONNECT_SECONDS)
                continue
            try:
                counted += self._consume(channel, stop_when_idle)
                if stop_when_idle:
                    break
            except CONNECTION_ERRORS as error:
                logger.warning("Lost RabbitMQ (%s); reconnecting", type(error).__name__)
                time.sleep(RECONNECT_SECONDS)
            finally:
                _close_quietly(connection)
        return counted

    def _consume(self, channel: Any, stop_when_idle: bool) -> int:
        counted = 0
        pending: List[Tuple[int, bytes]] = []
        for method, _properties, body in channel.consume(self.broker.queue, inactivity_timeout=IDLE_SECONDS):
            if method is not None:
                pending.append((method.delivery_tag, body))
            if pending and (method is None or len(pending) >= self.batch_size or self.stopping):
                counted += self.handle(channel, pending)
                pending = []
            if self.stopping or (method is None and stop_when_idle):
                break
        channel.cancel()
        return counted

    def handle(self, channel: Any, deliveries: Sequence[Tuple[int, bytes]]) -> int:
        """Folds a batch of deliveries, then acknowledges them; on a database error, returns them.

        A message that is not a Rasa event is refused without requeueing (to the
        queue's dead-letter exchange, if the operator set one), so it cannot
        block the queue.
        """
        published: List[BrokerEvent] = []
        last_tag = None
        for tag, body in deliveries:
            try:
                published.append(parse_event(body))
                last_tag = tag
            except MalformedEvent as error:
                logger.error("Refused a broker message that is not a Rasa event: %s", error)
                channel.basic_nack(tag, requeue=False)
        if last_tag is None:
            return 0
        try:
            counted = fold_events(self.engine, published, self.store_wait)
        except sa.exc.SQLAlchemyError as error:
            logger.error("Summaries not written (%s); the events go back to the queue", type(error).__name__)
            channel.basic_nack(last_tag, multiple=True, requeue=True)
            time.sleep(RECONNECT_SECONDS)
            return 0
        channel.basic_ack(last_tag, multiple=True)
        return counted

    def stop(self, *_: Any) -> None:
        """Finishes the batch in hand and stops (the SIGTERM handler)."""
        self.stopping = True


def _close_quietly(connection: pika.BlockingConnection) -> None:
    try:
        if connection.is_open:
            connection.close()
    except CONNECTION_ERRORS + (pika.exceptions.AMQPError,):
        pass


def main(argv: Iterable[str] | None = None) -> int:
    """Runs the consumer against the project's database and broker settings."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--until-idle", action="store_true", help="stop when the queue is empty")
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    engine = engine_for(settings.database_url())
    ensure_tables(engine)
    consumer = EventConsumer(engine, settings.event_broker_settings())
    signal.signal(signal.SIGTERM, consumer.stop)
    signal.signal(signal.SIGINT, consumer.stop)
    counted = consumer.run(stop_when_idle=args.until_idle)
    logger.info("Stopped; %d visitor message(s) summarised", counted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
