"""The review app's reads and small updates, as SQLAlchemy Core queries.

Every value a visitor or the therapist typed reaches the database as a bound
parameter; filters are checked against fixed sets before a query is built. The
conversation list reads `conversation_summaries` (see `review.summaries`) and
pages by keyset on (started_at, conversation_id), so page 2,000 costs what
page 1 costs.
"""

import json
import math
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Any, Dict, List, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from assistant.database import BOOKING_STATUSES, booking_requests
from review.constants import FLAGS, REVIEW_FLAGS, REVIEW_STATES
from review.tables import conversation_reviews, conversation_summaries, events, unanswered_messages

PAGE_SIZE = 50
SEARCH_LIMIT = 200
GROUPING_LIMIT = 2000
NEW = "new"

# A summary with the therapist's review state beside it: stored, or new when there is none.
state_column = sa.func.coalesce(conversation_reviews.c.state, NEW)
summaries_with_state = conversation_summaries.outerjoin(
    conversation_reviews, conversation_reviews.c.conversation_id == conversation_summaries.c.conversation_id
)


class InvalidQuery(ValueError):
    """A filter, cursor or status that the review app does not accept; the message says which."""


@dataclass(frozen=True)
class ConversationFilter:
    """What the therapist narrowed the conversation list to; every field optional."""

    flag: str | None = None
    channel: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    search: str | None = None
    state: str | None = None
    # Only what waits for the therapist: new, with one of `REVIEW_FLAGS`.
    to_review: bool = False

    def __post_init__(self) -> None:
        """Refuses a flag or state outside the fixed sets, and over-long searches."""
        if self.flag is not None and self.flag not in FLAGS:
            raise InvalidQuery(f"unknown flag {self.flag!r}")
        if self.state is not None and self.state not in REVIEW_STATES:
            raise InvalidQuery(f"unknown review state {self.state!r}")
        if self.search is not None and len(self.search) > SEARCH_LIMIT:
            raise InvalidQuery("the search is too long")


@dataclass(frozen=True)
class Cursor:
    """A position in the newest-first list: the row just outside the current page."""

    started_at: float
    conversation_id: str

    def encode(self) -> str:
        """The form used in page links."""
        return f"{self.started_at!r}:{self.conversation_id}"

    @classmethod
    def decode(cls, text: str) -> "Cursor":
        """Reads a page link's cursor; anything malformed is refused, not guessed at."""
        started_at, separator, conversation_id = text.partition(":")
        try:
            value = float(started_at)
        except ValueError as error:
            raise InvalidQuery("malformed page cursor") from error
        if not separator or not conversation_id or not math.isfinite(value):
            raise InvalidQuery("malformed page cursor")
        return cls(value, conversation_id)


@dataclass(frozen=True)
class ConversationPage:
    """One page of the list, with the cursors of its neighbours (None at either end)."""

    rows: List[Dict[str, Any]]
    newer: Cursor | None
    older: Cursor | None


def _day_start(day: date) -> float:
    """Midnight of a day in the server's time zone, where the therapist reads the dates."""
    return datetime.combine(day, clock_time.min).astimezone().timestamp()


def flagged() -> sa.sql.ColumnElement:
    """A summary carries one of the flags that call for the therapist's review."""
    return sa.or_(*[conversation_summaries.c[flag].is_(True) for flag in REVIEW_FLAGS])


def _conditions(selection: ConversationFilter) -> List[sa.sql.ColumnElement]:
    table = conversation_summaries
    conditions: List[sa.sql.ColumnElement] = []
    if selection.to_review:
        conditions += [state_column == NEW, flagged()]
    if selection.state:
        conditions.append(state_column == selection.state)
    if selection.flag:
        conditions.append(table.c[selection.flag].is_(True))
    if selection.channel:
        conditions.append(table.c.channel == selection.channel)
    if selection.date_from:
        conditions.append(table.c.started_at >= _day_start(selection.date_from))
    if selection.date_to:
        conditions.append(table.c.started_at < _day_start(selection.date_to + timedelta(days=1)))
    if selection.search and selection.search.strip():
        needle = selection.search.strip().lower()
        conditions.append(table.c.visitor_text.contains(needle, autoescape=True))
    return conditions


def list_conversations(
    connection: Connection,
    selection: ConversationFilter,
    before: Cursor | None = None,
    after: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> ConversationPage:
    """A page of conversations, newest first.

    Args:
        connection: An open connection.
        selection: The filters.
        before: Show the page of conversations older than this one.
        after: Show the page of conversations newer than this one.
        limit: Rows per page.
    """
    table = conversation_summaries
    key = (table.c.started_at, table.c.conversation_id)
    query = sa.select(table, state_column.label("review_state")).select_from(summaries_with_state)
    query = query.where(*_conditions(selection))
    if after is not None:
        query = query.where(
            table.c.started_at >= after.started_at,
            sa.or_(table.c.started_at > after.started_at, table.c.conversation_id > after.conversation_id),
        ).order_by(*[column.asc() for column in key])
    else:
        if before is not None:
            query = query.where(
                table.c.started_at <= before.started_at,
                sa.or_(table.c.started_at < before.started_at, table.c.conversation_id < before.conversation_id),
            )
        query = query.order_by(*[column.desc() for column in key])
    rows = [dict(row._mapping) for row in connection.execute(query.limit(limit + 1))]
    more = len(rows) > limit
    rows = rows[:limit]
    if after is not None:
        rows.reverse()
        newer_exists, older_exists = more, True
    else:
        newer_exists, older_exists = before is not None, more
    newer = _cursor(rows[0]) if rows and newer_exists else None
    older = _cursor(rows[-1]) if rows and older_exists else None
    return ConversationPage(rows, newer, older)


def _cursor(row: Dict[str, Any]) -> Cursor:
    return Cursor(row["started_at"], row["conversation_id"])


def count_conversations(connection: Connection, selection: ConversationFilter) -> int:
    """How many conversations match the filters."""
    query = sa.select(sa.func.count()).select_from(summaries_with_state).where(*_conditions(selection))
    return int(connection.execute(query).scalar() or 0)


def channels(connection: Connection) -> List[str]:
    """The channels conversations came through, for the channel filter."""
    column = conversation_summaries.c.channel
    query = sa.select(column).where(column.is_not(None)).distinct().order_by(column)
    return list(connection.execute(query).scalars())


def conversation_summary(connection: Connection, conversation_id: str) -> Dict[str, Any] | None:
    """One conversation's summary row, or None when there is no such conversation."""
    table = conversation_summaries
    row = connection.execute(sa.select(table).where(table.c.conversation_id == conversation_id)).first()
    return dict(row._mapping) if row else None


@dataclass(frozen=True)
class StoredEvent:
    """One tracker store event as Rasa wrote it."""

    id: int
    type_name: str
    timestamp: float
    data: Dict[str, Any]


def conversation_events(connection: Connection, conversation_id: str) -> List[StoredEvent]:
    """Every stored event of a conversation, in the order Rasa wrote them."""
    query = (
        sa.select(events.c.id, events.c.type_name, events.c.timestamp, events.c.data)
        .where(events.c.sender_id == conversation_id)
        .order_by(events.c.id)
    )
    return [
        StoredEvent(row.id, row.type_name, float(row.timestamp or 0.0), parse_event_data(row.data))
        for row in connection.execute(query)
    ]


def events_of(connection: Connection, conversation_ids: Sequence[str]) -> Dict[str, List[StoredEvent]]:
    """The events of several conversations at once (for exports)."""
    found: Dict[str, List[StoredEvent]] = {conversation_id: [] for conversation_id in conversation_ids}
    query = (
        sa.select(events.c.id, events.c.sender_id, events.c.type_name, events.c.timestamp, events.c.data)
        .where(events.c.sender_id.in_(list(conversation_ids)))
        .order_by(events.c.sender_id, events.c.id)
    )
    for row in connection.execute(query):
        event = StoredEvent(row.id, row.type_name, float(row.timestamp or 0.0), parse_event_data(row.data))
        found[row.sender_id].append(event)
    return found


def parse_event_data(text: str | None) -> Dict[str, Any]:
    """The JSON of a stored event; an empty mapping if it is not a JSON object."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def conversation_ids_after(connection: Connection, after: str | None, limit: int) -> List[str]:
    """Conversation ids in id order, for walking all of them in batches."""
    column = conversation_summaries.c.conversation_id
    query = sa.select(column).order_by(column).limit(limit)
    if after is not None:
        query = query.where(column > after)
    return list(connection.execute(query).scalars())


# Booking requests


def list_booking_requests(
    connection: Connection, status: str | None = None, before_id: int | None = None, limit: int = PAGE_SIZE
) -> List[Dict[str, Any]]:
    """Booking requests, newest first, optionally of one status."""
    if status is not None and status not in BOOKING_STATUSES:
        raise InvalidQuery(f"unknown status {status!r}")
    query = sa.select(booking_requests).order_by(booking_requests.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(booking_requests.c.status == status)
    if before_id is not None:
        query = query.where(booking_requests.c.id < before_id)
    return [dict(row._mapping) for row in connection.execute(query)]


def booking_requests_of(connection: Connection, conversation_ids: Sequence[str]) -> Dict[str, List[Dict[str, Any]]]:
    """The booking requests of several conversations, oldest first."""
    found: Dict[str, List[Dict[str, Any]]] = {conversation_id: [] for conversation_id in conversation_ids}
    query = (
        sa.select(booking_requests)
        .where(booking_requests.c.conversation_id.in_(list(conversation_ids)))
        .order_by(booking_requests.c.id)
    )
    for row in connection.execute(query):
        found[row.conversation_id].append(dict(row._mapping))
    return found


def booking_requests_by_id(connection: Connection, booking_ids: Sequence[int]) -> List[Dict[str, Any]]:
    """The booking requests with these ids (a calendar event links to one)."""
    query = sa.select(booking_requests).where(booking_requests.c.id.in_(list(booking_ids)))
    return [dict(row._mapping) for row in connection.execute(query)]


def booking_status_counts(connection: Connection) -> Dict[str, int]:
    """How many requests are in each status (every status listed, zero included)."""
    query = sa.select(booking_requests.c.status, sa.func.count()).group_by(booking_requests.c.status)
    counts = {status: 0 for status in BOOKING_STATUSES}
    counts.update({status: int(count) for status, count in connection.execute(query)})
    return counts


def set_booking_status(connection: Connection, booking_id: int, status: str) -> bool:
    """Moves a request to a status; False when there is no such request."""
    if status not in BOOKING_STATUSES:
        raise InvalidQuery(f"unknown status {status!r}")
    result = connection.execute(
        sa.update(booking_requests).where(booking_requests.c.id == booking_id).values(status=status)
    )
    return result.rowcount == 1


# Unanswered messages


def unanswered_texts(connection: Connection, assigned: bool, limit: int = GROUPING_LIMIT) -> List[Dict[str, Any]]:
    """Distinct texts that went to fallback or out of scope, most recently seen first.

    Identical messages are counted once: they need one decision, not many. Each
    row holds the text, how often it came, when last, one conversation it came
    from, and (for assigned ones) the intent the therapist gave it.
    """
    table = unanswered_messages
    condition = table.c.assigned_intent.is_not(None) if assigned else table.c.assigned_intent.is_(None)
    keys = [table.c.text, table.c.assigned_intent] if assigned else [table.c.text]
    query = (
        sa.select(
            *keys,
            sa.func.count().label("count"),
            sa.func.max(table.c.timestamp).label("last_at"),
            sa.func.max(table.c.conversation_id).label("conversation_id"),
        )
        .where(condition)
        .group_by(*keys)
        .order_by(sa.func.max(table.c.timestamp).desc(), table.c.text)
        .limit(limit)
    )
    return [dict(row._mapping) for row in connection.execute(query)]


def assign_intent(connection: Connection, texts: Sequence[str], intent: str | None) -> int:
    """Gives every waiting message with one of these texts the intent it should have had.

    With `intent` None the assignment is taken back. Returns how many messages changed.
    """
    if not texts:
        return 0
    table = unanswered_messages
    waiting = table.c.assigned_intent.is_(None) if intent else table.c.assigned_intent.is_not(None)
    result = connection.execute(
        sa.update(table)
        .where(table.c.text.in_(list(texts)), waiting)
        .values(assigned_intent=intent, assigned_at=time.time() if intent else None)
    )
    return int(result.rowcount)


def assignments(connection: Connection) -> List[Tuple[str, str]]:
    """Every (text, intent) the therapist assigned, oldest assignment first, for the export."""
    table = unanswered_messages
    query = (
        sa.select(table.c.text, table.c.assigned_intent)
        .where(table.c.assigned_intent.is_not(None))
        .order_by(table.c.assigned_at, table.c.event_id)
    )
    return [(row.text, row.assigned_intent) for row in connection.execute(query)]
