"""Deleting a conversation with everything stored about it, and purging old ones.

"Everything" is the tracker store's events, the booking requests, and the review
app's own rows about the conversation (its summary, its unanswered messages with
any intent the therapist gave them, her review state and private note, its
messages' topics and her corrections of its answers), and
the alert outbox's emails that link to it. The
audit log is not about a conversation's content and is never deleted here. Deletions take the summaries' lock, so a
refresh running at the same moment can never write a deleted conversation back; nor can the event broker's
consumer, which takes that lock before it looks the published events up in the tracker store.

Where that consumer keeps the summaries (`make cluster`), a purge follows no `events` ids: it reads which
conversations expired from the tracker store itself (`expired_in_tracker_store`).
"""

import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, List, Set

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from assistant.alert_outbox import alert_outbox
from assistant.conversation_references import ConversationReferences
from assistant.database import booking_requests
from review.summaries import chunks, events_table_exists, lock_summaries, refresh_summaries
from review.tables import (
    answer_corrections,
    conversation_reviews,
    conversation_summaries,
    events,
    summary_progress,
    unanswered_messages,
    visitor_messages,
)

SECONDS_A_DAY = 86400


@dataclass(frozen=True)
class DeletionReport:
    """What a deletion removed."""

    conversations: int
    events: int
    booking_requests: int


def delete_conversation(engine: Engine, conversation_id: str) -> DeletionReport:
    """Deletes one conversation and everything stored about it."""
    return delete_conversations(engine, [conversation_id])


def delete_conversations(engine: Engine, conversation_ids: Iterable[str]) -> DeletionReport:
    """Deletes conversations and everything stored about them, in one transaction."""
    ids = list(dict.fromkeys(conversation_ids))
    has_events = events_table_exists(engine)
    totals = [0, 0, 0]
    with engine.begin() as connection:
        mark = lock_summaries(connection)
        for batch in chunks(ids):
            totals[0] += _delete(connection, conversation_summaries, conversation_summaries.c.conversation_id, batch)
            totals[1] += _delete(connection, events, events.c.sender_id, batch) if has_events else 0
            totals[2] += _delete(connection, booking_requests, booking_requests.c.conversation_id, batch)
            _delete(connection, unanswered_messages, unanswered_messages.c.conversation_id, batch)
            _delete(connection, conversation_reviews, conversation_reviews.c.conversation_id, batch)
            _delete(connection, visitor_messages, visitor_messages.c.conversation_id, batch)
            _delete(connection, answer_corrections, answer_corrections.c.conversation_id, batch)
        _delete_alerts(connection, set(ids))
        if has_events:
            _lower_high_water_mark(connection, mark)
    return DeletionReport(*totals)


def _delete(connection: Connection, table: sa.Table, column: sa.Column, ids: List[str]) -> int:
    return int(connection.execute(sa.delete(table).where(column.in_(ids))).rowcount)


# An alert's link ends with the conversation's opaque reference (`actions.alerts.conversation_link`).
ALERT_REFERENCE = re.compile(r"/alerts/([A-Za-z0-9_-]+)")


def _delete_alerts(connection: Connection, ids: Set[str]) -> int:
    """Deletes the outbox's alerts (sent or not) whose link names one of the conversations.

    Alerts carry no conversation id, only the opaque reference in their link, so
    each one is opened with the key; the outbox holds few rows (one a crisis or
    booking), so reading them all costs little.
    """
    if not ids or not sa.inspect(connection).has_table(alert_outbox.name):
        return 0
    references = ConversationReferences.from_secret()
    doomed = [
        row.id
        for row in connection.execute(sa.select(alert_outbox.c.id, alert_outbox.c.body))
        if any(references.conversation_of(found) in ids for found in ALERT_REFERENCE.findall(row.body or ""))
    ]
    for batch in chunks(doomed):
        connection.execute(sa.delete(alert_outbox).where(alert_outbox.c.id.in_(batch)))
    return len(doomed)


def _lower_high_water_mark(connection: Connection, mark: int) -> None:
    """Keeps the mark at or below the newest remaining event.

    SQLite gives a new row the largest id plus one, so after the newest events
    are deleted, ids at or below the old mark are handed out again; without this
    the summaries would never see those events.
    """
    newest = connection.execute(sa.select(sa.func.max(events.c.id))).scalar() or 0
    if newest < mark:
        connection.execute(sa.update(summary_progress).values(last_event_id=newest))


def expired_conversation_ids(connection: Connection, retention_days: int, now: float) -> List[str]:
    """Conversations whose last message is older than the retention period."""
    cutoff = now - retention_days * SECONDS_A_DAY
    column = conversation_summaries.c.conversation_id
    query = sa.select(column).where(conversation_summaries.c.last_at < cutoff).order_by(column)
    return list(connection.execute(query).scalars())


def expired_in_tracker_store(connection: Connection, retention_days: int, now: float) -> List[str]:
    """Conversations whose newest stored event (or, with none left, summary) is older than the retention period.

    Where the event broker's consumer keeps the summaries, a conversation it
    never saw (published while no queue was bound, say) has events and no
    summary; the tracker store is the record, so it is read too, without
    following its ids.
    """
    cutoff = now - retention_days * SECONDS_A_DAY
    summaries = conversation_summaries.c
    summarised = sa.select(summaries.conversation_id).where(summaries.last_at < cutoff)
    if sa.inspect(connection).has_table(events.name):
        stored = sa.select(events.c.sender_id).group_by(events.c.sender_id)
        summarised = summarised.where(summaries.conversation_id.not_in(
            sa.select(events.c.sender_id).where(events.c.timestamp >= cutoff)
        ))
        query = sa.union(stored.having(sa.func.max(events.c.timestamp) < cutoff), summarised)
    else:
        query = summarised
    return sorted(connection.execute(query).scalars())


def _expired(engine: Engine, retention_days: int, now: float, summaries_from_broker: bool) -> List[str]:
    """What the retention period lets go.

    From the summaries, brought up to date by following `events` ids; or, where
    the broker's consumer keeps them (several writers, ids out of order), from
    the tracker store, whose ids are never followed.
    """
    if not summaries_from_broker:
        refresh_summaries(engine)
    with engine.connect() as connection:
        if summaries_from_broker:
            return expired_in_tracker_store(connection, retention_days, now)
        return expired_conversation_ids(connection, retention_days, now)


def count_expired(
    engine: Engine, retention_days: int, now: float | None = None, summaries_from_broker: bool = False
) -> int:
    """How many conversations a purge would delete now."""
    return len(_expired(engine, retention_days, now or time.time(), summaries_from_broker))


def purge_expired(
    engine: Engine, retention_days: int, now: float | None = None, summaries_from_broker: bool = False
) -> DeletionReport:
    """Deletes every conversation whose last message is older than `retention_days`.

    Booking requests older than the period whose conversation is already gone
    are deleted too, so nothing outlives the retention period.
    """
    now = time.time() if now is None else now
    expired = _expired(engine, retention_days, now, summaries_from_broker)
    report = delete_conversations(engine, expired)
    orphans = _delete_orphan_booking_requests(engine, now - retention_days * SECONDS_A_DAY)
    return DeletionReport(report.conversations, report.events, report.booking_requests + orphans)


def _delete_orphan_booking_requests(engine: Engine, cutoff: float) -> int:
    cutoff_time = datetime.fromtimestamp(cutoff, tz=timezone.utc)
    known = sa.select(conversation_summaries.c.conversation_id)
    with engine.begin() as connection:
        result = connection.execute(
            sa.delete(booking_requests).where(
                booking_requests.c.created_at < cutoff_time,
                booking_requests.c.conversation_id.not_in(known),
            )
        )
        return int(result.rowcount)
