"""Rasa's SQL tracker store, pointed at the database that `DATABASE_URL` names.

Rasa's own `SQL` type takes dialect, host and file name as separate settings in
`endpoints.yml`; this subclass takes them from one URL instead, so switching from
the embedded SQLite file to PostgreSQL is a change of environment, not of files.

Rasa keeps answering when its store fails: it wraps every store in
`FailSafeTrackerStore`, which saves to memory (lost at the next restart) after a
failed save, starts a fresh conversation after a failed read, and swaps a store
it cannot import for memory. A conversation with a therapy practice must not
vanish that way, so here nothing falls back: the SQLite file waits out another
process's lock (`assistant.database.wait_for_sqlite_locks`), a store that cannot
be created stops the server at start, and a conversation that cannot be read or
stored raises `ConversationNotStored`, which `assistant.unstored_messages` turns
into a clear refusal for the visitor.
"""

import itertools
import logging
from typing import Any, Iterator

import sqlalchemy as sa
from rasa.core import agent
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore, SQLTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException

from assistant import settings
from assistant.conversation_erasure import first_event_to_store
from assistant.database import wait_for_sqlite_locks

logger = logging.getLogger(__name__)


class TrackerStoreUnavailable(RuntimeError):
    """The conversation store could not be opened; the server must not start without it.

    A RuntimeError on purpose: Rasa swaps a custom store whose creation raises
    ImportError or AttributeError for memory, without stopping.
    """


class ConversationNotStored(RasaException):
    """A conversation could not be read from or written to the database."""


def describe(error: BaseException) -> str:
    """The database's own words for an error, without the statement or its parameters.

    SQLAlchemy's message repeats the statement with its parameters, which hold
    what the visitor wrote: health information that must not reach a log.
    """
    return f"{type(error).__name__}: {getattr(error, 'orig', None) or error}"


class DatabaseUrlTrackerStore(SQLTrackerStore):
    """Stores conversations in the practice's database (SQLite file or PostgreSQL)."""

    def __init__(
        self,
        domain: Domain | None = None,
        host: str | None = None,
        event_broker: EventBroker | None = None,
        **kwargs: Any,
    ) -> None:
        """Connects to `DATABASE_URL`, or to the SQLite file under `var/` by default.

        Raises:
            TrackerStoreUnavailable: the database can't be reached or has no
                `events` table after Rasa tried to create it.
        """
        for ignored in ("url", "dialect", "db", "port", "username", "password"):
            kwargs.pop(ignored, None)
        try:
            super().__init__(
                domain=domain,
                host=settings.database_url(),
                event_broker=event_broker,
                **kwargs,
            )
            # Rasa connected once to create the tables; later connections use WAL
            # and wait out locks.
            wait_for_sqlite_locks(self.engine)
            self.engine.dispose()
            has_events = sa.inspect(self.engine).has_table(self.SQLEvent.__tablename__)
        except Exception as error:
            raise TrackerStoreUnavailable(f"The conversation database can't be opened: {describe(error)}") from error
        if not has_events:
            raise TrackerStoreUnavailable("The conversation database has no events table and it could not be created.")

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterator:
        """The events not stored yet, never those of a conversation the visitor deleted.

        The deleting action removed the stored rows during the turn; Rasa's own
        count would then find none stored and write the whole session back
        (`assistant.conversation_erasure`).
        """
        start = first_event_to_store(tracker.events)
        if start is None:
            return super()._additional_events(session, tracker)
        stored = self._event_query(session, tracker.sender_id, fetch_events_from_all_sessions=False).count()
        return itertools.islice(tracker.events, start + stored, len(tracker.events))


class NoFallbackTrackerStore(FailSafeTrackerStore):
    """Rasa's `FailSafeTrackerStore` with its fallback to memory taken away.

    Rasa calls these two hooks before falling back; raising here means a failed
    read or save reaches the channel as `ConversationNotStored` instead.
    """

    def __init__(self, tracker_store: TrackerStore, **kwargs: Any) -> None:
        """Refuses memory as the primary store: that is what a failed import leaves."""
        if isinstance(tracker_store, InMemoryTrackerStore):
            raise TrackerStoreUnavailable(
                "No conversation database is configured (or its store could not be "
                "imported; see the warning above): refusing to keep conversations in memory."
            )
        super().__init__(tracker_store, **kwargs)

    def on_tracker_store_error(self, error: Exception) -> None:
        """A save failed: logged and raised, never saved to memory instead."""
        logger.error("A conversation could not be stored: %s", describe(error))
        raise ConversationNotStored(f"The conversation could not be stored: {describe(error)}") from error

    def on_tracker_store_retrieve_error(self, error: Exception) -> None:
        """A read failed: logged and raised, never answered as a new conversation."""
        logger.error("A conversation could not be read: %s", describe(error))
        raise ConversationNotStored(f"The conversation could not be read: {describe(error)}") from error


def refuse_to_forget() -> None:
    """Makes Rasa's agent wrap its store in `NoFallbackTrackerStore` (the Rasa entry point calls this).

    Rasa's `Agent` wraps whatever store it gets in the `FailSafeTrackerStore` it
    imported; replacing that one name is the smallest change that takes the
    fallback away everywhere the agent reads or saves.
    """
    agent.FailSafeTrackerStore = NoFallbackTrackerStore
