"""The audit log: who signed in, looked at, exported, changed or deleted what, and when.

A health practice's auditor asks first who viewed a conversation and who deleted
it. Every such action is one row of `audit_log` (see `review.tables`): the time,
who acted (the therapist, the visitor, the command line, or nobody signed in),
the client's address (behind the practice's proxy, the address the trusted proxy
saw, as `review.proxy` decides), the action and what it touched: a conversation
id, an export's name, never a message's text. The log is not part of any
conversation, so neither a deletion nor the retention purge removes it.

Callers pass only identifiers in `target` and `detail`; both are cut to the
column's length and cleaned of control characters, so a hostile conversation id
cannot forge a line in the CSV or the page.

    from review import audit
    audit.record(engine, audit.TRANSCRIPT_VIEW, conversation_id, address)
    await audit.record_request(request, audit.EXPORT, "conversation_abc.json")
"""

import asyncio
import csv
import io
import re
import time
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, List, Sequence

import sqlalchemy as sa
from sanic import Request
from sqlalchemy.engine import Connection, Engine

from review.proxy import client_address
from review.tables import audit_log

# The actions, as stored. A new audited action gets a constant here and a label below.
SIGN_IN = "sign_in"
SIGN_IN_FAILED = "sign_in_failed"
SIGN_OUT = "sign_out"
TRANSCRIPT_VIEW = "transcript_view"
EXPORT = "export"
DELETION = "deletion"
PURGE = "purge"
CORRECTION = "correction"
PASSWORD_CHANGE = "password_change"
SIGN_IN_UNLOCK = "sign_in_unlock"
STATE_CHANGE = "state_change"
NOTE_EDIT = "note_edit"

ACTION_LABELS: Dict[str, str] = {
    SIGN_IN: "Signed in",
    SIGN_IN_FAILED: "Sign-in failed",
    SIGN_OUT: "Signed out",
    TRANSCRIPT_VIEW: "Viewed transcript",
    EXPORT: "Exported",
    DELETION: "Deleted conversation",
    PURGE: "Purged expired conversations",
    CORRECTION: "Corrected an answer",
    PASSWORD_CHANGE: "Changed password",
    SIGN_IN_UNLOCK: "Reopened sign-in",
    STATE_CHANGE: "Changed review state",
    NOTE_EDIT: "Edited note",
}
ACTIONS = tuple(ACTION_LABELS)

# Who acted.
THERAPIST = "therapist"
VISITOR = "visitor"
COMMAND_LINE = "command line"
NOBODY = "not signed in"

# The address recorded for what the command line or the assistant itself does.
LOCAL = "local"
# What an export of every conversation touched.
ALL_CONVERSATIONS = "all conversations"

FIELD_LIMIT = 255
PAGE_SIZE = 50
CSV_COLUMNS = ("time_utc", "actor", "address", "action", "target", "detail")
CSV_BATCH = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# A cell starting with one of these is a formula to a spreadsheet program.
FORMULA_PREFIXES = ("=", "+", "-", "@")

_ensured: "weakref.WeakSet[Engine]" = weakref.WeakSet()


@dataclass(frozen=True)
class AuditPage:
    """One page of the log, newest first; `older` is the cursor of the next page (None: last page)."""

    rows: List[Dict[str, Any]]
    older: int | None


def ensure_table(engine: Engine) -> None:
    """Creates `audit_log` if missing (the app creates it on start; the action server may not have)."""
    if engine in _ensured:
        return
    audit_log.create(engine, checkfirst=True)
    _ensured.add(engine)


def clean(value: str) -> str:
    """An identifier fit for one cell: control characters folded to a space, cut to the column."""
    return _CONTROL.sub(" ", str(value or "")).strip()[:FIELD_LIMIT]


def record(
    engine: Engine,
    action: str,
    target: str = "",
    address: str = LOCAL,
    detail: str = "",
    actor: str = THERAPIST,
    at: float | None = None,
) -> None:
    """Writes one entry, in its own transaction, so it stays even if the caller's work fails later.

    Raises:
        ValueError: the action is not one of `ACTIONS` (a typo would hide entries from the auditor).
    """
    if action not in ACTION_LABELS:
        raise ValueError(f"Unknown audit action {action!r}; use one of review.audit.ACTIONS.")
    ensure_table(engine)
    with engine.begin() as connection:
        connection.execute(
            sa.insert(audit_log).values(
                at=time.time() if at is None else at,
                actor=clean(actor),
                address=clean(address) or LOCAL,
                action=action,
                target=clean(target),
                detail=clean(detail),
            )
        )


def request_address(request: Request) -> str:
    """The client's address, through the trusted proxy when the app is configured with one."""
    return client_address(request, request.app.ctx.config.trusted_proxy_header)


def request_actor(request: Request) -> str:
    """The therapist when the request's session is signed in, else nobody."""
    session = getattr(request.ctx, "session", None)
    return THERAPIST if session is not None and session.signed_in else NOBODY


async def record_request(request: Request, action: str, target: str = "", detail: str = "") -> None:
    """Records an action of a request to the review app (runs the insert in a worker thread)."""
    await asyncio.to_thread(
        record, request.app.ctx.engine, action, target, request_address(request), detail, request_actor(request)
    )


def purge_target(retention_days: int) -> str:
    """What a purge touched: the conversations past the retention period."""
    return f"conversations older than {retention_days} days"


def deletion_detail(report: Any) -> str:
    """What a deletion or purge removed (a `review.privacy.DeletionReport`), in numbers only."""
    return (
        f"{report.conversations} conversation(s), {report.events} event(s), "
        f"{report.booking_requests} booking request(s)"
    )


def count_entries(connection: Connection) -> int:
    """How many entries the log holds."""
    return int(connection.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar() or 0)


def audit_page(connection: Connection, older_than: int | None = None, limit: int = PAGE_SIZE) -> AuditPage:
    """Newest entries first, `limit` at a time, continuing below the id `older_than`."""
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit + 1)
    if older_than is not None:
        query = query.where(audit_log.c.id < older_than)
    rows = [dict(row._mapping) for row in connection.execute(query)]
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(rows, rows[-1]["id"] if more and rows else None)


def entries(connection: Connection, action: str | None = None) -> List[Dict[str, Any]]:
    """Every entry, oldest first, optionally of one action (for the command line and tests)."""
    query = sa.select(audit_log).order_by(audit_log.c.id)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    return [dict(row._mapping) for row in connection.execute(query)]


def csv_chunks(engine: Engine) -> Iterator[str]:
    """The whole log as CSV text, oldest first, read in batches so it is never all in memory."""
    yield _csv_line(CSV_COLUMNS)
    after = 0
    while True:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(audit_log).where(audit_log.c.id > after).order_by(audit_log.c.id).limit(CSV_BATCH)
            ).all()
        if not rows:
            return
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in rows:
            writer.writerow(
                [
                    datetime.fromtimestamp(row.at, tz=timezone.utc).isoformat(),
                    _cell(row.actor),
                    _cell(row.address),
                    row.action,
                    _cell(row.target),
                    _cell(row.detail),
                ]
            )
        yield buffer.getvalue()
        after = rows[-1].id


def _csv_line(values: Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


def _cell(text: str) -> str:
    """Defused so that a spreadsheet shows it instead of computing it."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text
