"""Rasa's SQL tracker store, pointed at the database that `DATABASE_URL` names.

Rasa's own `SQL` type takes dialect, host and file name as separate settings in
`endpoints.yml`; this subclass takes them from one URL instead, so switching from
the embedded SQLite file to PostgreSQL is a change of environment, not of files.
"""

from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain

from assistant import settings


class DatabaseUrlTrackerStore(SQLTrackerStore):
    """Stores conversations in the practice's database (SQLite file or PostgreSQL)."""

    def __init__(
        self,
        domain: Domain | None = None,
        host: str | None = None,
        event_broker: EventBroker | None = None,
        **kwargs: Any,
    ) -> None:
        """Connects to `DATABASE_URL`, or to the SQLite file under `var/` by default."""
        for ignored in ("url", "dialect", "db", "port", "username", "password"):
            kwargs.pop(ignored, None)
        super().__init__(
            domain=domain,
            host=settings.database_url(),
            event_broker=event_broker,
            **kwargs,
        )
