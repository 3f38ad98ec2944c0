"""The alert outbox keeps each alert until it is sent, and lets one worker send it."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assistant import alert_outbox
from assistant.alert_outbox import (
    STALE_CLAIM_SECONDS,
    UNDELIVERABLE_AFTER_SECONDS,
    claim_next_due,
    enqueue_alert,
    mark_failed,
    mark_sent,
    retry_delay,
    seconds_until_next_due,
    undeliverable_alerts,
)
from assistant.database import dispose_engine, engine_for

T0 = 1_700_000_000.0


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh SQLite database file, as the practice's default."""
    url = f"sqlite:///{tmp_path / 'assistant.db'}"
    yield engine_for(url)
    dispose_engine(url)


def _row(engine: Engine, alert_id: int) -> dict:
    with engine.connect() as connection:
        return dict(connection.execute(sa.select(alert_outbox.alert_outbox).where(alert_outbox.alert_outbox.c.id == alert_id)).one()._mapping)


def test_an_alert_is_stored_pending_and_due_at_once(engine: Engine) -> None:
    alert_id = enqueue_alert(engine, "A conversation was flagged", "link", "therapist@example.com", now=T0)

    row = _row(engine, alert_id)
    assert (row["status"], row["attempts"], row["recipient"]) == ("pending", 0, "therapist@example.com")
    assert row["created_at"] == row["next_attempt_at"] == T0 and row["sent_at"] is None
    assert seconds_until_next_due(engine, now=T0) == 0.0


def test_only_one_of_many_workers_racing_claims_an_alert(engine: Engine) -> None:
    alert_id = enqueue_alert(engine, "subject", "link", "therapist@example.com", now=T0)

    with ThreadPoolExecutor(max_workers=8) as pool:
        claims = list(pool.map(lambda n: claim_next_due(engine, f"worker-{n}", now=T0), range(8)))

    winners = [claim for claim in claims if claim is not None]
    assert [claim.id for claim in winners] == [alert_id]
    assert claim_next_due(engine, "late-worker", now=T0) is None


def test_a_failed_alert_waits_longer_after_each_failure(engine: Engine) -> None:
    enqueue_alert(engine, "subject", "link", "therapist@example.com", now=T0)
    now, waits = T0, []
    for _ in range(4):
        alert = claim_next_due(engine, "worker", now=now)
        assert alert is not None
        retry_at = mark_failed(engine, alert, "ConnectionRefusedError: refused", now=now)
        assert claim_next_due(engine, "worker", now=retry_at - 0.1) is None
        waits.append(retry_at - now)
        now = retry_at

    assert waits == [5.0, 10.0, 20.0, 40.0]
    assert retry_delay(50) == alert_outbox.LONGEST_RETRY_SECONDS


def test_a_sent_alert_is_never_claimed_again(engine: Engine) -> None:
    alert_id = enqueue_alert(engine, "subject", "link", "therapist@example.com", now=T0)
    alert = claim_next_due(engine, "worker", now=T0)
    assert alert is not None

    mark_sent(engine, alert.id, now=T0 + 1)

    assert claim_next_due(engine, "worker", now=T0 + 10 * 24 * 3600) is None
    assert _row(engine, alert_id)["status"] == "sent" and _row(engine, alert_id)["sent_at"] == T0 + 1
    assert seconds_until_next_due(engine, now=T0) is None


def test_an_alert_claimed_by_a_worker_that_died_is_claimed_again_later(engine: Engine) -> None:
    enqueue_alert(engine, "subject", "link", "therapist@example.com", now=T0)
    assert claim_next_due(engine, "died-mid-send", now=T0) is not None

    assert claim_next_due(engine, "other", now=T0 + 60) is None
    assert claim_next_due(engine, "other", now=T0 + STALE_CLAIM_SECONDS + 1) is not None


def test_alerts_are_undeliverable_after_three_failures_or_ten_minutes(engine: Engine) -> None:
    failing_id = enqueue_alert(engine, "failing", "link", "therapist@example.com", now=T0)
    enqueue_alert(engine, "new", "link", "therapist@example.com", now=T0 + 100)
    now = T0
    for attempt in range(1, 4):
        alert = claim_next_due(engine, "worker", now=now)
        assert alert is not None and alert.id == failing_id
        assert undeliverable_alerts(engine, now=now).count == 0
        now = mark_failed(engine, alert, f"ConnectionRefusedError: attempt {attempt}", now=now)

    assert now < T0 + UNDELIVERABLE_AFTER_SECONDS
    found = undeliverable_alerts(engine, now=now)
    assert (found.count, found.last_error) == (1, "ConnectionRefusedError: attempt 3")
    assert undeliverable_alerts(engine, now=T0 + 100 + UNDELIVERABLE_AFTER_SECONDS + 1).count == 2
