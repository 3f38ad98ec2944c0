"""The practice's database: the tracker store's events and the booking requests.

Rasa's SQL tracker store owns the `events` table; this module owns the tables the
practice adds beside it. Both live in the database named by `DATABASE_URL`
(SQLite under `var/` by default), so exporting or deleting a conversation touches
one place.
"""

from datetime import datetime, timezone
from typing import Any, Dict, List

import sqlalchemy as sa
from sqlalchemy.engine import Engine

metadata = sa.MetaData()

booking_requests = sa.Table(
    "booking_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(255), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("contact", sa.String(320), nullable=False),
    sa.Column("contact_kind", sa.String(10), nullable=False),
    sa.Column("preferred_times", sa.Text, nullable=False),
    sa.Column("consent", sa.Boolean, nullable=False),
    sa.Column("channel", sa.String(50)),
    sa.Column("status", sa.String(20), nullable=False, default="new"),
    sa.Column(
        "created_at",
        sa.DateTime(timezone=True),
        nullable=False,
        default=lambda: datetime.now(timezone.utc),
    ),
)

BOOKING_STATUSES = ("new", "contacted", "closed")

_engines: Dict[str, Engine] = {}


def engine_for(url: str) -> Engine:
    """Returns one shared engine per database URL, creating the practice's tables.

    Engines pool connections, so they are made once per process and reused.
    """
    engine = _engines.get(url)
    if engine is None:
        kwargs: Dict[str, Any] = {"future": True, "pool_pre_ping": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        engine = sa.create_engine(url, **kwargs)
        metadata.create_all(engine)
        _engines[url] = engine
    return engine


def save_booking_request(engine: Engine, request: Dict[str, Any]) -> int:
    """Stores a completed booking request and returns its id."""
    with engine.begin() as connection:
        result = connection.execute(sa.insert(booking_requests).values(**request))
        return int(result.inserted_primary_key[0])


def booking_requests_for(engine: Engine, conversation_id: str) -> List[Dict[str, Any]]:
    """The booking requests of one conversation, oldest first."""
    query = (
        sa.select(booking_requests)
        .where(booking_requests.c.conversation_id == conversation_id)
        .order_by(booking_requests.c.id)
    )
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def dispose_engine(url: str | None = None) -> None:
    """Closes pooled connections (all engines when no URL is given)."""
    for key in [url] if url else list(_engines):
        engine = _engines.pop(key, None)
        if engine is not None:
            engine.dispose()
