"""The therapist's corrections: "this message should have been answered with that topic".

A correction names a visitor message by its event id and the conversation it
belongs to; the text is copied from the stored event, never taken from the form,
so a correction can only ever say something about what a visitor really wrote.
Correcting a message again replaces the earlier correction.
"""

import time
from dataclasses import dataclass
from typing import Dict, List, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from review.queries import parse_event_data
from review.tables import answer_corrections, events
from review.understanding import answered_label


@dataclass(frozen=True)
class Correction:
    """A stored correction: which message, what it was answered with, what it should have been."""

    event_id: int
    conversation_id: str
    answered_with: str | None
    corrected_to: str


def correct_answer(connection: Connection, conversation_id: str, event_id: int, topic: str) -> Correction | None:
    """Stores the right topic of one visitor message; None when the conversation has no such message."""
    row = connection.execute(
        sa.select(events.c.data).where(
            events.c.id == event_id, events.c.sender_id == conversation_id, events.c.type_name == "user"
        )
    ).first()
    if row is None:
        return None
    data = parse_event_data(row.data)
    text = str(data.get("text") or "").strip()
    if not text:
        return None
    correction = Correction(event_id, conversation_id, answered_label(data.get("parse_data") or {}), topic)
    connection.execute(sa.delete(answer_corrections).where(answer_corrections.c.event_id == event_id))
    connection.execute(
        sa.insert(answer_corrections).values(
            event_id=event_id,
            conversation_id=conversation_id,
            text=text,
            answered_with=correction.answered_with,
            corrected_to=topic,
            corrected_at=time.time(),
        )
    )
    return correction


def take_back(connection: Connection, conversation_id: str, event_id: int) -> bool:
    """Removes a correction; False when there was none."""
    result = connection.execute(
        sa.delete(answer_corrections).where(
            answer_corrections.c.event_id == event_id, answer_corrections.c.conversation_id == conversation_id
        )
    )
    return result.rowcount > 0


def corrections_of(connection: Connection, conversation_id: str) -> Dict[int, str]:
    """The corrected topic of each corrected message of a conversation, by event id."""
    table = answer_corrections
    query = sa.select(table.c.event_id, table.c.corrected_to).where(table.c.conversation_id == conversation_id)
    return {row.event_id: row.corrected_to for row in connection.execute(query)}


def corrected_examples(connection: Connection) -> List[Tuple[str, str]]:
    """Every (text, topic) the therapist corrected, oldest first, for the training-data export."""
    table = answer_corrections
    query = sa.select(table.c.text, table.c.corrected_to).order_by(table.c.corrected_at, table.c.event_id)
    return [(row.text, row.corrected_to) for row in connection.execute(query)]
