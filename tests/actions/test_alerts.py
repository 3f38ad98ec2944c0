"""No alert is lost to a mail server that is down: the outbox keeps it until SMTP takes it.

The real action server and Rasa server run on loopback with their own database and
an SMTP address where nothing listens yet; a crisis message over REST raises the
alert, a recording SMTP server is started later, and the review app shows the
alerts that keep failing.
"""

from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import sqlalchemy as sa

from assistant.alert_outbox import UNDELIVERABLE_ATTEMPTS, alert_outbox
from assistant.database import engine_for
from tests.review.mail import MailRecorder, start_mail_server
from tests.review.servers import RunningReviewApp, signed_in_client, start_review_app, stop_review_app, wait_for
from tests.servers import RunningAssistant, free_port, start_assistant, stop_assistant

PASSWORD = "a long test password for the outbox"
CRISIS = "I want to kill myself"
# The worker retries after 5 s, then 10 s; generous bounds for a loaded 2-core machine.
RETRY_TIMEOUT_SECONDS = 90.0


@pytest.fixture(scope="module")
def smtp_port() -> int:
    """Where the therapist's mail server will listen, once it is started."""
    return free_port()


@pytest.fixture(scope="module")
def outbox_assistant(tmp_path_factory: pytest.TempPathFactory, smtp_port: int) -> Iterator[RunningAssistant]:
    """The assistant, emailing alerts through an SMTP server that is down at first."""
    workdir = Path(tmp_path_factory.mktemp("outbox"))
    assistant = start_assistant(
        workdir,
        f"sqlite:///{workdir / 'assistant.db'}",
        extra_env={
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "SMTP_STARTTLS": "false",
            "THERAPIST_EMAIL": "therapist@example.com",
            "SMTP_FROM": "assistant@example.com",
        },
    )
    yield assistant
    stop_assistant(assistant)


@pytest.fixture(scope="module")
def outbox_review_app(outbox_assistant: RunningAssistant) -> Iterator[RunningReviewApp]:
    """The review app on the assistant's database."""
    app = start_review_app(outbox_assistant.database_url, PASSWORD)
    yield app
    stop_review_app(app)


def _alerts(database_url: str) -> List[Dict[str, Any]]:
    with engine_for(database_url).connect() as connection:
        rows = connection.execute(sa.select(alert_outbox).order_by(alert_outbox.c.id))
        return [dict(row._mapping) for row in rows]


def _raise_crisis_alert(assistant: RunningAssistant) -> Dict[str, Any]:
    """A visitor in crisis writes over REST; returns the alert written in that turn."""
    before = {alert["id"] for alert in _alerts(assistant.database_url)}
    assistant.say(assistant.new_sender(), CRISIS)
    [alert] = [alert for alert in _alerts(assistant.database_url) if alert["id"] not in before]
    return alert


def _alert(database_url: str, alert_id: int) -> Dict[str, Any]:
    return next(alert for alert in _alerts(database_url) if alert["id"] == alert_id)


def _sent(database_url: str, alert_id: int) -> Dict[str, Any] | None:
    """The alert once the worker has recorded it as sent, else None."""
    alert = _alert(database_url, alert_id)
    return alert if alert["status"] == "sent" else None


def _emails_with_body(recorder: MailRecorder, body: str) -> list:
    """The recorded emails whose text is `body` (line endings as SMTP carried them)."""
    return [email for email in recorder.received() if _lines(email.get_content()) == _lines(body)]


def _lines(text: str) -> List[str]:
    return [line.rstrip() for line in text.strip().splitlines()]


def test_an_alert_raised_while_the_mail_server_is_down_is_emailed_exactly_once_when_it_is_back(
    outbox_assistant: RunningAssistant, smtp_port: int
) -> None:
    database = outbox_assistant.database_url
    alert = _raise_crisis_alert(outbox_assistant)
    assert alert["status"] == "pending" and alert["recipient"] == "therapist@example.com"
    assert "crisis" in alert["subject"] and "kill" not in alert["body"] + alert["subject"]

    failed = wait_for(lambda: _alert(database, alert["id"])["last_error"], timeout=RETRY_TIMEOUT_SECONDS)
    assert "ConnectionRefusedError" in failed

    controller, recorder, _ = start_mail_server(smtp_port)
    try:
        wait_for(lambda: _emails_with_body(recorder, alert["body"]), timeout=RETRY_TIMEOUT_SECONDS)
        later = _raise_crisis_alert(outbox_assistant)  # the worker is idle again once this one is sent
        wait_for(lambda: _emails_with_body(recorder, later["body"]), timeout=RETRY_TIMEOUT_SECONDS)
        [email] = _emails_with_body(recorder, alert["body"])
    finally:
        controller.stop()
    assert email["To"] == "therapist@example.com" and email["Subject"] == alert["subject"]
    # SMTP hands the email over before the worker records it as sent: wait for the record.
    sent = wait_for(lambda: _sent(database, alert["id"]), timeout=RETRY_TIMEOUT_SECONDS)
    assert sent["attempts"] >= 2 and sent["sent_at"] is not None
    assert wait_for(lambda: _sent(database, later["id"]), timeout=RETRY_TIMEOUT_SECONDS)["attempts"] == 1


def test_an_alert_that_keeps_failing_is_shown_to_the_therapist_in_the_review_app(
    outbox_assistant: RunningAssistant, outbox_review_app: RunningReviewApp
) -> None:
    therapist = signed_in_client(outbox_review_app)
    assert "could not be emailed" not in therapist.get("/conversations").text

    alert = _raise_crisis_alert(outbox_assistant)
    wait_for(
        lambda: _alert(outbox_assistant.database_url, alert["id"])["attempts"] >= UNDELIVERABLE_ATTEMPTS,
        timeout=RETRY_TIMEOUT_SECONDS,
    )

    page = therapist.get("/conversations")
    assert page.status_code == 200
    assert "1 alert could not be emailed: last error ConnectionRefusedError" in page.text
