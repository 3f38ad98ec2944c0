"""Fixtures of the review app's tests: real conversations, real servers, a real database.

The database is filled only by talking to the running assistant; nothing is
inserted by hand. Tests that delete something first make their own conversation.
"""

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List

import pika
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assistant.database import booking_requests, engine_for
from assistant.settings import EventBrokerSettings
from review.summaries import ensure_tables, refresh_summaries
from tests.review.mail import MailRecorder, start_mail_server
from tests.review.servers import (
    ReviewClient,
    RunningReviewApp,
    signed_in_client,
    start_review_app,
    stop_review_app,
)
from tests.servers import (
    RunningAssistant,
    postgres_reachable,
    start_assistant,
    stop_assistant,
    temporary_postgres_database,
)

PASSWORD = "a long test password 4 the review"
BOOKING_SCRIPT = ("I'd like to book the free call", "Jordan Lee", "jordan@example.com", "weekday mornings", "/affirm", "/affirm")
SCRIPTS: Dict[str, tuple] = {
    "greeting": ("hello",),
    "faq": ("is ketamine safe?",),
    "crisis": ("I want to kill myself",),
    "fallback": ("blorf zzz",),
    "fallback_again": ("blorf zzzz",),
    "medical": ("can I take it with my sertraline?",),
    "booking": BOOKING_SCRIPT,
    "markup": ("<script>alert(1)</script> <img src=x onerror=alert(2)>",),
    "spreadsheet": ('=HYPERLINK("http://example.com","click")',),
}


@dataclass(frozen=True)
class Conversations:
    """The ids of the conversations held with the assistant for these tests."""

    ids: Dict[str, str]

    def __getattr__(self, name: str) -> str:
        try:
            return self.ids[name]
        except KeyError as error:
            raise AttributeError(name) from error

    def all(self) -> List[str]:
        return list(self.ids.values())


def hold_conversation(assistant: RunningAssistant, sender: str, messages: tuple) -> str:
    """Says each message in turn over REST; returns the conversation id."""
    for message in messages:
        assistant.say(sender, message)
    return sender


@pytest.fixture(scope="session")
def conversations(running_assistant: RunningAssistant) -> Conversations:
    """One conversation for each thing the review shows, held through the real Rasa server."""
    prefix = f"review-{uuid.uuid4().hex[:6]}"
    ids = {name: hold_conversation(running_assistant, f"{prefix}-{name}", script) for name, script in SCRIPTS.items()}
    return Conversations(ids)


@pytest.fixture
def new_conversation(running_assistant: RunningAssistant) -> Callable[..., str]:
    """Holds a new conversation for a test that changes or deletes it."""

    def hold(*messages: str) -> str:
        return hold_conversation(running_assistant, f"review-{uuid.uuid4().hex[:10]}", messages)

    return hold


@pytest.fixture(scope="session")
def database(running_assistant: RunningAssistant, conversations: Conversations) -> Engine:
    """The assistant's database, with the review app's tables and current summaries."""
    engine = engine_for(running_assistant.database_url)
    ensure_tables(engine)
    refresh_summaries(engine)
    return engine


def booking_request_of(engine: Engine, conversation_id: str) -> Dict:
    query = sa.select(booking_requests).where(booking_requests.c.conversation_id == conversation_id)
    with engine.connect() as connection:
        return dict(connection.execute(query).one()._mapping)


@pytest.fixture(scope="session")
def review_app(running_assistant: RunningAssistant, conversations: Conversations) -> Iterator[RunningReviewApp]:
    """The review app as `make run` starts it, on the assistant's database."""
    app = start_review_app(running_assistant.database_url, PASSWORD)
    yield app
    stop_review_app(app)


@pytest.fixture(scope="session")
def empty_review_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningReviewApp]:
    """A review app on a fresh database, for tests of the app itself that need no conversation."""
    app = start_review_app(f"sqlite:///{tmp_path_factory.mktemp('empty') / 'review.db'}", PASSWORD)
    yield app
    stop_review_app(app)


@pytest.fixture
def therapist(review_app: RunningReviewApp) -> ReviewClient:
    """A client signed in as the therapist."""
    return signed_in_client(review_app)


@pytest.fixture
def stranger(review_app: RunningReviewApp) -> ReviewClient:
    """A client that has not signed in."""
    return ReviewClient(review_app.url)


@pytest.fixture(scope="session")
def second_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh PostgreSQL database when a server runs on loopback, else an SQLite file.

    Starting Rasa costs most of a minute, so the one extra assistant these tests
    need (with SMTP) is also the one that proves the review app on PostgreSQL.
    """
    if not postgres_reachable():
        yield f"sqlite:///{tmp_path_factory.mktemp('db2') / 'assistant.db'}"
        return
    with temporary_postgres_database("review_test") as url:
        yield url


@pytest.fixture(scope="session")
def mail_server() -> Iterator[tuple]:
    """A recording SMTP server on loopback: (recorder, port)."""
    controller, recorder, port = start_mail_server()
    yield recorder, port
    controller.stop()


@pytest.fixture(scope="session")
def second_review_app(second_database: str) -> Iterator[RunningReviewApp]:
    """A review app on the second database (started first: alerts link to it)."""
    app = start_review_app(second_database, PASSWORD)
    yield app
    stop_review_app(app)


@pytest.fixture(scope="session")
def alerting_assistant(
    tmp_path_factory: pytest.TempPathFactory,
    second_database: str,
    second_review_app: RunningReviewApp,
    mail_server: tuple,
) -> Iterator[RunningAssistant]:
    """An assistant that emails the therapist through the recording SMTP server."""
    _, port = mail_server
    assistant = start_assistant(
        Path(tmp_path_factory.mktemp("alerting")),
        second_database,
        extra_env={
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(port),
            "SMTP_STARTTLS": "false",
            "THERAPIST_EMAIL": "therapist@example.com",
            "SMTP_FROM": "assistant@example.com",
            "REVIEW_BASE_URL": second_review_app.url,
        },
    )
    yield assistant
    stop_assistant(assistant)


@pytest.fixture(scope="session")
def mail_recorder(mail_server: tuple) -> MailRecorder:
    return mail_server[0]


@pytest.fixture
def broker() -> Iterator[EventBrokerSettings]:
    """RabbitMQ on loopback with this test's own exchange and queue, deleted afterwards."""
    suffix = uuid.uuid4().hex[:8]
    settings = EventBrokerSettings(
        host="127.0.0.1", port=5672, username="guest", password="guest",
        queue=f"review_events_test_{suffix}", exchange=f"rasa-exchange-test-{suffix}",
    )
    yield settings
    connection = pika.BlockingConnection(pika.ConnectionParameters(settings.host, settings.port))
    channel = connection.channel()
    channel.queue_delete(settings.queue)
    channel.exchange_delete(settings.exchange)
    connection.close()
