"""Keeps one summary row per conversation, folded in from new events only.

The conversation list must stay fast at 100,000 conversations, so it never scans
`events`: it reads `conversation_summaries`. This module brings that table up to
date by reading the events whose id is above a high-water mark, in batches, and
folding each into its conversation's row. Each batch is one transaction that
first locks the high-water mark row, so two refreshes (the app and the command
line, say) never fold the same events twice.

`fold_rows` is the one fold: the id-following refresh here and the event broker's
consumer (`review.event_consumer`, for several Rasa replicas, whose ids commit out
of order) both call it. It is idempotent: a visitor message already in
`visitor_messages` is not counted again, and everything else it folds (first and
last time, flags) gives the same result twice, so an event read by both paths, or
delivered twice by the broker, counts once.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Sequence, Set

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from assistant.database import booking_requests
from review.constants import (
    CRISIS_INTENT,
    CRISIS_SLOT,
    MEDICAL_INTENT,
    SAFETY_NET_KEY,
    UNANSWERED_INTENTS,
)
from review.queries import parse_event_data
from review.tables import (
    conversation_summaries,
    conversation_summaries_insights_index,
    events,
    metadata,
    summary_progress,
    unanswered_messages,
    visitor_messages,
)
from review.understanding import understand
from review.unsure import answered_but_unsure

BATCH_SIZE = 2000
FIRST_MESSAGE_LIMIT = 300
VISITOR_TEXT_LIMIT = 4000
IN_CLAUSE_CHUNK = 500
PROGRESS_ROW = 1


@dataclass
class ConversationDelta:
    """What one batch of events adds to a conversation's summary."""

    conversation_id: str
    started_at: float
    last_at: float
    channel: str | None = None
    first_message: str | None = None
    turns: int = 0
    crisis: bool = False
    booking: bool = False
    unanswered: bool = False
    medical: bool = False
    unsure: bool = False
    visitor_text: List[str] = field(default_factory=list)


def ensure_tables(engine: Engine) -> None:
    """Creates the review app's tables and the high-water mark row if missing.

    Summaries written by an older version that lacks one of today's columns are
    rebuilt from the events (see `rebuild_summaries`).
    """
    # Visitor messages folded before this table existed are only in `events`.
    messages_missing = not sa.inspect(engine).has_table(visitor_messages.name)
    metadata.create_all(engine)
    if summaries_outdated(engine) or messages_missing:
        rebuild_summaries(engine)
    conversation_summaries_insights_index.create(engine, checkfirst=True)
    with engine.begin() as connection:
        exists = connection.execute(
            sa.select(summary_progress.c.id).where(summary_progress.c.id == PROGRESS_ROW)
        ).first()
        if exists is None:
            connection.execute(sa.insert(summary_progress).values(id=PROGRESS_ROW, last_event_id=0))


def summaries_outdated(engine: Engine) -> bool:
    """Whether the stored summaries table lacks a column this version keeps."""
    stored = {column["name"] for column in sa.inspect(engine).get_columns(conversation_summaries.name)}
    return not set(conversation_summaries.c.keys()) <= stored


def rebuild_summaries(engine: Engine) -> None:
    """Drops the summaries and folds every event in again on the next refresh.

    Summaries are derived from `events` alone, so nothing is lost: the therapist's
    own rows (review states and notes, intents given to unanswered messages) live
    in other tables and are kept; unanswered messages already stored are not
    stored twice. The visitor messages are derived too and folded again with them
    (they are what makes `fold_rows` count a message once).
    """
    with engine.begin() as connection:
        conversation_summaries.drop(connection, checkfirst=True)
        conversation_summaries.create(connection)
        connection.execute(sa.delete(visitor_messages))
        connection.execute(sa.delete(summary_progress))
        connection.execute(sa.insert(summary_progress).values(id=PROGRESS_ROW, last_event_id=0))


def events_table_exists(engine: Engine) -> bool:
    """Whether Rasa has created its `events` table yet (not before its first message)."""
    return sa.inspect(engine).has_table(events.name)


def refresh_summaries(engine: Engine, batch_size: int = BATCH_SIZE) -> int:
    """Folds every event above the high-water mark into the summaries.

    Returns:
        How many events were read; 0 when the summaries were already current.
    """
    if not events_table_exists(engine):
        return 0
    total = 0
    while True:
        with engine.connect() as connection:
            newest = connection.execute(sa.select(sa.func.max(events.c.id))).scalar()
            if newest is None or newest <= high_water_mark(connection):
                return total
        read = _fold_one_batch(engine, batch_size)
        total += read
        if read == 0:
            return total


def high_water_mark(connection: Connection) -> int:
    """The id of the last event already folded into the summaries."""
    mark = connection.execute(
        sa.select(summary_progress.c.last_event_id).where(summary_progress.c.id == PROGRESS_ROW)
    ).scalar()
    return int(mark or 0)


def lock_summaries(connection: Connection) -> int:
    """Takes the write lock on the high-water mark row and returns the mark.

    A no-op UPDATE is the one lock both SQLite (the database's write lock) and
    PostgreSQL (the row's lock) honour; whoever comes second waits, then reads the
    mark the first one left.
    """
    connection.execute(
        sa.update(summary_progress)
        .where(summary_progress.c.id == PROGRESS_ROW)
        .values(last_event_id=summary_progress.c.last_event_id)
    )
    return high_water_mark(connection)


def _fold_one_batch(engine: Engine, batch_size: int) -> int:
    with engine.begin() as connection:
        mark = lock_summaries(connection)
        rows = connection.execute(
            sa.select(events).where(events.c.id > mark).order_by(events.c.id).limit(batch_size)
        ).all()
        if not rows:
            return 0
        fold_rows(connection, rows)
        connection.execute(
            sa.update(summary_progress)
            .where(summary_progress.c.id == PROGRESS_ROW)
            .values(last_event_id=rows[-1].id)
        )
        return len(rows)


def fold_rows(connection: Connection, rows: Sequence[Row]) -> int:
    """Folds rows of Rasa's `events` table into the summaries; returns the messages newly counted.

    The caller holds the summaries' lock (`lock_summaries`) in the same
    transaction and passes each conversation's rows in the order they happened.
    A row seen before (by id) changes nothing, whichever path folded it.
    """
    rows = list({row.id: row for row in rows}.values())
    folded = _folded_messages(connection, [row.id for row in rows if row.type_name == "user"])
    deltas: Dict[str, ConversationDelta] = {}
    unanswered: List[Dict[str, Any]] = []
    messages: List[Dict[str, Any]] = []
    for row in rows:
        _fold_event(row, deltas, unanswered, messages, row.id in folded)
    _mark_bookings(connection, deltas)
    _write_summaries(connection, deltas)
    unanswered = _not_yet_stored(connection, unanswered)
    if unanswered:
        connection.execute(sa.insert(unanswered_messages), unanswered)
    if messages:
        connection.execute(sa.insert(visitor_messages), messages)
    return len(messages)


def _folded_messages(connection: Connection, event_ids: List[int]) -> Set[int]:
    """The ids among `event_ids` of visitor messages already folded into the summaries."""
    column = visitor_messages.c.event_id
    folded: Set[int] = set()
    for ids in chunks(event_ids):
        folded.update(connection.execute(sa.select(column).where(column.in_(ids))).scalars())
    return folded


def _fold_event(
    row: Row,
    deltas: Dict[str, ConversationDelta],
    unanswered: List[Dict[str, Any]],
    messages: List[Dict[str, Any]],
    already_folded: bool = False,
) -> None:
    timestamp = float(row.timestamp or 0.0)
    delta = deltas.get(row.sender_id)
    if delta is None:
        delta = deltas[row.sender_id] = ConversationDelta(row.sender_id, timestamp, timestamp)
    delta.started_at = min(delta.started_at, timestamp)
    delta.last_at = max(delta.last_at, timestamp)
    if row.type_name == "user" and not already_folded:
        data = parse_event_data(row.data)
        _fold_visitor_message(row, data, delta, unanswered)
        messages.append(visitor_message(row, data))
    elif row.type_name == "slot" and row.action_name == CRISIS_SLOT:
        delta.crisis = delta.crisis or parse_event_data(row.data).get("value") is True


def _fold_visitor_message(
    row: Row, data: Dict[str, Any], delta: ConversationDelta, unanswered: List[Dict[str, Any]]
) -> None:
    text = str(data.get("text") or "")
    parse_data = data.get("parse_data") or {}
    intent = (parse_data.get("intent") or {}).get("name") or row.intent_name
    delta.turns += 1
    delta.channel = delta.channel or data.get("input_channel")
    if delta.first_message is None:
        delta.first_message = text[:FIRST_MESSAGE_LIMIT]
    delta.visitor_text.append(text.lower())
    delta.crisis = delta.crisis or intent == CRISIS_INTENT or SAFETY_NET_KEY in parse_data
    delta.medical = delta.medical or intent == MEDICAL_INTENT
    delta.unsure = delta.unsure or answered_but_unsure(text, parse_data)
    if intent in UNANSWERED_INTENTS:
        delta.unanswered = True
        unanswered.append(
            {
                "event_id": row.id,
                "conversation_id": row.sender_id,
                "text": text,
                "intent": intent,
                "confidence": (parse_data.get("intent") or {}).get("confidence"),
                "timestamp": float(row.timestamp or 0.0),
            }
        )


def visitor_message(row: Row, data: Dict[str, Any]) -> Dict[str, Any]:
    """The `visitor_messages` row of a `user` event: when, where, what topic, what outcome."""
    understood = understand(data.get("parse_data") or {}, str(data.get("text") or ""))
    topic = understood.answer.label if understood.answer else row.intent_name
    return {
        "event_id": row.id,
        "conversation_id": row.sender_id,
        "timestamp": float(row.timestamp or 0.0),
        "channel": data.get("input_channel"),
        "topic": topic[:255] if topic else None,
        "outcome": understood.outcome,
    }


def _not_yet_stored(
    connection: Connection, unanswered: List[Dict[str, Any]], table: sa.Table = unanswered_messages
) -> List[Dict[str, Any]]:
    """The rows of messages not stored already (after a rebuild, the earlier ones are)."""
    if not unanswered:
        return unanswered
    column = table.c.event_id
    ids = [row["event_id"] for row in unanswered]
    stored = set(connection.execute(sa.select(column).where(column.in_(ids))).scalars())
    return [row for row in unanswered if row["event_id"] not in stored]


def chunks(items: Sequence[str], size: int = IN_CLAUSE_CHUNK) -> Iterable[Sequence[str]]:
    """Splits ids for IN (...) clauses, which SQLite limits in length."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _mark_bookings(connection: Connection, deltas: Dict[str, ConversationDelta]) -> None:
    """A stored booking request flags its conversation.

    The action server stores the request before Rasa stores the events of that
    turn, so the request is always there by the time its events are folded in.
    """
    for ids in chunks(list(deltas)):
        booked = connection.execute(
            sa.select(booking_requests.c.conversation_id)
            .where(booking_requests.c.conversation_id.in_(ids))
            .distinct()
        ).scalars()
        for conversation_id in booked:
            deltas[conversation_id].booking = True


def _write_summaries(connection: Connection, deltas: Dict[str, ConversationDelta]) -> None:
    table = conversation_summaries
    for ids in chunks(list(deltas)):
        existing = {
            row.conversation_id: row
            for row in connection.execute(sa.select(table).where(table.c.conversation_id.in_(ids)))
        }
        inserts = [_new_summary(deltas[i]) for i in ids if i not in existing]
        updates = [_merged_summary(existing[i], deltas[i]) for i in ids if i in existing]
        if inserts:
            connection.execute(sa.insert(table), inserts)
        if updates:
            connection.execute(
                sa.update(table)
                .where(table.c.conversation_id == sa.bindparam("key"))
                .values({name: sa.bindparam(name) for name in updates[0] if name != "key"}),
                updates,
            )


def _new_summary(delta: ConversationDelta) -> Dict[str, Any]:
    return {
        "conversation_id": delta.conversation_id,
        "started_at": delta.started_at,
        "last_at": delta.last_at,
        "channel": delta.channel,
        "first_message": delta.first_message,
        "turns": delta.turns,
        "crisis": delta.crisis,
        "booking": delta.booking,
        "unanswered": delta.unanswered,
        "medical": delta.medical,
        "unsure": delta.unsure,
        "visitor_text": "\n".join(delta.visitor_text)[:VISITOR_TEXT_LIMIT],
    }


def _merged_summary(row: Row, delta: ConversationDelta) -> Dict[str, Any]:
    visitor_text = "\n".join(filter(None, [row.visitor_text, *delta.visitor_text]))
    return {
        "key": row.conversation_id,
        "started_at": min(row.started_at, delta.started_at),
        "last_at": max(row.last_at, delta.last_at),
        "channel": row.channel or delta.channel,
        "first_message": row.first_message if row.first_message is not None else delta.first_message,
        "turns": row.turns + delta.turns,
        "crisis": row.crisis or delta.crisis,
        "booking": row.booking or delta.booking,
        "unanswered": row.unanswered or delta.unanswered,
        "medical": row.medical or delta.medical,
        "unsure": row.unsure or delta.unsure,
        "visitor_text": visitor_text[:VISITOR_TEXT_LIMIT],
    }
