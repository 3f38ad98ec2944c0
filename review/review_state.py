"""Where the therapist is with each conversation, and her private note on it.

A conversation is new until its transcript is first opened (then read); she can
move it to "needs follow-up" or "done", or back. The state and note live in
`conversation_reviews` (see `review.tables`), one row a conversation, written only
when she acts: no row means new, so 100,000 conversations nobody has opened cost
nothing. The note is hers alone: it is shown only to the signed-in therapist,
exported in her exports and deleted with the conversation.

The list's "To review" view and the counts in the navigation are the new
conversations with one of `REVIEW_FLAGS`: crisis, booking, unanswered, or
answered but unsure (`review.unsure`).
"""

import time
from dataclasses import dataclass
from typing import Any, Dict, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from review.constants import REVIEW_FLAGS, REVIEW_STATES
from review.queries import NEW, InvalidQuery, flagged, state_column, summaries_with_state
from review.tables import conversation_reviews, conversation_summaries

READ = "read"
NOTE_LIMIT = 5000


@dataclass(frozen=True)
class Review:
    """A conversation's review state and note."""

    state: str = NEW
    note: str = ""


@dataclass(frozen=True)
class ReviewCounts:
    """What the navigation shows: how much waits for the therapist."""

    to_review: int
    new_by_flag: Dict[str, int]
    by_state: Dict[str, int]
    total: int


def checked_state(state: str) -> str:
    """A state of `REVIEW_STATES`; anything else is refused."""
    if state not in REVIEW_STATES:
        raise InvalidQuery(f"unknown review state {state!r}")
    return state


def checked_note(note: str) -> str:
    """A note within the length limit, its line endings made plain."""
    note = note.replace("\r\n", "\n").strip()
    if len(note) > NOTE_LIMIT:
        raise InvalidQuery(f"the note is longer than {NOTE_LIMIT} characters")
    return note


def review_of(connection: Connection, conversation_id: str) -> Review:
    """The conversation's state and note (new and empty when she has not acted on it)."""
    table = conversation_reviews
    row = connection.execute(
        sa.select(table.c.state, table.c.note).where(table.c.conversation_id == conversation_id)
    ).first()
    return Review(row.state, row.note) if row else Review()


def reviews_of(connection: Connection, conversation_ids: Sequence[str]) -> Dict[str, Review]:
    """The stored states and notes of several conversations (for exports)."""
    table = conversation_reviews
    query = sa.select(table.c.conversation_id, table.c.state, table.c.note).where(
        table.c.conversation_id.in_(list(conversation_ids))
    )
    return {row.conversation_id: Review(row.state, row.note) for row in connection.execute(query)}


def mark_read(engine: Engine, conversation_id: str) -> bool:
    """Moves a new conversation to read (opening its transcript); True when it was new."""
    table = conversation_reviews
    with engine.begin() as connection:
        updated = connection.execute(
            sa.update(table)
            .where(table.c.conversation_id == conversation_id, table.c.state == NEW)
            .values(state=READ, updated_at=time.time())
        ).rowcount
        if updated:
            return True
        inserted = connection.execute(
            _insert(connection)
            .values(conversation_id=conversation_id, state=READ, note="", updated_at=time.time())
            .on_conflict_do_nothing(index_elements=[table.c.conversation_id])
        ).rowcount
        return bool(inserted)


def set_state(engine: Engine, conversation_id: str, state: str) -> str:
    """Moves the conversation to `state`; returns the state it had before."""
    checked_state(state)
    with engine.begin() as connection:
        before = review_of(connection, conversation_id).state
        _upsert(connection, conversation_id, state=state)
    return before


def set_note(engine: Engine, conversation_id: str, note: str) -> None:
    """Replaces the conversation's note (an empty note clears it)."""
    note = checked_note(note)
    with engine.begin() as connection:
        _upsert(connection, conversation_id, note=note)


def _insert(connection: Connection) -> Any:
    """An INSERT that can say what to do on a conflict, in the database's own dialect."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(conversation_reviews)


def _upsert(connection: Connection, conversation_id: str, **values: str) -> None:
    table = conversation_reviews
    values_now = {**values, "updated_at": time.time()}
    statement = _insert(connection).values(
        conversation_id=conversation_id, **{"state": NEW, "note": "", **values_now}
    )
    connection.execute(
        statement.on_conflict_do_update(index_elements=[table.c.conversation_id], set_=values_now)
    )


def review_counts(connection: Connection) -> ReviewCounts:
    """How many conversations wait in each review state and flag, in one pass over the summaries."""
    is_new = state_column == NEW
    columns = [sa.func.count().label("total"), _count(sa.and_(is_new, flagged())).label("to_review")]
    columns += [_count(sa.and_(is_new, conversation_summaries.c[flag].is_(True))).label(flag) for flag in REVIEW_FLAGS]
    columns += [_count(state_column == state).label(f"state_{state}") for state in REVIEW_STATES]
    row = connection.execute(sa.select(*columns).select_from(summaries_with_state)).one()._mapping
    return ReviewCounts(
        to_review=int(row["to_review"] or 0),
        new_by_flag={flag: int(row[flag] or 0) for flag in REVIEW_FLAGS},
        by_state={state: int(row[f"state_{state}"] or 0) for state in REVIEW_STATES},
        total=int(row["total"] or 0),
    )


def _count(condition: sa.sql.ColumnElement) -> sa.sql.ColumnElement:
    return sa.func.sum(sa.case((condition, 1), else_=0))
