"""The practice's database: the tracker store's events and the booking requests.

Rasa's SQL tracker store owns the `events` table; this module owns the tables the
practice adds beside it. Both live in the database named by `DATABASE_URL`
(SQLite under `var/` by default), so exporting or deleting a conversation touches
one place.
"""

from datetime import datetime, timezone
from typing import Any, Dict, List, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assistant.private_files import private_sqlite_database

metadata = sa.MetaData()

# The call booked in the therapist's calendar; all empty for a plain request.
CALENDAR_COLUMNS = (
    sa.Column("slot_start", sa.DateTime(timezone=True)),
    sa.Column("slot_end", sa.DateTime(timezone=True)),
    sa.Column("visitor_time_zone", sa.String(64)),
    sa.Column("calendar_status", sa.String(20)),
    sa.Column("calendar_event_url", sa.Text),
    sa.Column("calendar_event_uid", sa.String(255)),
    # Why the booking became a request instead (no calendar, calendar unreachable ...).
    sa.Column("calendar_fallback", sa.String(300)),
    sa.Column("confirmation_email", sa.String(300)),
)

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
    *CALENDAR_COLUMNS,
)

BOOKING_STATUSES = ("new", "contacted", "closed")
CALENDAR_STATUSES = ("booked", "moved", "cancelled")

# How long a write waits for another process's lock on the SQLite file before it fails.
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0

_engines: Dict[str, Engine] = {}


def engine_for(url: str) -> Engine:
    """Returns one shared engine per database URL, creating the practice's tables.

    Engines pool connections, so they are made once per process and reused.
    """
    engine = _engines.get(url)
    if engine is None:
        kwargs: Dict[str, Any] = {"future": True, "pool_pre_ping": True}
        if url.startswith("sqlite"):
            private_sqlite_database(url)
            kwargs["connect_args"] = {"check_same_thread": False}
        engine = sa.create_engine(url, **kwargs)
        wait_for_sqlite_locks(engine)
        metadata.create_all(engine)
        add_missing_columns(engine, booking_requests, CALENDAR_COLUMNS)
        _engines[url] = engine
    return engine


def wait_for_sqlite_locks(engine: Engine, seconds: float = SQLITE_BUSY_TIMEOUT_SECONDS) -> None:
    """Makes every new SQLite connection of `engine` use WAL and wait out a lock.

    Three processes write one SQLite file (Rasa, the action server, the review
    app). In WAL mode readers never wait for a writer, and the busy timeout makes
    a writer that finds the file locked wait for it instead of failing at once
    and losing what it was writing. PostgreSQL needs neither; nothing is done.
    """
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _use_wal_and_wait(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()


def add_missing_columns(engine: Engine, table: sa.Table, columns: Sequence[sa.Column]) -> None:
    """Adds nullable columns that a database made by an older version lacks.

    `create_all` makes missing tables, never missing columns. Several processes
    may start at once, so a column another one has just added is not an error.
    """
    present = {column["name"] for column in sa.inspect(engine).get_columns(table.name)}
    for column in columns:
        if column.name in present:
            continue
        kind = column.type.compile(dialect=engine.dialect)
        try:
            with engine.begin() as connection:
                connection.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))
        except sa.exc.DBAPIError:
            fresh = {c["name"] for c in sa.inspect(engine).get_columns(table.name)}
            if column.name not in fresh:
                raise


def update_booking_request(engine: Engine, request_id: int, values: Dict[str, Any]) -> None:
    """Changes fields of one booking request (its calendar details, its emails)."""
    with engine.begin() as connection:
        connection.execute(sa.update(booking_requests).where(booking_requests.c.id == request_id).values(**values))


def booking_request(engine: Engine, request_id: int) -> Dict[str, Any] | None:
    """One booking request by id, or None."""
    with engine.connect() as connection:
        row = connection.execute(sa.select(booking_requests).where(booking_requests.c.id == request_id)).first()
    return dict(row._mapping) if row else None


def upcoming_booked_calls(engine: Engine, now: datetime) -> List[Dict[str, Any]]:
    """Requests whose call is booked (or moved) in the calendar and not yet past, newest first."""
    query = (
        sa.select(booking_requests)
        .where(booking_requests.c.calendar_status.in_(("booked", "moved")))
        .where(booking_requests.c.slot_start > now)
        .order_by(booking_requests.c.id.desc())
    )
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


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
