"""Exports of conversations as JSON (everything stored) and CSV (the messages).

JSON is for a visitor's request to see their data, or for moving it: every stored
event as Rasa wrote it, plus the booking requests. CSV is for reading in a
spreadsheet: one row a message. Both are produced in batches and streamed, so
exporting 100,000 conversations never holds them all in memory.

The therapist's review state and private note go into her JSON exports
(`with_review=True`) and into no other: a copy made for a visitor leaves them out
unless asked.
"""

import csv
import io
import json
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from typing import Any, Dict, Iterable, Iterator, List, Sequence

from sqlalchemy.engine import Engine

from review.queries import (
    StoredEvent,
    booking_requests_of,
    conversation_ids_after,
    events_of,
)
from review.review_state import Review, reviews_of
from review.tables import conversation_summaries
from review.transcript import ASSISTANT, VISITOR, build_transcript

EXPORT_BATCH = 200
CSV_COLUMNS = (
    "conversation_id",
    "time_utc",
    "speaker",
    "text",
    "intent",
    "confidence",
    "channel",
    "buttons_offered",
    "button_pressed",
)
# A cell starting with one of these is a formula to a spreadsheet program.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ConversationRecord:
    """Everything stored about one conversation."""

    conversation_id: str
    summary: Dict[str, Any] | None
    events: List[StoredEvent]
    booking_requests: List[Dict[str, Any]]
    # The therapist's state and note; None when the export is not hers.
    review: Review | None = None


def iter_records(
    engine: Engine, conversation_ids: Sequence[str] | None = None, with_review: bool = False
) -> Iterator[ConversationRecord]:
    """The records of the given conversations, or of all of them in id order (with the therapist's review if asked)."""
    batches = _given(conversation_ids) if conversation_ids is not None else _all_ids(engine)
    for batch in batches:
        with engine.connect() as connection:
            events = events_of(connection, batch)
            bookings = booking_requests_of(connection, batch)
            summaries = _summaries_of(connection, batch)
            reviews = reviews_of(connection, batch) if with_review else {}
        for conversation_id in batch:
            yield ConversationRecord(
                conversation_id,
                summaries.get(conversation_id),
                events[conversation_id],
                bookings[conversation_id],
                reviews.get(conversation_id, Review()) if with_review else None,
            )


def _given(conversation_ids: Sequence[str]) -> Iterator[List[str]]:
    ids = list(conversation_ids)
    for start in range(0, len(ids), EXPORT_BATCH):
        yield ids[start : start + EXPORT_BATCH]


def _all_ids(engine: Engine) -> Iterator[List[str]]:
    after: str | None = None
    while True:
        with engine.connect() as connection:
            batch = conversation_ids_after(connection, after, EXPORT_BATCH)
        if not batch:
            return
        yield batch
        after = batch[-1]


def _summaries_of(connection: Any, ids: Sequence[str]) -> Dict[str, Dict[str, Any]]:
    table = conversation_summaries
    query = table.select().where(table.c.conversation_id.in_(list(ids)))
    return {row.conversation_id: dict(row._mapping) for row in connection.execute(query)}


def record_as_json(record: ConversationRecord) -> Dict[str, Any]:
    """A record as JSON-ready data: the summary, every event, the booking requests."""
    summary = dict(record.summary or {})
    summary.pop("visitor_text", None)
    for key in ("started_at", "last_at"):
        if key in summary:
            summary[key] = _utc(summary[key])
    exported = {
        "conversation_id": record.conversation_id,
        "summary": summary or None,
        "events": [event.data for event in record.events],
        "booking_requests": record.booking_requests,
    }
    if record.review is not None:
        exported["review"] = asdict(record.review)
    return exported


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat()


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_chunks(records: Iterable[ConversationRecord], single: bool = False) -> Iterator[str]:
    """JSON text in pieces: one object when `single`, else an array of objects."""
    if single:
        for record in records:
            yield json.dumps(record_as_json(record), default=_default, ensure_ascii=False, indent=2)
        return
    yield "["
    for index, record in enumerate(records):
        yield ("," if index else "") + "\n" + json.dumps(record_as_json(record), default=_default, ensure_ascii=False)
    yield "\n]\n"


def csv_chunks(records: Iterable[ConversationRecord]) -> Iterator[str]:
    """CSV text in pieces: a header, then one row a message."""
    yield _csv_line(CSV_COLUMNS)
    for record in records:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for entry in build_transcript(record.events):
            if entry.kind not in (VISITOR, ASSISTANT):
                continue
            writer.writerow(
                [
                    _cell(record.conversation_id),
                    _utc(entry.timestamp),
                    entry.kind,
                    _cell(entry.text),
                    entry.intent or "",
                    "" if entry.confidence is None else f"{entry.confidence:.3f}",
                    _cell(entry.channel or ""),
                    _cell(" | ".join(button.title for button in entry.buttons)),
                    _cell(entry.pressed or ""),
                ]
            )
        yield buffer.getvalue()


def _csv_line(values: Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


def _cell(text: str) -> str:
    """Visitor text, defused so that a spreadsheet shows it instead of computing it."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text
