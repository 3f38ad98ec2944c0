"""The same assistant stores conversations and bookings in PostgreSQL when DATABASE_URL says so."""

import json
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from assistant.database import booking_requests_for, engine_for
from tests.servers import (
    RunningAssistant,
    postgres_reachable,
    start_assistant,
    stop_assistant,
    temporary_postgres_database,
)


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    if not postgres_reachable():
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    with temporary_postgres_database("assistant_test") as url:
        yield url


@pytest.fixture(scope="module")
def assistant_on_postgres(tmp_path_factory, postgres_database: str) -> Iterator[RunningAssistant]:
    assistant = start_assistant(Path(tmp_path_factory.mktemp("pg")), postgres_database)
    yield assistant
    stop_assistant(assistant)


def test_a_booking_and_its_conversation_are_stored_in_postgresql(assistant_on_postgres: RunningAssistant) -> None:
    sender = assistant_on_postgres.new_sender()
    for message in ["book a call please", "Ana Silva", "+1 212 555 0143", "evenings", "/affirm", "/affirm"]:
        assistant_on_postgres.say(sender, message)
    engine = engine_for(assistant_on_postgres.database_url)
    rows = booking_requests_for(engine, sender)
    assert [(r["name"], r["contact_kind"]) for r in rows] == [("Ana Silva", "phone")]
    with engine.connect() as connection:
        events = connection.execute(
            sa.text("SELECT type_name, data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender}
        ).all()
    texts = [json.loads(data).get("text") for kind, data in events if kind == "user"]
    assert texts[:2] == ["book a call please", "Ana Silva"]
