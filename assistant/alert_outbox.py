"""The alert outbox: therapist alerts kept in the database until SMTP accepts them.

An alert is written here in the same turn that raises it, so a mail server that is
down (or an action server that restarts) loses nothing; `assistant.alert_worker`
then delivers it with backoff. A row is sent by one worker only: a worker claims
it with a conditional UPDATE, and only the worker whose UPDATE changed the row
sends it. A crash between SMTP accepting and the row being marked sent can send
that one email twice; nothing can make it vanish.

Times are epoch seconds, as in the review app's tables, so that SQLite and
PostgreSQL compare them the same way.
"""

import time
import weakref
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

PENDING, SENT = "pending", "sent"
FIRST_RETRY_SECONDS = 5.0
LONGEST_RETRY_SECONDS = 15 * 60.0
# A claim older than this belongs to a worker that died mid-send (SMTP times out in 10 s).
STALE_CLAIM_SECONDS = 5 * 60.0
# An alert is shown as undeliverable in the review app after this many failures or this long.
UNDELIVERABLE_ATTEMPTS = 3
UNDELIVERABLE_AFTER_SECONDS = 10 * 60.0
ERROR_TEXT_LIMIT = 500

metadata = sa.MetaData()

alert_outbox = sa.Table(
    "alert_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subject", sa.String(200), nullable=False),
    # A link to the conversation, never its words.
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("recipient", sa.String(320), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("status", sa.String(10), nullable=False, default=PENDING),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("claimed_by", sa.String(100)),
    sa.Column("claimed_at", sa.Float),
    sa.Column("sent_at", sa.Float),
    sa.Index("ix_alert_outbox_due", "status", "next_attempt_at"),
)


@dataclass(frozen=True)
class OutboxAlert:
    """One alert claimed for delivery."""

    id: int
    subject: str
    body: str
    recipient: str
    attempts: int


@dataclass(frozen=True)
class UndeliverableAlerts:
    """What the review app tells the therapist about alerts that keep failing."""

    count: int
    last_error: str | None


# Keyed by the engine itself, weakly: an id() is reused once a disposed engine is
# collected, and a new database must not be taken for one whose table exists.
_ready: "weakref.WeakSet[Engine]" = weakref.WeakSet()


def ensure_table(engine: Engine) -> None:
    """Creates the outbox table the first time this process uses an engine."""
    if engine not in _ready:
        metadata.create_all(engine)
        _ready.add(engine)


def enqueue_alert(engine: Engine, subject: str, body: str, recipient: str, now: float | None = None) -> int:
    """Stores an alert, due at once, and returns its id."""
    ensure_table(engine)
    moment = time.time() if now is None else now
    values = {
        "subject": subject,
        "body": body,
        "recipient": recipient,
        "created_at": moment,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": moment,
    }
    with engine.begin() as connection:
        result = connection.execute(sa.insert(alert_outbox).values(**values))
        return int(result.inserted_primary_key[0])


def claim_next_due(engine: Engine, worker_id: str, now: float | None = None) -> OutboxAlert | None:
    """Claims the oldest alert that is due, or returns None when none is.

    The UPDATE only changes a row that is still pending and unclaimed, so when two
    workers pick the same row only one of them gets it; the other tries the next.
    """
    ensure_table(engine)
    moment = time.time() if now is None else now
    _release_stale_claims(engine, moment)
    table = alert_outbox
    due = (
        sa.select(table)
        .where(table.c.status == PENDING, table.c.claimed_by.is_(None), table.c.next_attempt_at <= moment)
        .order_by(table.c.next_attempt_at, table.c.id)
        .limit(10)
    )
    with engine.connect() as connection:
        candidates = [dict(row._mapping) for row in connection.execute(due)]
    for row in candidates:
        claim = (
            sa.update(table)
            .where(table.c.id == row["id"], table.c.status == PENDING, table.c.claimed_by.is_(None))
            .values(claimed_by=worker_id, claimed_at=moment)
        )
        with engine.begin() as connection:
            if connection.execute(claim).rowcount == 1:
                return OutboxAlert(row["id"], row["subject"], row["body"], row["recipient"], row["attempts"])
    return None


def _release_stale_claims(engine: Engine, now: float) -> None:
    """Frees alerts claimed by a worker that died before it could record the outcome."""
    table = alert_outbox
    with engine.begin() as connection:
        connection.execute(
            sa.update(table)
            .where(
                table.c.status == PENDING,
                table.c.claimed_by.is_not(None),
                table.c.claimed_at < now - STALE_CLAIM_SECONDS,
            )
            .values(claimed_by=None, claimed_at=None)
        )


def mark_sent(engine: Engine, alert_id: int, now: float | None = None) -> None:
    """Records that SMTP accepted the alert; it is never sent again."""
    moment = time.time() if now is None else now
    with engine.begin() as connection:
        connection.execute(
            sa.update(alert_outbox)
            .where(alert_outbox.c.id == alert_id)
            .values(status=SENT, sent_at=moment, attempts=alert_outbox.c.attempts + 1, last_error=None)
        )


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failure: 5 s, doubling, at most 15 minutes."""
    return min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), LONGEST_RETRY_SECONDS)


def mark_failed(engine: Engine, alert: OutboxAlert, error: str, now: float | None = None) -> float:
    """Records a failed attempt, releases the claim and returns when to try again."""
    moment = time.time() if now is None else now
    attempts = alert.attempts + 1
    next_attempt = moment + retry_delay(attempts)
    with engine.begin() as connection:
        connection.execute(
            sa.update(alert_outbox)
            .where(alert_outbox.c.id == alert.id)
            .values(
                attempts=attempts,
                next_attempt_at=next_attempt,
                last_error=error[:ERROR_TEXT_LIMIT],
                claimed_by=None,
                claimed_at=None,
            )
        )
    return next_attempt


def seconds_until_next_due(engine: Engine, now: float | None = None) -> float | None:
    """How long until the next pending alert is due (0 when one is), None when none is pending."""
    ensure_table(engine)
    moment = time.time() if now is None else now
    query = sa.select(sa.func.min(alert_outbox.c.next_attempt_at)).where(alert_outbox.c.status == PENDING)
    with engine.connect() as connection:
        earliest = connection.execute(query).scalar()
    return None if earliest is None else max(float(earliest) - moment, 0.0)


def undeliverable_alerts(engine: Engine, now: float | None = None) -> UndeliverableAlerts:
    """Unsent alerts that failed several times or are old: the therapist must hear of them."""
    ensure_table(engine)
    moment = time.time() if now is None else now
    table = alert_outbox
    failing = sa.and_(
        table.c.status == PENDING,
        sa.or_(
            table.c.attempts >= UNDELIVERABLE_ATTEMPTS,
            table.c.created_at < moment - UNDELIVERABLE_AFTER_SECONDS,
        ),
    )
    with engine.connect() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(table).where(failing)).scalar() or 0
        last_error = connection.execute(
            sa.select(table.c.last_error)
            .where(failing, table.c.last_error.is_not(None))
            .order_by(table.c.id.desc())
            .limit(1)
        ).scalar()
    return UndeliverableAlerts(count=int(count), last_error=last_error)
