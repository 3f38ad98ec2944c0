"""The Messenger message ids already received, so that a replayed event is handled once.

Meta redelivers a webhook call it thinks failed, and anyone holding a signed body
can post it again; both carry the same `mid`. The ids are kept in the practice's
database (not in memory), so a replay after a restart is dropped too, for a few
days: longer than Meta keeps retrying, short enough to keep the table small. Only
ids and times are stored, never what the visitor wrote.
"""

import threading
import time
import weakref
from typing import Iterable, Set

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

RETENTION_SECONDS = 3 * 24 * 3600.0
PRUNE_EVERY_SECONDS = 3600.0

metadata = sa.MetaData()

message_receipts = sa.Table(
    "messenger_message_receipts",
    metadata,
    sa.Column("message_id", sa.String(255), primary_key=True),
    sa.Column("received_at", sa.Float, nullable=False, index=True),
    # When the assistant finished with the message (None: still being handled).
    sa.Column("handled_at", sa.Float),
)

# Keyed by the engine itself, weakly: an id() is reused once a disposed engine is
# collected, and a new database must not be taken for one whose table exists.
_ready: "weakref.WeakSet[Engine]" = weakref.WeakSet()
_creating = threading.Lock()
_last_prune: "weakref.WeakKeyDictionary[Engine, float]" = weakref.WeakKeyDictionary()


def ensure_table(engine: Engine) -> None:
    """Creates the table the first time this process uses an engine.

    A visitor's first messages arrive together and are handled in threads, and
    another process may create the table at the same moment: the lock keeps this
    process's threads from racing, and a table created by someone else between
    the check and the CREATE is simply there, not an error.
    """
    if engine in _ready:
        return
    with _creating:
        if engine in _ready:
            return
        try:
            metadata.create_all(engine)
        # SQLite says OperationalError; PostgreSQL an IntegrityError or ProgrammingError
        # (its catalogue's unique index) when another process's CREATE won.
        except DBAPIError:
            if not sa.inspect(engine).has_table(message_receipts.name):
                raise
        _ready.add(engine)


def claim_message(engine: Engine, message_id: str, now: float | None = None) -> bool:
    """Records a message id; False when it was seen before (the event is a replay).

    The primary key decides: of two deliveries racing, exactly one insert succeeds.
    """
    ensure_table(engine)
    moment = time.time() if now is None else now
    _prune_now_and_then(engine, moment)
    try:
        with engine.begin() as connection:
            connection.execute(sa.insert(message_receipts).values(message_id=message_id, received_at=moment))
    except IntegrityError:
        return False
    return True


def mark_handled(engine: Engine, message_id: str, now: float | None = None) -> None:
    """Records that the assistant is done with a message (answered, refused or failed)."""
    moment = time.time() if now is None else now
    with engine.begin() as connection:
        connection.execute(
            sa.update(message_receipts).where(message_receipts.c.message_id == message_id).values(handled_at=moment)
        )


def handled_ids(engine: Engine, message_ids: Iterable[str]) -> Set[str]:
    """Which of these messages the assistant has finished with."""
    ensure_table(engine)
    wanted = list(message_ids)
    if not wanted:
        return set()
    query = sa.select(message_receipts.c.message_id).where(
        message_receipts.c.message_id.in_(wanted), message_receipts.c.handled_at.is_not(None)
    )
    with engine.connect() as connection:
        return {row[0] for row in connection.execute(query)}


def prune(engine: Engine, now: float | None = None) -> int:
    """Forgets ids older than the retention period; returns how many."""
    ensure_table(engine)
    moment = time.time() if now is None else now
    with engine.begin() as connection:
        result = connection.execute(
            sa.delete(message_receipts).where(message_receipts.c.received_at < moment - RETENTION_SECONDS)
        )
    return int(result.rowcount or 0)


def _prune_now_and_then(engine: Engine, now: float) -> None:
    """Prunes at most once an hour per process, so claiming stays one insert."""
    if now - _last_prune.get(engine, float("-inf")) >= PRUNE_EVERY_SECONDS:
        _last_prune[engine] = now
        prune(engine, now)
