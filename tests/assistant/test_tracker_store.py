"""The conversation store never falls back to memory: a lock is waited out, a failure refused."""

import json
import os
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, List

import pytest
import requests
from rasa.core.agent import Agent
from rasa.core.tracker_store import InMemoryTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.utils.endpoints import EndpointConfig

from assistant import launch, service_environment, settings, tracker_store
from assistant.database import SQLITE_BUSY_TIMEOUT_SECONDS
from assistant.unstored_messages import NOT_STORED_REPLY
from tests.servers import RunningAssistant, free_port

STORE_TYPE = "assistant.tracker_store.DatabaseUrlTrackerStore"
LOCK_SECONDS = 10.0
VISITORS_DURING_THE_LOCK = 3


def _sqlite_path(database_url: str) -> str:
    return database_url.removeprefix("sqlite:///")


def _stored_user_texts(database_url: str, sender: str) -> List[str]:
    with sqlite3.connect(_sqlite_path(database_url)) as connection:
        rows = connection.execute(
            "SELECT data FROM events WHERE sender_id = ? AND type_name = 'user' ORDER BY id", (sender,)
        ).fetchall()
    return [json.loads(row[0])["text"] for row in rows] if rows else []


def _texts(replies: List[dict]) -> str:
    return "\n".join(reply.get("text", "") for reply in replies)


@pytest.fixture()
def store_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`DATABASE_URL` pointing at a fresh SQLite file for an in-process store."""
    url = f"sqlite:///{tmp_path / 'assistant.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    yield url


def test_the_sqlite_store_uses_wal_and_waits_out_a_lock(store_on: str) -> None:
    store = tracker_store.DatabaseUrlTrackerStore(domain=Domain.empty())
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        busy_ms = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
    assert busy_ms == int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000) > LOCK_SECONDS * 1000
    store.engine.dispose()


def _unreachable_database() -> str:
    """A PostgreSQL URL on a loopback port nobody listens on."""
    return f"postgresql://postgres@127.0.0.1:{free_port()}/assistant"


def test_a_database_that_cannot_be_opened_is_an_error_not_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", _unreachable_database())
    with pytest.raises(tracker_store.TrackerStoreUnavailable, match="can't be opened"):
        TrackerStore.create(EndpointConfig(type=STORE_TYPE))


def test_the_agent_refuses_to_keep_conversations_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rasa.core.agent.FailSafeTrackerStore", tracker_store.FailSafeTrackerStore)
    tracker_store.refuse_to_forget()
    with pytest.raises(tracker_store.TrackerStoreUnavailable, match="refusing to keep conversations in memory"):
        Agent(tracker_store=InMemoryTrackerStore(Domain.empty()))


def test_the_server_does_not_start_without_its_database(tmp_path: Path) -> None:
    env = {"DATABASE_URL": _unreachable_database(), "ACTIONS_PORT": str(free_port())}
    env.update(service_environment.endpoint_variables(env))
    service = launch.rasa_server(free_port())
    log = tmp_path / "rasa.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            service.command, cwd=settings.PROJECT_ROOT, stdout=output, stderr=subprocess.STDOUT,
            env=service_environment.for_service(service.name, {**os.environ, **env}),
        )
        try:
            code = process.wait(timeout=240)
        finally:
            if process.poll() is None:
                process.kill()
    assert code != 0
    assert "The conversation database can't be opened" in log.read_text()


def _hold_exclusive_lock(database_url: str, locked: threading.Event, seconds: float) -> None:
    connection = sqlite3.connect(_sqlite_path(database_url), timeout=30, isolation_level=None)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        locked.set()
        time.sleep(seconds)
        connection.execute("COMMIT")
    finally:
        connection.close()


def test_every_message_sent_while_the_database_is_locked_for_ten_seconds_is_stored(
    running_assistant: RunningAssistant,
) -> None:
    running_assistant.say(running_assistant.new_sender(), "hello")  # the servers are warm
    senders = [running_assistant.new_sender() for _ in range(VISITORS_DURING_THE_LOCK)]
    locked = threading.Event()
    holder = threading.Thread(
        target=_hold_exclusive_lock, args=(running_assistant.database_url, locked, LOCK_SECONDS)
    )
    holder.start()
    assert locked.wait(timeout=30)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=VISITORS_DURING_THE_LOCK) as pool:
        replies = list(pool.map(lambda sender: running_assistant.say(sender, "is ketamine safe?", timeout=120), senders))
    holder.join()
    waited = time.monotonic() - started

    assert waited >= LOCK_SECONDS - 1, "the messages were answered without waiting for the lock"
    for sender, reply in zip(senders, replies):
        assert "From the practice's writing" in _texts(reply)
        assert NOT_STORED_REPLY not in _texts(reply)
        assert _stored_user_texts(running_assistant.database_url, sender) == ["is ketamine safe?"]


@pytest.fixture()
def refusing_database(running_assistant: RunningAssistant) -> Iterator[str]:
    """A sender whose events the database refuses to store (a trigger that aborts the insert)."""
    sender = running_assistant.new_sender()
    with sqlite3.connect(_sqlite_path(running_assistant.database_url), timeout=30) as connection:
        connection.execute(
            f"CREATE TRIGGER refuse_{sender.replace('-', '_')} BEFORE INSERT ON events "
            f"WHEN NEW.sender_id = '{sender}' BEGIN SELECT RAISE(ABORT, 'disk refused the write'); END"
        )
    yield sender
    with sqlite3.connect(_sqlite_path(running_assistant.database_url), timeout=30) as connection:
        connection.execute(f"DROP TRIGGER IF EXISTS refuse_{sender.replace('-', '_')}")


def test_a_message_that_cannot_be_stored_is_refused_out_loud(
    running_assistant: RunningAssistant, refusing_database: str
) -> None:
    replies = running_assistant.say(refusing_database, "is ketamine safe?")
    assert replies[-1]["text"] == NOT_STORED_REPLY
    assert _stored_user_texts(running_assistant.database_url, refusing_database) == []


def test_a_crisis_message_that_cannot_be_stored_still_gets_the_crisis_resources(
    running_assistant: RunningAssistant, refusing_database: str
) -> None:
    replies = running_assistant.say(refusing_database, "I don't want to be alive anymore")
    assert "988" in replies[0]["text"] and "741741" in replies[0]["text"]
    assert replies[-1]["text"] == NOT_STORED_REPLY


def test_the_conversation_goes_on_once_the_database_accepts_it_again(
    running_assistant: RunningAssistant, refusing_database: str
) -> None:
    assert running_assistant.say(refusing_database, "hello")[-1]["text"] == NOT_STORED_REPLY
    with sqlite3.connect(_sqlite_path(running_assistant.database_url), timeout=30) as connection:
        connection.execute(f"DROP TRIGGER refuse_{refusing_database.replace('-', '_')}")
    replies = running_assistant.say(refusing_database, "hello")
    assert "automated assistant" in _texts(replies) and NOT_STORED_REPLY not in _texts(replies)
    assert _stored_user_texts(running_assistant.database_url, refusing_database) == ["hello"]
    assert requests.get(f"{running_assistant.rasa_url}/", timeout=10).ok
