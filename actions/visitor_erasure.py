"""Deleting a visitor's conversation at their own request, through the review app's deletion.

A call booked in this conversation (`booked_calls`) is cancelled in the
therapist's calendar first, by the action (its event holds the visitor's first
name and contact): if the calendar cannot be reached, nothing is deleted and the
visitor is asked to try again, so that a deletion the visitor is told about is
always complete.

The therapist's "Delete" (`review.privacy`) already knows every row kept about a
conversation: the tracker store's events, its summary and unanswered messages,
booking requests, review state and notes, corrections, and the alert emails
that link to it. The visitor's deletion is the same deletion; only the audit
entry differs. It records that a visitor deleted a conversation, with the
channel and how much went, but not the conversation's id: on Messenger that id
is the visitor's own Facebook id, which the practice must not keep once asked
to forget them.
"""

import logging
from typing import Any, Dict, List

from sqlalchemy.engine import Engine

from assistant.database import booking_requests_for
from review import audit
from review.privacy import DeletionReport, delete_conversation
from review.summaries import ensure_tables

logger = logging.getLogger(__name__)

CANCELLED = "cancelled"


def booked_calls(engine: Engine, conversation_id: str) -> List[Dict[str, Any]]:
    """The conversation's booking requests whose call is still in the therapist's calendar."""
    return [
        row
        for row in booking_requests_for(engine, conversation_id)
        if row.get("calendar_event_url") and row.get("calendar_status") != CANCELLED
    ]


def erase_conversation(engine: Engine, conversation_id: str, channel: str | None) -> DeletionReport:
    """Deletes everything stored about the conversation and records that it happened.

    The review app's tables are created first if it never ran on this database,
    so the deletion finds every table it expects. The audit entry is written
    after the deletion: a failure to write it is logged, never undoes or hides
    a deletion that happened.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database failed; nothing was deleted.
    """
    ensure_tables(engine)
    report = delete_conversation(engine, conversation_id)
    try:
        audit.record(
            engine,
            audit.DELETION,
            detail=f"by the visitor ({channel or 'unknown channel'}): "
            f"{report.events} events, {report.booking_requests} booking requests",
            actor=audit.VISITOR,
        )
    except Exception:  # noqa: BLE001 - the deletion stands; the log says the entry is missing
        logger.exception("A visitor's deletion happened but could not be written to the audit log.")
    return report
