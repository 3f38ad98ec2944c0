"""The alert worker emails each alert once, retrying while the mail server is away."""

import asyncio
import time
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assistant.alert_outbox import alert_outbox as outbox_table
from assistant.alert_outbox import enqueue_alert
from assistant.alert_worker import SMTP_OFF_ERROR, AlertWorker, running_worker, stop_alert_worker
from assistant.database import dispose_engine, engine_for
from assistant.settings import SmtpSettings
from tests.review.mail import start_mail_server
from tests.servers import free_port

T0 = 1_700_000_000.0
THERAPIST = "therapist@example.com"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh SQLite database file."""
    url = f"sqlite:///{tmp_path / 'assistant.db'}"
    yield engine_for(url)
    dispose_engine(url)


@pytest.fixture
def mail_server() -> Iterator[tuple]:
    """A recording SMTP server on loopback: (recorder, port)."""
    controller, recorder, port = start_mail_server()
    yield recorder, port
    controller.stop()


def smtp_on(port: int) -> SmtpSettings:
    """Settings for a plain SMTP server on loopback."""
    return SmtpSettings("127.0.0.1", port, None, None, "assistant@example.com", THERAPIST, False)


def _rows(engine: Engine) -> list:
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(sa.select(outbox_table).order_by(outbox_table.c.id))]


async def test_an_alert_is_retried_until_the_mail_server_accepts_it_and_then_sent_once(engine: Engine) -> None:
    port = free_port()
    worker = AlertWorker(engine, smtp_settings=lambda: smtp_on(port))
    enqueue_alert(engine, "A conversation was flagged: possible crisis", "link only", THERAPIST, now=T0)

    assert await worker.deliver_due(now=T0) == 0
    [failed] = _rows(engine)
    assert failed["attempts"] == 1 and "ConnectionRefusedError" in failed["last_error"]

    controller, recorder, _ = start_mail_server(port)
    try:
        assert await worker.deliver_due(now=T0 + 1) == 0  # not due yet: backoff
        assert await worker.deliver_due(now=T0 + 5) == 1
        assert await worker.deliver_due(now=T0 + 3600) == 0
        [email] = recorder.received()
    finally:
        controller.stop()
    assert email["To"] == THERAPIST and email["Subject"] == "A conversation was flagged: possible crisis"
    assert email.get_content().strip() == "link only"
    [sent] = _rows(engine)
    assert (sent["status"], sent["attempts"], sent["sent_at"], sent["last_error"]) == ("sent", 2, T0 + 5, None)


async def test_two_workers_draining_the_same_outbox_send_each_alert_once(engine: Engine, mail_server: tuple) -> None:
    recorder, port = mail_server
    for number in range(6):
        enqueue_alert(engine, f"alert {number}", "link", THERAPIST, now=T0)
    workers = [AlertWorker(engine, smtp_settings=lambda: smtp_on(port)) for _ in range(2)]

    sent = await asyncio.gather(*(worker.deliver_due(now=T0) for worker in workers))

    assert sum(sent) == 6
    assert sorted(email["Subject"] for email in recorder.received()) == [f"alert {n}" for n in range(6)]


async def test_without_smtp_settings_the_alert_waits_in_the_outbox_and_says_why(engine: Engine) -> None:
    enqueue_alert(engine, "subject", "link", THERAPIST, now=T0)

    assert await AlertWorker(engine, smtp_settings=lambda: None).deliver_due(now=T0) == 0

    [row] = _rows(engine)
    assert row["status"] == "pending" and SMTP_OFF_ERROR in row["last_error"]


async def test_the_running_worker_emails_a_new_alert_as_soon_as_it_is_woken(engine: Engine, mail_server: tuple) -> None:
    recorder, port = mail_server
    worker = running_worker(engine)
    worker.smtp_settings = lambda: smtp_on(port)
    try:
        await asyncio.sleep(0.2)  # let it find the outbox empty and go to sleep (30 s poll)
        started = time.monotonic()
        enqueue_alert(engine, "woken", "link", THERAPIST)
        worker.wake()
        while not recorder.received() and time.monotonic() - started < 20:
            await asyncio.sleep(0.05)
    finally:
        await stop_alert_worker(None, None)  # type: ignore[arg-type]
    assert [email["Subject"] for email in recorder.received()] == ["woken"]
    assert time.monotonic() - started < 20
