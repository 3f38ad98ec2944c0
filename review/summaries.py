"""Keeps one summary row per conversation, folded in from new events only.

The conversation list must stay fast at 100,000 conversations, so it never scans
`events`: it reads `conversation_summaries`. This module brings that table up to
date by reading the events whose id is above a high-water mark, in batches, and
folding each into its conversation's row. Each batch is one transaction that
first locks the high-water mark row, so two refreshes (the app and the command
line, say) never fold the same events twice.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Sequence

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
from review.tables import conversation_summaries, events, metadata, summary_progress, unanswered_messages

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
    visitor_text: List[str] = field(default_factory=list)


def ensure_tables(engine: Engine) -> None:
    """Creates the review app's tables and the high-water mark row if missing."""
    metadata.create_all(engine)
    with engine.begin() as connection:
        exists = connection.execute(
            sa.select(summary_progress.c.id).where(summary_progress.c.id == PROGRESS_ROW)
        ).first()
        if exists is None:
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
        deltas: Dict[str, ConversationDelta] = {}
        unanswered: List[Dict[str, Any]] = []
        for row in rows:
            _fold_event(row, deltas, unanswered)
        _mark_bookings(connection, deltas)
        _write_summaries(connection, deltas)
        if unanswered:
            connection.execute(sa.insert(unanswered_messages), unanswered)
        connection.execute(
            sa.update(summary_progress)
            .where(summary_progress.c.id == PROGRESS_ROW)
            .values(last_event_id=rows[-1].id)
        )
        return len(rows)


def _fold_event(row: Row, deltas: Dict[str, ConversationDelta], unanswered: List[Dict[str, Any]]) -> None:
    timestamp = float(row.timestamp or 0.0)
    delta = deltas.get(row.sender_id)
    if delta is None:
        delta = deltas[row.sender_id] = ConversationDelta(row.sender_id, timestamp, timestamp)
    delta.started_at = min(delta.started_at, timestamp)
    delta.last_at = max(delta.last_at, timestamp)
    if row.type_name == "user":
        _fold_visitor_message(row, parse_event_data(row.data), delta, unanswered)
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
        "visitor_text": visitor_text[:VISITOR_TEXT_LIMIT],
    }
